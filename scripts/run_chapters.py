"""Run chapters top to bottom on a Keras backend, without comparing outputs.

    python scripts/run_chapters.py --backend jax book/0[1-5]_*.ipynb

Each notebook is copied to a scratch directory and executed there in a fresh
kernel with KERAS_BACKEND set, so the stored outputs are not touched. Every
cell must run: the chapters' checks (``sparse_ae.display.check``) raise on a
claim that does not hold, so a passing run means every check passed on that
backend. The numbers themselves differ between backends (other random number
generators, other kernels), which is why nothing is compared. Models trained
on another backend are cached separately (the cache key names the backend).
`make jax-chapters` runs chapters 1-5 on JAX.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import conftest  # noqa: E402,F401  (the test run's environment variables)
import nbval_tolerance  # noqa: E402


def run(path, backend, scratch):
    copy = Path(scratch) / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(copy, as_version=4)
    env = nbval_tolerance.kernel_env({**os.environ, "KERAS_BACKEND": backend})
    client = NotebookClient(nb, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(scratch)}})
    start = time.perf_counter()
    checks = 0
    try:
        client.execute(env=env)
    except CellExecutionError as error:
        return False, f"{path.name}: FAILED\n{error}"
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("name") == "stdout":
                checks += sum(line.startswith("✓ ") for line in output["text"].splitlines())
    seconds = time.perf_counter() - start
    return True, f"{path.name}: every cell ran on {backend}, {checks} checks passed ({seconds:.0f} s)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--backend", default="jax", choices=["jax", "tensorflow"])
    args = parser.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory() as scratch:
        for path in args.paths:
            ok, message = run(path.resolve(), args.backend, scratch)
            failed += not ok
            print(message, flush=True)
    if failed:
        raise SystemExit(f"{failed} chapter(s) failed on {args.backend}")


if __name__ == "__main__":
    main()
