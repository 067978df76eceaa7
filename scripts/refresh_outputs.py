"""Re-execute chapters in place, top to bottom, to refresh their stored outputs.

    python scripts/refresh_outputs.py [--jobs 2] [book/01_data_and_baseline.ipynb ...]

It runs each notebook in a fresh kernel of the current environment (the same
route nbval takes with --nbval-current-env) and with the same environment as
the test run (conftest.py: one TensorFlow thread, the inline matplotlib
backend), so that `pytest --nbval` passes right after a refresh. It first
trains the cached models every chapter loads (python -m sparse_ae.zoo), then
runs ``--jobs`` notebooks at a time. `make refresh` runs it on every chapter.
"""

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import conftest  # noqa: E402  (sets the test run's environment variables)
import nbval_tolerance  # noqa: E402  (on sys.path through conftest)


def refresh(path):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(nb, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=nbval_tolerance.kernel_env(os.environ))
    # TensorFlow may write machine-specific log lines to stderr; nbval does
    # not compare stderr (conftest.py), and the book should not show them.
    # Execution timestamps would make every refresh a diff of every cell.
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
            cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return f"{path.name}: {time.perf_counter() - start:.0f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    paths = [p.resolve() for p in args.paths] or sorted((ROOT / "book").glob("*.ipynb"))
    subprocess.run([sys.executable, "-m", "sparse_ae.zoo", "--jobs", str(args.jobs)], check=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        for line in pool.map(refresh, paths):
            print(line, flush=True)


if __name__ == "__main__":
    main()
