"""How long load_fashion_mnist() takes: first (decode and verify) and cached.

    python benchmarks/bench_load.py
"""

import tempfile
import time

import os


def main():
    with tempfile.TemporaryDirectory() as cache:
        os.environ["SPARSE_AE_CACHE"] = cache
        from sparse_ae.data import load_fashion_mnist

        for label in ("first load (decompress, hash, decode, write cache)", "cached load"):
            start = time.perf_counter()
            load_fashion_mnist()
            print(f"{label}: {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
