"""The documentation: the README and the MkDocs site under docs/.

The site is built as a user would build it, with every warning an error (a broken link
or anchor, a page missing from the navigation, a docstring mkdocstrings cannot read).
The pages are for users: they name no file outside the repository and nothing of the
machine or the session they were written in.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [ROOT / "README.md", *PAGES]


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
