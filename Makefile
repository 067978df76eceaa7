# Two commands do everything on a fresh machine (see README.md):
#   make book   build the HTML book into _build/html
#   make test   run every test: build the book, then the unit tests, nbval
#               re-running every chapter, and the browser test of the book
# Both create or reuse the virtual environment $(VENV) and install
# requirements.txt and the sparse_ae package into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test unit nbval refresh bench lab clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (sparse_ae)" > /dev/null
	touch $@

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

test: book
	$(BIN)/pytest --nbval

unit: $(STAMP)
	$(BIN)/pytest tests --ignore=tests/test_browser.py

nbval: $(STAMP)
	$(BIN)/pytest --nbval book

# Re-execute every chapter in place (after changing one), then check it.
refresh: $(STAMP)
	$(BIN)/python scripts/refresh_outputs.py
	$(BIN)/pytest --nbval book

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_load.py

# Open the chapters in JupyterLab (installed into $(VENV) on first use; it is
# not needed to build or test the book).
JUPYTERLAB := jupyterlab==4.6.6
lab: $(STAMP)
	test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install --quiet $(JUPYTERLAB)
	$(BIN)/jupyter lab book/

clean:
	rm -rf _build .pytest_cache
