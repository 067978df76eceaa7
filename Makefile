# Two commands do everything on a fresh machine (see README.md):
#   make book   build the HTML book into _build/html (needs only Python 3.11)
#   make test   run every test: build the book, train the cached models, then
#               the unit tests, nbval re-running every chapter and the browser
#               test (two at a time), then the unit tests again on JAX
# Both create or reuse the virtual environment $(VENV). `make book` installs
# only the documentation toolchain (requirements-book.txt: it renders the
# stored outputs); everything else installs requirements.txt, a superset with
# the same pins, and the sparse_ae package.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BOOK_STAMP := $(VENV)/.installed-book
# Two test processes share the machine's cores: the chapters' training uses
# one core each (conftest.py sets one TensorFlow thread).
JOBS ?= 2

.PHONY: book test unit unit-jax nbval models checkpoints ch13-runs refresh jax-chapters bench screenshots lab clean

# pip installs without byte-compiling (it compiles file by file on one core,
# half of its minute); compileall then compiles on every core. requirements.txt
# holds every pin of requirements-book.txt, so the book's toolchain is then
# installed too.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet --no-compile -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (sparse_ae)" > /dev/null
	touch $(BOOK_STAMP) $@

# The documentation toolchain alone, for `make book`: Python compiles what
# the build imports as it goes.
$(BOOK_STAMP): requirements-book.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile --disable-pip-version-check -r requirements-book.txt
	touch $@

book: $(BOOK_STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

# The cached models the chapters load, trained $(JOBS) at a time (skipped
# when already cached); nbval would otherwise train them one by one.
models: $(STAMP)
	TF_NUM_INTRAOP_THREADS=1 $(BIN)/python -m sparse_ae.zoo --jobs $(JOBS)

# Chapter 13's trained runs (learning rates, the matched-L0 ReLU+l1 SAE,
# chapter 9's choices in a shallow SAE, AuxK on and off, and single changes
# to chapter 9's deep model, over three seeds) and its published SAE, retrained
# with the package's code into sparse_ae/weights/ (about an hour on one core;
# Keras's JAX backend is three times faster than TensorFlow for these SAEs).
CH13 := KERAS_BACKEND=jax TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \
	XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
	$(BIN)/python -m sparse_ae.baselines
ch13-runs: $(STAMP)
	$(CH13) --learning-rates 1e-2 3e-3 1e-3 --only
	$(CH13) --l1-target 11 --patience 3 --min-delta 1e-3 --only
	$(CH13) --patience 3 --min-delta 1e-3 --max-epochs 10
	$(CH13) --deep --only
	$(CH13) --patience 3 --min-delta 1e-3 --max-epochs 2 --batch-size 32 --only "chapter 9"

# Retrain the published checkpoints of chapter 12 (the classifier and the
# SAEs, about an hour of CPU) and rewrite sparse_ae/weights/; commit the
# result. make test does not run it: the chapters load the committed files.
checkpoints: $(STAMP)
	TF_NUM_INTRAOP_THREADS=1 $(BIN)/python -m sparse_ae.checkpoints --jobs $(JOBS)

# The full environment first: it also satisfies `book`.
test: $(STAMP) book models
	$(BIN)/pytest --nbval -n $(JOBS) --dist loadfile --no-loadscope-reorder
	$(MAKE) unit-jax

unit: $(STAMP)
	$(BIN)/pytest tests -n $(JOBS) --ignore=tests/test_browser.py

# The unit tests of the package on Keras's JAX backend (the tests of the
# data files, the book's build and nbval's configuration do not depend on
# the backend and run once, above).
unit-jax: $(STAMP)
	KERAS_BACKEND=jax $(BIN)/pytest tests -n $(JOBS) -p no:cacheprovider \
	    --ignore=tests/test_browser.py --ignore=tests/test_nbval_tolerance.py \
	    --ignore=tests/test_nbval_config.py --ignore=tests/test_data.py \
	    --ignore=tests/test_requirements.py

nbval: models
	$(BIN)/pytest --nbval book -n $(JOBS) --dist loadfile --no-loadscope-reorder

# Re-execute every chapter in place (after changing one), then check it.
refresh: $(STAMP)
	$(BIN)/python scripts/refresh_outputs.py --jobs $(JOBS)
	$(BIN)/pytest --nbval book -n $(JOBS) --dist loadfile --no-loadscope-reorder

# Chapters 1-5 on Keras's JAX backend, in a scratch copy: every cell, and so
# every check, must pass; outputs are not compared (the numbers differ).
jax-chapters: $(STAMP)
	$(BIN)/python scripts/run_chapters.py --backend jax book/0[1-5]_*.ipynb

# The browser test, saving full-page screenshots of every page at 1280 and
# 390 px in _build/screenshots, to look at what readers see.
screenshots: $(STAMP) book
	SCREENSHOTS=1 $(BIN)/pytest tests/test_browser.py -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_fit.py
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_sae.py

# Open the chapters in JupyterLab (installed into $(VENV) on first use; it is
# not needed to build or test the book).
JUPYTERLAB := jupyterlab==4.6.6
lab: $(STAMP)
	test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install --quiet $(JUPYTERLAB)
	$(BIN)/jupyter lab book/

clean:
	rm -rf _build .pytest_cache
