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


# ---- The reading line (CONTRIBUTING.md): no visible cell only glues.
#
# A code cell is visible unless a tag hides its input (HIDDEN_INPUT). It
# "only glues" when it quotes at least one number for the prose with
# glue(...) and everything else in it is bookkeeping too, defined with the
# cell's syntax tree:
# - a call of glue(...), check(...) or table(...), or display(...) of one
#   (BOOKKEEPING_CALLS), as a statement of its own;
# - a for/while/if/with statement whose body (and else) is bookkeeping;
# - an assignment (or a def) whose names are used, and used only by
#   bookkeeping: in this cell, only inside bookkeeping statements; in the
#   chapter's later cells, only inside bookkeeping calls. The largest set of such names is
#   found by removing, until none is left to remove, every name used
#   anywhere else: so a value computed for a glue and a table is
#   bookkeeping, and one that a later cell plots, prints or trains on is
#   not.
# A print(...), an import, a plot or any other statement makes a cell
# something a reader should see. Such a cell gets the tag hide-input (its
# outputs, the ✓ lines and tables, stay visible), or its bookkeeping moves
# behind a well-named package helper.
import ast  # noqa: E402

HIDDEN_INPUT = {"hide-input", "remove-input", "hide-cell", "remove-cell"}
BOOKKEEPING_CALLS = {"glue", "check", "table"}


def _called(node):
    """The name a call calls: f(...) -> 'f', module.f(...) -> 'f'."""
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def _bookkeeping_call(node):
    if not isinstance(node, ast.Call):
        return False
    name = _called(node)
    if name == "display":
        return bool(node.args) and all(_bookkeeping_call(a) for a in node.args)
    return name in BOOKKEEPING_CALLS


def _defined(stmt):
    """The names an assignment or a def binds (a subscript or attribute
    target, rows[k] = ..., changes the name it starts from)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        targets = [stmt.target]
    else:
        return set()
    names = set()
    for target in targets:
        while isinstance(target, (ast.Subscript, ast.Attribute, ast.Starred)):
            target = target.value
        names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _is_bookkeeping(stmt, names):
    if isinstance(stmt, ast.Expr):
        return _bookkeeping_call(stmt.value)
    if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.FunctionDef,
                         ast.AsyncFunctionDef)):
        defined = _defined(stmt)
        return bool(defined) and defined <= names
    if isinstance(stmt, (ast.For, ast.While, ast.If, ast.With)):
        body = stmt.body + getattr(stmt, "orelse", [])
        return all(_is_bookkeeping(s, names) for s in body)
    return False


def _statements_using(tree):
    """(name, the innermost statement that loads it) for every load."""
    found = []

    def visit(node, statement):
        if isinstance(node, ast.stmt):
            statement = node
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            found.append((node.id, statement))
        for child in ast.iter_child_nodes(node):
            visit(child, statement)

    for stmt in tree.body:
        visit(stmt, stmt)
    return found


def _loads_outside_bookkeeping_calls(tree):
    """The names a cell loads outside glue/check/table calls."""
    outside = set()

    def visit(node):
        if _bookkeeping_call(node):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            outside.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return outside


def only_glues(source, later_sources=()):
    """Whether a code cell's only work is gluing numbers for the prose
    (the definition is above)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False  # IPython magics: not plain Python, not bookkeeping
    if not any(isinstance(n, ast.Call) and _called(n) == "glue" for n in ast.walk(tree)):
        return False
    used_later = set()
    for later in later_sources:
        try:
            used_later |= _loads_outside_bookkeeping_calls(ast.parse(later))
        except SyntaxError:
            continue
    names = set().union(*(_defined(s) for s in ast.walk(tree) if isinstance(s, ast.stmt)))
    names -= used_later
    uses = _statements_using(tree)
    while True:
        kept = {n for n in names
                if any(name == n for name, _ in uses)
                and all(_is_bookkeeping(stmt, names) for name, stmt in uses if name == n)}
        if kept == names:
            break
        names = kept
    return all(_is_bookkeeping(stmt, names) for stmt in tree.body)


def glue_only_cells(path):
    """The indices of a chapter's visible code cells that only glue."""
    chapter = cells(path)
    sources = ["".join(c["source"]) for c in chapter]
    return [i for i, cell in enumerate(chapter)
            if cell["cell_type"] == "code"
            and not HIDDEN_INPUT & set(cell.get("metadata", {}).get("tags", []))
            and only_glues(sources[i], [s for c, s in zip(chapter[i + 1:], sources[i + 1:])
                                         if c["cell_type"] == "code"])]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_visible_cell_only_glues(path):
    flagged = glue_only_cells(path)
    assert not flagged, (
        f"{path.name}: cells {flagged} only glue numbers for the prose (with checks or "
        "tables at most), yet their code is shown; tag them hide-input (the ✓ lines and "
        "tables stay visible) or move the bookkeeping behind a package helper "
        "(CONTRIBUTING.md, 'The reading line')")


@pytest.mark.parametrize("source, later, expected", [
    ('glue("a", x)', [], True),
    ('glue("a", x)\nglue("b", y)', [], True),
    ('for k in ks:\n    glue(f"a{k}", x[k])', [], True),
    ('m = x.mean()\nglue("m", m)\ncheck("m is small", m < 1)', [], True),
    ('rows = [f(k) for k in ks]\nfor r in rows:\n    glue(r["n"], r["v"])\ntable(rows, ["n"])', [], True),
    ('rows = [f(k) for k in ks]\nglue("a", rows[0])', ['check("ok", all(rows))'], True),
    ('x = 1\ndisplay(table([x], ["x"]))\nglue("x", x)', [], True),
    # Not only gluing:
    ('check("ok", x > 0)', [], False),  # no glue
    ('print(x)\nglue("a", x)', [], False),  # the reader sees a printed result
    ('model = train(X)\nglue("loss", model.loss)', ['plot_curves(model.history)'], False),
    ('m = x.mean()\nglue("m", m)\nprint(m)', [], False),
    ('import numpy as np\nglue("a", np.pi)', [], False),
    ('fig = plot_images(X)\nglue("n", len(X))', [], False),
    ('%time glue("a", 1)', [], False),
])
def test_only_glues_follows_its_definition(source, later, expected):
    assert only_glues(source, later) is expected


# ---- Figures (sparse_ae/plots.py's docstring: drawn for the column and a
# phone). The browser test measures each image assuming its text is at
# least sparse_ae.plots.MIN_FONT_PT points; that holds for the figures
# sparse_ae.plots draws (tests/test_plots_legible.py), so every figure of a
# chapter must come from there: a plot_* function or plots.figure().
DRAWS = re.compile(r"\b(?:plot_\w+|figure)\(")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_figure_is_drawn_by_sparse_ae_plots(path):
    chapter = cells(path)
    imports_plots = any("sparse_ae.plots" in "".join(c["source"]) for c in chapter
                        if c["cell_type"] == "code")
    for i, cell in enumerate(chapter):
        images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        if images:
            assert imports_plots and DRAWS.search("".join(cell["source"])), (
                f"{path.name}, cell {i}: a figure not drawn by sparse_ae.plots (a plot_* "
                "function or plots.figure()), so nothing checks that its text is legible "
                "on a phone")
