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
    import nbformat

    import nbval_tolerance

    nb = nbformat.read(path, as_version=4)
    used = set(nbval_tolerance.glue_formats(nb))
    computed = {nbval_tolerance._glued_name(output)
                for cell in nb.cells for output in cell.get("outputs", [])}
    missing = used - computed
    assert not missing, f"{path.name}: the text uses glued values never computed: {sorted(missing)}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_code_fits_the_column(path):
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] == "code":
            for line in "".join(cell["source"]).splitlines():
                assert len(line) <= 75, f"{path.name}, cell {i}: {len(line)} columns: {line}"


# At 1280 px the book's text column shows 78 columns of output; the browser
# test measures it (tests/test_browser.py). This catches a long printed line
# before the book is built.
OUTPUT_COLUMNS = 78


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_printed_output_fits_the_column(path):
    for i, cell in enumerate(cells(path)):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if output.get("output_type") == "stream":
                text = "".join(output["text"])
            elif "text/plain" in data and not {"text/html", "image/png"} & set(data):
                text = "".join(data["text/plain"])
            elif "highlight" in "".join(data.get("text/html", "")):  # source
                text = "".join(data.get("text/plain", ""))
            else:
                continue
            for line in text.splitlines():
                assert len(line) <= OUTPUT_COLUMNS, (
                    f"{path.name}, cell {i}: a printed line of {len(line)} columns "
                    f"needs scrolling sideways: {line[:60]}...")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_glued_number_is_printed_with_a_format_nbval_knows(path):
    """nbval compares a glued number at the precision its sentence prints it
    (tests/nbval_tolerance.py), so every glued value is used in the text, and
    every glued non-integer number with a format of the form .4f, .1% or .2e."""
    import nbformat

    import nbval_tolerance

    nb = nbformat.read(path, as_version=4)
    formats = nbval_tolerance.glue_formats(nb)
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            name = nbval_tolerance._glued_name(output)
            if not name:
                continue
            assert name in formats, f"{path.name}, cell {i}: {name} is glued but never used"
            text = output["data"][nbval_tolerance.GLUE_MIME]
            try:
                float(text)
            except ValueError:
                continue  # a word or a preformatted string
            if re.fullmatch(r"-?\d+", text):
                continue  # integers are compared exactly
            known = {spec for spec in formats[name]
                     if nbval_tolerance._GLUE_FORMAT.match(spec)}
            assert known == formats[name], (
                f"{path.name}, cell {i}: {name} = {text} is printed with "
                f"{sorted(formats[name])}; use .Nf, .N% or .Ne")


# Chapters whose trained numbers are not compared by nbval, because a CPU
# that rounds differently changes them by as much as another seed would
# (measured: README.md, "How the notebooks are tested"). Each must explain
# it to the reader in a section of its own.
# Chapter 12 left this list when its classifier and SAEs became published
# checkpoints (sparse_ae.checkpoints): every output is now compared.
NOT_COMPARED = {}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_outputs_are_compared_except_in_the_chapters_that_say_why(path):
    chapter = cells(path)
    ignored = [i for i, cell in enumerate(chapter)
               if {"nbval-ignore-output", "nbval-skip"}
               & set(cell.get("metadata", {}).get("tags", []))]
    if path.name not in NOT_COMPARED:
        assert not ignored, f"{path.name}: cells {ignored} are not compared by nbval"
        return
    heading = NOT_COMPARED[path.name]
    assert any("".join(c["source"]).startswith(heading) for c in chapter
               if c["cell_type"] == "markdown"), f"{path.name} does not explain why"
    for i in ignored:
        cell = chapter[i]
        assert "nbval-skip" not in cell["metadata"]["tags"], (
            f"{path.name}, cell {i}: every cell runs, so every check must pass")
        assert cell["cell_type"] == "code" and cell.get("outputs"), (
            f"{path.name}, cell {i}: tagged, but has no output to ignore")
