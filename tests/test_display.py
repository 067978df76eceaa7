"""The book's conventions for claims, tables and source (sparse_ae.display)."""

import numpy as np
import pytest

from sparse_ae.display import check, glue, source, table
from sparse_ae.regularizers import bernoulli_kl


def test_check_prints_the_claim_when_it_holds(capsys):
    check("two is larger than one", 2 > 1)
    assert capsys.readouterr().out == "✓ two is larger than one\n"


def test_check_fails_with_the_claim_and_the_detail(capsys):
    with pytest.raises(AssertionError, match=r"the text claims: 'one is larger than two'.*1 vs 2"):
        check("one is larger than two", 1 > 2, detail="1 vs 2")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("claim", ["", None, 3])
def test_check_needs_a_sentence(claim):
    with pytest.raises(ValueError, match="claim must be a non-empty sentence"):
        check(claim, True)


def test_table_renders_html_and_aligned_text():
    t = table([{"model": "KL", "loss": 0.30589, "units": 300, "dead": 0.0},
               {"model": "ℓ1", "loss": 0.32311, "units": 300, "dead": 0.79}],
              ["model", "loss", "units", "dead"], formats={"dead": ".1%"})
    html = t._repr_html_()
    assert html.startswith('<table class="table sparse-ae-results">')
    assert "<td>ℓ1</td>" in html and '<td style="text-align: right">0.3231</td>' in html
    assert "<td style=\"text-align: right\">79.0%</td>" in html
    lines = repr(t).splitlines()
    assert lines[0].split() == ["model", "loss", "units", "dead"]
    assert lines[2].split() == ["KL", "0.3059", "300", "0.0%"]
    assert len({len(line) for line in lines[:2]}) == 1  # header and rule aligned


def test_table_escapes_html():
    assert "&lt;b&gt;" in table([("<b>",)], ["x"])._repr_html_()


@pytest.mark.parametrize(
    "rows,columns,formats,message",
    [([(1, 2)], ["a"], None, "a row has 2 values for 1 columns"),
     ([{"a": 1}], ["a", "b"], None, "a row lacks the columns"),
     ([(1,)], ["a"], {"b": ".2f"}, "formats given for unknown columns")],
)
def test_table_rejects_bad_input(rows, columns, formats, message):
    with pytest.raises(ValueError, match=message):
        table(rows, columns, formats)


def test_source_is_the_highlighted_source_of_the_object():
    code = source(bernoulli_kl)
    assert code.data.startswith("def bernoulli_kl(")
    assert 'class="k"' in code._repr_html_() or "highlight" in code._repr_html_()


def test_long_claims_are_wrapped_to_the_column(capsys):
    claim = "a claim " * 20
    check(claim.strip(), True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) > 1 and all(len(line) <= 76 for line in lines)
    assert lines[0].startswith("✓ a claim") and lines[1].startswith("  ")


def _glued(monkeypatch):
    """Capture what myst-nb's glue would store in the notebook."""
    import myst_nb.ext.glue as myst_glue

    stored = []
    monkeypatch.setattr(
        myst_glue, "ipy_display",
        lambda bundle, raw, metadata: stored.append((bundle, metadata)),
    )
    return stored


@pytest.mark.parametrize(
    "value, text",
    [(np.float64(0.3088), "0.3088"), (np.float32(0.5), "0.5"),
     (np.int64(7), "7"), (np.array(0.25), "0.25"), (0.125, "0.125"),
     ("ReLU", "'ReLU'")],
)
def test_glue_stores_text_that_myst_can_format(monkeypatch, value, text):
    stored = _glued(monkeypatch)
    glue("x", value)
    (bundle, metadata), = stored
    plain = next(v for k, v in bundle.items() if k.endswith("text/plain"))
    assert plain == text
    assert metadata["scrapbook"]["name"] == "x"
    if not isinstance(value, str):
        float(plain)  # what {glue:text}`x:.3f` does with it


@pytest.mark.parametrize(
    "value, error, message",
    [(np.float64("nan"), ValueError, "nan"), (float("inf"), ValueError, "inf"),
     (np.ones(3), TypeError, "ndarray"), (True, TypeError, "bool"),
     (None, TypeError, "NoneType")],
)
def test_glue_rejects_what_a_sentence_cannot_quote(monkeypatch, value, error,
                                                   message):
    stored = _glued(monkeypatch)
    with pytest.raises(error, match=message):
        glue("x", value)
    assert stored == []


def test_table_keeps_trailing_zeros_of_significant_figures():
    text = repr(table([(0.66, 0.659, 100.0)], ["a", "b", "c"],
                      formats={"a": ".3g", "b": ".3g", "c": ".3g"}))
    assert text.splitlines()[-1].split() == ["0.660", "0.659", "100"]


def test_trailing_zeros_are_kept_only_for_bare_significant_figures():
    """A sign is kept in its place; fill, alignment and width are left to
    format() as given (a "#" in front would be read as a fill character)."""
    text = repr(table([(0.66, 0.66, 0.66)], ["a", "b", "c"],
                      formats={"a": "+.3g", "b": ">8.3g", "c": "*<6.2g"}))
    assert text.splitlines()[-1].split() == ["+0.660", "0.66", "0.66**"]
