"""Re-execute chapters in place, top to bottom, to refresh their stored outputs.

    python scripts/refresh_outputs.py [book/01_data_and_baseline.ipynb ...]

It runs each notebook in a fresh kernel of the current environment (the same
route nbval takes with --nbval-current-env) and with the same environment
variables as the test run (conftest.py), so that `pytest --nbval` passes right
after a refresh. `make refresh` runs it on every chapter.
"""

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import conftest  # noqa: E402,F401  (sets the test run's environment variables)


def refresh(path):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    # TensorFlow writes machine-specific log lines to stderr before its log
    # level applies; nbval does not compare stderr (conftest.py), and the book
    # should not show them.
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
    nbformat.write(nb, path)
    print(f"{path.relative_to(ROOT)}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted((ROOT / "book").glob("*.ipynb"))
    for p in paths:
        refresh(p)
