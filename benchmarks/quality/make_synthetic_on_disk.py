#!/usr/bin/env python3
"""Run ../shared/peers/make_synthetic.py with its row matrix in a memory-mapped .npy file.

The peer's generator holds every row in RAM and then computes its summary statistics on a second full-size array,
so 3M rows of width 768 (9.2 GB) need about twice that in memory. This wrapper hands the generator a memory-mapped
array for the rows and stops once it has written the truth file, skipping the statistics: the rows and the truth
are the generator's own, bit for bit (same seed, same draws in the same order). Arguments: those of
make_synthetic.py (--rows, --out and --truth-out are required). Prints one JSON line with the row count and the seconds.
"""
import json
import os
import sys
import time
import types

import numpy

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "peers"))
import make_synthetic  # noqa: E402  (the peer's generator, unchanged)


def arg(name):
    if name not in sys.argv:
        sys.exit(f"make_synthetic_on_disk.py: {name} is required")
    return sys.argv[sys.argv.index(name) + 1]


out, truth_out, rows = arg("--out"), arg("--truth-out"), int(arg("--rows"))
if "--h5" in sys.argv:
    sys.exit("make_synthetic_on_disk.py: --h5 is not supported (use make_synthetic.py)")
started = time.time()
saved = []


class Done(Exception):
    pass


class NumpyOnDisk(types.ModuleType):
    """numpy, except that the row matrix lives on disk and saving stops the generator after the truth file."""

    def __getattr__(self, name):
        return getattr(numpy, name)

    @staticmethod
    def empty(shape, dtype=float):
        if isinstance(shape, tuple) and len(shape) == 2 and shape[0] == rows:
            return numpy.lib.format.open_memmap(out + ".tmp.npy", mode="w+", dtype=dtype, shape=shape)
        return numpy.empty(shape, dtype)

    @staticmethod
    def save(path, array):
        saved.append(path)
        if len(saved) == 1:
            if path != out or not isinstance(array, numpy.memmap):
                sys.exit(f"make_synthetic_on_disk.py: the generator saved {path} first, not the rows to {out}")
            array.flush()
            return
        if path != truth_out:
            sys.exit(f"make_synthetic_on_disk.py: the generator saved {path} second, not the truth to {truth_out}")
        numpy.save(path, array)
        raise Done()


make_synthetic.np = NumpyOnDisk("numpy")
try:
    make_synthetic.main()
    sys.exit("make_synthetic_on_disk.py: the generator ended without writing its truth file")
except Done:
    pass
os.replace(out + ".tmp.npy", out)
print(json.dumps({"rows": rows, "out": out, "truth": truth_out, "seconds": round(time.time() - started, 2)}))
