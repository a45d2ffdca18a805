"""`python -m tapecli`: the same command line as the `tapecli` script."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="python -m tapecli")
