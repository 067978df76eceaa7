"""The notebook regression test's own configuration is checked here."""

import json
import re
import tomllib
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = ROOT / "book" / "nbval_sanitize.cfg"


def test_every_sanitize_rule_parses():
    text = SANITIZE.read_text()
    rules = get_sanitize_patterns(text)
    # A `replace:` without its trailing space is silently not a rule for nbval.
    assert len(rules) == text.count("\nregex: ") == text.count("\nreplace: ") == 3
    for regex, _ in rules:
        re.compile(regex)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("<object at 0x7f3a2b1c9d00>", "<object at 0xADDRESS>"),
        ("12.3 s of training, 4 s per epoch", "N s of training, N s per epoch"),
        ("<Figure size 550x360 with 2 Axes>", "<Figure size WxH with 2 Axes>"),
        ("loss=0.3092", "loss=0.3092"),  # numbers that matter are left alone
    ],
)
def test_sanitize_rules_do_what_they_say(text, expected):
    for regex, replace in get_sanitize_patterns(SANITIZE.read_text()):
        text = re.sub(regex, replace, text)
    assert text == expected


def test_pytest_config_uses_the_sanitize_file_in_strict_mode():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--nbval-sanitize-with=book/nbval_sanitize.cfg" in config["addopts"]
    assert "--nbval-lax" not in config["addopts"]
    assert "book" in config["testpaths"]


def chapters():
    return sorted((ROOT / "book").glob("*.ipynb"))


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.name)
def test_notebook_is_stored_from_one_clean_run(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    for cell in code:
        for line in "".join(cell["source"]).splitlines():
            s = line.strip()
            if s.startswith("#") and "NBVAL_" in s:
                assert s.lstrip("#").strip() in {"NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP"}, s
                if "IGNORE_OUTPUT" in s:
                    assert "assert " in "".join(cell["source"]), "an ignored cell must assert"
