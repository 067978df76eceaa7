"""Every chapter follows the book's rules for text, claims and code."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
# A control character in a chapter is almost always a LaTeX command written
# in a non-raw Python string: "\beta" is a backspace and "eta", and MathJax
# shows "Math input error".
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
GLUE_USE = re.compile(r"\{glue:text\}`([A-Za-z0-9_]+)")


def cells(path):
    return json.loads(path.read_text())["cells"]


def output_texts(cell):
    for output in cell.get("outputs", []):
        yield "".join(output.get("text", ""))
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/") or "papermill" in mime:
                yield "".join(value) if isinstance(value, list) else str(value)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_control_characters(path):
    for i, cell in enumerate(cells(path)):
        for text in ["".join(cell["source"]), *output_texts(cell)]:
            match = CONTROL.search(text)
            assert not match, (
                f"{path.name}, cell {i}: control character {match.group()!r} in "
                f"{text[max(0, match.start() - 30):match.end() + 30]!r}; LaTeX in a "
                "Python string needs a raw string (r'...')"
            )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_chapter_checks_at_least_three_claims(path):
    checked = sum(text.count("\n✓ ") + text.startswith("✓ ")
                  for cell in cells(path) for text in output_texts(cell))
    assert checked >= 3, f"{path.name} checks {checked} claims (check(...) prints ✓)"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_glued_number_in_the_text_is_computed_in_the_chapter(path):
    used = {m for cell in cells(path) if cell["cell_type"] == "markdown"
            for m in GLUE_USE.findall("".join(cell["source"]))}
    computed = set()
    for cell in cells(path):
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                computed.add(name)
    missing = used - computed
    assert not missing, f"{path.name}: the text uses glued values never computed: {sorted(missing)}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_code_fits_the_column(path):
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] == "code":
            for line in "".join(cell["source"]).splitlines():
                assert len(line) <= 75, f"{path.name}, cell {i}: {len(line)} columns: {line}"
