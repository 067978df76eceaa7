"""`make book` installs the documentation toolchain alone
(requirements-book.txt); `make test` installs requirements.txt into the same
environment. These tests check that the two files agree, and that the book's
build needs nothing beyond the first."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s#]+)")


def pins(path):
    found = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: {line!r} is not an exact pin (name==version)"
        found[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return found


def test_the_book_toolchain_is_pinned_as_in_the_full_requirements():
    book, full = pins(ROOT / "requirements-book.txt"), pins(ROOT / "requirements.txt")
    missing = sorted(set(book) - set(full))
    assert not missing, f"requirements.txt lacks {missing}: make test installs it over make book's environment"
    differ = {name: (version, full[name]) for name, version in book.items() if full[name] != version}
    assert not differ, f"pinned differently (requirements-book.txt, requirements.txt): {differ}"


def test_the_book_toolchain_has_what_the_build_loads_and_no_more():
    book = pins(ROOT / "requirements-book.txt")
    assert "jupyter-book" in book
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    for extension in config["sphinx"].get("extra_extensions", []):
        assert re.sub(r"[-_.]+", "-", extension).lower() in book, extension
    heavy = {"tensorflow", "keras", "jax", "jaxlib", "playwright", "scikit-learn", "matplotlib", "numpy"}
    assert not heavy & set(book), f"the book's build does not need {sorted(heavy & set(book))}"


def test_the_books_extension_imports_neither_tensorflow_nor_sparse_ae():
    """book/_ext/book_fixes.py runs in make book's environment, which has
    neither; importing it must not need them."""
    code = (
        "import sys; sys.path.insert(0, 'book/_ext'); import book_fixes; "
        "heavy = [m for m in ('tensorflow', 'keras', 'jax', 'sparse_ae', 'numpy', 'matplotlib') "
        "if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"book_fixes.py imports {result.stdout.strip()}"
