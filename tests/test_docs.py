"""The documentation: the README and the MkDocs site under docs/.

Every example in them runs here, read by Sybil:

- a ```console block is a terminal session: each `$ COMMAND` line runs in bash, in a fresh
  directory (so a block makes the files it reads, as a user would), with this
  environment's `tapecli` and `python` first on PATH, and what it prints (stdout and
  stderr, as a terminal shows them) must be exactly the lines that follow, up to the next
  `$` line (trailing spaces aside);
- a ```python block runs as a script on its own (its own imports, a fresh namespace), and
  a line `print(...)  # TEXT` in it must print TEXT.

The site is built as a user would build it, with every warning an error (a broken link
or anchor, a page missing from the navigation, a docstring mkdocstrings cannot read).
The pages are for users: they name no file outside the repository and nothing of the
machine or the session they were written in.
"""

import contextlib
import difflib
import io
import os
import re
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import pytest
from sybil import Sybil
from sybil.parsers.markdown import CodeBlockParser

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [ROOT / "README.md", *PAGES]
COMMAND_SECONDS = 120


def _environment() -> dict:
    """The user's environment, with this interpreter's scripts (tapecli, python) first and
    a terminal 80 columns wide unless a command says otherwise."""
    environment = dict(os.environ, COLUMNS="80", LINES="24")
    environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                           environment.get("PATH", "")])
    return environment


def _session(block: str) -> list[tuple[str, list[str]]]:
    """A console block as (command, the lines it prints) pairs."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line.rstrip())
        elif line.strip():
            raise ValueError(f"a console block must start with a `$ ` line, not {line!r}")
    return steps


def _printed(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run_console(example) -> str | None:
    """Sybil's evaluator for a console block: None if every command printed what the
    block shows, else a diff of the first that did not."""
    environment = _environment()
    with tempfile.TemporaryDirectory() as directory:
        for command, shown in _session(example.parsed):
            done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=directory,
                                  env=environment, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=COMMAND_SECONDS, check=False)
            printed, expected = _printed(done.stdout), _printed("\n".join(shown))
            if printed != expected:
                diff = "\n".join(difflib.unified_diff(expected, printed, "shown", "printed",
                                                      lineterm=""))
                return f"$ {command}\n(exit status {done.returncode})\n{diff}"
    return None


PRINT_WITH_COMMENT = re.compile(r"^print\(.*\)\s+# (.*)$")


def run_python(example) -> str | None:
    """Sybil's evaluator for a Python block: the block alone, as a script, in a fresh
    directory. A line `print(...)  # TEXT` must print TEXT."""
    code = compile(example.parsed, f"{example.path}:{example.line}", "exec")
    shown = [match[1].rstrip() for line in example.parsed.splitlines()
             if (match := PRINT_WITH_COMMENT.match(line))]
    output = io.StringIO()
    with tempfile.TemporaryDirectory() as directory:
        before = os.getcwd()
        os.chdir(directory)
        try:
            with contextlib.redirect_stdout(output):
                exec(code, {"__name__": "__main__"})  # the documentation's own code
        finally:
            os.chdir(before)
    printed = _printed(output.getvalue())
    if printed != shown:
        return "\n".join(difflib.unified_diff(shown, printed, "shown", "printed", lineterm=""))
    return None


EXAMPLES = Sybil(parsers=[CodeBlockParser("console", run_console),
                          CodeBlockParser("python", run_python)])


def _examples():
    for document in DOCUMENTS:
        for example in EXAMPLES.parse(document):
            yield pytest.param(example, id=f"{document.name}:{example.line}")


FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_a_session_at_a_prompt_is_in_a_console_block(document):
    """A `$ ` line outside a console block would be an example that nothing checks."""
    for language, body in FENCE.findall(document.read_text()):
        if language != "console":
            assert not re.search(r"^\$ ", body, re.MULTILINE), (document.name, body[:80])


def test_the_pages_have_their_examples():
    count = {}
    for document in DOCUMENTS:
        for example in EXAMPLES.parse(document):
            count[document.name] = count.get(document.name, 0) + 1
    assert count["README.md"] >= 9
    assert {"index.md", "language.md", "cli.md", "formulas.md", "plots.md", "batches.md",
            "python.md", "taylor.md"} <= set(count)


@pytest.mark.parametrize("example", list(_examples()))
def test_an_example_prints_what_the_page_shows(example):
    example.evaluate()


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    api = (tmp_path / "site" / "python" / "index.html").read_text()
    # The API reference is generated from the docstrings.
    assert 'id="tapecli.expression.Expression.gradient"' in api
    assert 'id="tapecli.tape.GradientTape"' in api


def test_every_page_is_in_the_navigation():
    mkdocs = (ROOT / "mkdocs.yml").read_text()
    listed = set(re.findall(r":\s*([\w-]+\.md)\s*$", mkdocs, re.MULTILINE))
    assert listed == {page.name for page in PAGES}


def test_the_readme_opens_with_the_two_commands_and_stays_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 400
    assert lines[3].endswith('pip install . && tapecli grad "x**2+3*x+1" --at x=3')
    assert lines[4].endswith('pip install ".[test]" && python -m pytest')


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_a_page_names_no_file_outside_the_repository(document):
    text = document.read_text()
    for outside in ("EXPRESSIONS.md", "CLI.md", "../shared", "/work/", "/home/", "/tmp/"):
        assert outside not in text, f"{document.name} names {outside}"
    for link in re.findall(r"\]\(([^)#]+)[^)]*\)", text):
        if "://" not in link:
            assert (document.parent / link).resolve().is_relative_to(ROOT), link
            assert (document.parent / link).exists(), link


@pytest.mark.parametrize("document", [*DOCUMENTS, *sorted((ROOT / "tapecli").glob("*.py"))],
                         ids=lambda path: path.name)
def test_a_page_is_no_lab_notebook(document):
    text = document.read_text().lower()
    for notebook in ("this session", "on this vm", "this machine's", "project vm",
                     "development machine", "(target "):
        assert notebook not in text, f"{document.name}: {notebook!r}"


def _block(text: str):
    return types.SimpleNamespace(parsed=text, path="page.md", line=1)


def test_the_console_check_fails_on_a_wrong_line_and_passes_on_the_right_one():
    right = '$ tapecli eval "x+1" --at x=1 --format csv\nf\n2.0\n'
    assert run_console(_block(right)) is None
    failure = run_console(_block(right.replace("2.0", "3.0")))
    assert failure.splitlines()[:2] == ['$ tapecli eval "x+1" --at x=1 --format csv',
                                        "(exit status 0)"]
    assert "-3.0" in failure and "+2.0" in failure


def test_the_console_check_shows_errors_and_their_status():
    block = '$ tapecli eval "x+" --at x=1\ntapecli: error: unexpected end\n'
    failure = run_console(_block(block))
    assert "(exit status 2)" in failure
    assert "+tapecli: error: unexpected end of expression (column 3)" in failure


def test_a_console_block_runs_in_a_fresh_directory_of_its_own():
    assert run_console(_block("$ printf 'x\\n2\\n' > p.csv\n$ tapecli eval x --input p.csv"
                              "\nf\n2.0\n")) is None
    assert "No such file" in run_console(_block("$ cat p.csv\n"))


def test_the_python_check_compares_commented_prints():
    assert run_python(_block("print(1 + 1)  # 2\n")) is None
    assert "+2" in run_python(_block("print(1 + 1)  # 3\n"))
    with pytest.raises(NameError):
        run_python(_block("g\n"))
