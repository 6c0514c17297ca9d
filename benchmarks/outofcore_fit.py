"""Time and peak memory of out-of-core fits (issue 17; manual, not CI).

Each fit runs in its own subprocess so that its peak resident memory is its own::

    python benchmarks/archs4_fullsize.py --samples 30000 --generate-only --workdir /tmp/fs
    python benchmarks/outofcore_fit.py /tmp/fs/archs4_synthetic_30000x35238.h5 --methods svd gaussian smaf snmf

Prints one JSON line per fit (method, samples, genes, wall and CPU seconds -- CPU time is the
better measure on a shared machine -- peak RSS in GB, and the seconds of every checkpoint step,
i.e. every pass and the work after it). float32 blocks by default (``--dtype float64`` for the
in-memory fit's arithmetic). SMAF runs its default 10 iterations, sparse NMF (``solver="bcd"``) 20.
``--save DIR`` keeps the models (as ``DIR/<method>_<samples>.h5``, e.g. for
``benchmarks/training_size.py --models DIR``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def fit_once(args) -> dict:
    from csgene.outofcore import fit_file

    steps = []
    started = last = time.perf_counter()

    def on_step(name):
        nonlocal last
        now = time.perf_counter()
        steps.append([name, round(now - last, 1)])
        last = now

    model = fit_file(args.data, method=args.method, n_measurements=args.measurements, n_modules=args.modules,
                     random_state=0, block_size=args.block_size, dtype=args.dtype, n_passes=args.passes,
                     progress=False, on_step=on_step)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    if args.save:
        model.save(args.save)  # after the timing
    return {"method": args.method, "samples": _n_samples(args.data),
            "genes": len(model.gene_names_), "dtype": args.dtype, "seconds": round(seconds, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "steps": steps}


def _n_samples(path) -> int:
    from csgene.io import BlockReader

    with BlockReader(path) as reader:
        return reader.n_samples


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--methods", nargs="+", default=["svd", "gaussian", "smaf"])
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--measurements", type=int, default=100)
    parser.add_argument("--modules", type=int, default=150)
    parser.add_argument("--passes", type=int, default=4, help="subspace-iteration passes")
    parser.add_argument("--block-size", type=int)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--save", help="folder to save each fitted model in, as <method>_<samples>.h5")
    args = parser.parse_args(argv)
    if args.method:
        print(json.dumps(fit_once(args)), flush=True)
        return
    for method in args.methods:
        argv_ = [sys.executable, __file__, args.data, "--method", method, "--measurements", str(args.measurements),
                 "--modules", str(args.modules), "--passes", str(args.passes),
                 "--dtype", args.dtype] + (["--block-size", str(args.block_size)] if args.block_size else []) + (
                    ["--save", f"{args.save}/{method}_{_n_samples(args.data)}.h5"] if args.save else [])
        result = subprocess.run(argv_, capture_output=True, text=True)
        print(result.stdout.strip() or result.stderr[-2000:], flush=True)


if __name__ == "__main__":
    main()
