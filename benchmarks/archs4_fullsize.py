"""Full-size ARCHS4 benchmark of out-of-core simulation and recovery (manual, not CI).

Writes a synthetic count matrix of the full ARCHS4 human shape (35,238 genes x 167,726 samples)
in the generation-2 layout (``data/expression`` genes x samples, uint32, chunked, gzip), fits a
model on a random subset of samples, then times, each in its own subprocess so that peak
resident memory is the phase's own:

* ``simulate``: Y = A (f(X) + noise) for every sample, streamed from the file;
* ``recover``: X-hat for every sample from Y at d = 100 measurements, m = 500 modules,
  k = 15 (OMP), written block by block to an HDF5 file.

Usage::

    python benchmarks/archs4_fullsize.py --samples 10000            # 10k samples
    python benchmarks/archs4_fullsize.py                            # full size (167,726)
    python benchmarks/archs4_fullsize.py --generate-only            # just write the input file

The synthetic counts follow the modular recipe of :func:`csgene.datasets.make_expression`
(log-normal gene means, sparse nonnegative modules, 3 active modules per sample, log-normal
library sizes) but, to write 5.9e9 values in minutes on two cores, the per-value noise is a
multiplicative log-normal factor (overdispersion) and a dithered rounding, both taken from one
pre-drawn pool shifted at random for every block instead of fresh negative-binomial draws.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

ARCHS4_GENES = 35_238
ARCHS4_SAMPLES = 167_726
#: chunk shape of the generated file (genes, samples); blocks are read aligned to its width
CHUNKS = (4096, 256)
GENERATE_BLOCK = 1024
N_TRUE_MODULES = 200
GENES_PER_MODULE = 800
BASELINE = 0.6
LIBRARY_SIZE = 2e6
NOISE_LOG_SD = 0.4


# --------------------------------------------------------------------------- generation


def generate(path: Path, n_samples: int, n_genes: int = ARCHS4_GENES, seed: int = 0) -> None:
    """Write the synthetic gen-2 ARCHS4-layout file block by block (to PATH.tmp, then rename)."""
    rng = np.random.default_rng(seed)
    profile = np.exp(3.0 * rng.standard_normal(n_genes))
    profile /= profile.sum()
    modules = np.zeros((N_TRUE_MODULES, n_genes))
    for row in modules:
        genes = rng.choice(n_genes, size=min(GENES_PER_MODULE, n_genes), replace=False)
        row[genes] = profile[genes] * rng.lognormal(0.0, 1.0, size=len(genes))
        row /= row.sum()
    popularity = rng.lognormal(0.0, 0.5, size=N_TRUE_MODULES)
    popularity /= popularity.sum()
    pool_z = np.exp(NOISE_LOG_SD * rng.standard_normal((GENERATE_BLOCK, n_genes), dtype=np.float32)
                    - NOISE_LOG_SD**2 / 2)
    pool_u = rng.random((GENERATE_BLOCK, n_genes), dtype=np.float32)
    tmp = path.with_name(path.name + ".tmp")
    strings = h5py.string_dtype("utf-8")
    started = time.perf_counter()
    with h5py.File(tmp, "w") as h5:
        ds = h5.create_dataset(
            "data/expression", shape=(n_genes, n_samples), dtype=np.uint32,
            chunks=(min(CHUNKS[0], n_genes), min(CHUNKS[1], n_samples)), compression="gzip",
            compression_opts=1,
        )
        h5.create_dataset("meta/genes/gene_symbol", data=np.array([f"G{j:05d}" for j in range(n_genes)], dtype=object),
                          dtype=strings)
        h5.create_dataset("meta/samples/geo_accession",
                          data=np.array([f"GSM{i:07d}" for i in range(n_samples)], dtype=object), dtype=strings)
        for start in range(0, n_samples, GENERATE_BLOCK):
            stop = min(start + GENERATE_BLOCK, n_samples)
            ds[:, start:stop] = _count_block(rng, stop - start, profile, modules, popularity, pool_z, pool_u).T
            done = stop / n_samples
            elapsed = time.perf_counter() - started
            print(f"\rgenerate {stop}/{n_samples} samples, {elapsed:.0f} s, eta {elapsed / done - elapsed:.0f} s",
                  end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    os.replace(tmp, path)


def _count_block(rng, n, profile, modules, popularity, pool_z, pool_u) -> np.ndarray:
    activities = np.zeros((n, modules.shape[0]))
    for i in range(n):
        active = rng.choice(modules.shape[0], size=3, replace=False, p=popularity)
        amplitude = rng.gamma(2.0, size=3)
        activities[i, active] = (1 - BASELINE) * amplitude / amplitude.sum()
    library = LIBRARY_SIZE * rng.lognormal(0.0, 0.7, size=n)
    mean = (library[:, None] * (BASELINE * profile + activities @ modules)).astype(np.float32)
    shift_rows, shift_genes = rng.integers(pool_z.shape[0]), rng.integers(pool_z.shape[1])
    z = np.roll(pool_z, (shift_rows, shift_genes), axis=(0, 1))[:n]
    u = np.roll(pool_u, (shift_genes, shift_rows), axis=(1, 0))[:n]
    mean *= z
    mean += u
    return np.floor(mean, out=mean).astype(np.uint32)


# --------------------------------------------------------------------------- phases


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def phase_fit(args) -> dict:
    from csgene.scale import fit_on_subset

    started = time.perf_counter()
    model = fit_on_subset(
        args.input, args.fit_samples, method=args.method, n_measurements=args.measurements,
        n_modules=args.modules, sparsity=args.sparsity, preprocess="log1p", random_state=0,
    )
    model.save(args.model)
    return {"seconds": time.perf_counter() - started}


def phase_simulate(args) -> dict:
    from csgene.pipeline import CompressedSensing
    from csgene.scale import simulate_file

    model = CompressedSensing.load(args.model)
    started = time.perf_counter()
    simulate_file(model, args.input, args.measurements_file, snr=args.snr, random_state=1,
                  block_size=args.block_size, resume=False, overwrite=True, progress=True)
    return {"seconds": time.perf_counter() - started}


def phase_recover(args) -> dict:
    from csgene.pipeline import CompressedSensing
    from csgene.scale import recover_file

    model = CompressedSensing.load(args.model)
    started = time.perf_counter()
    recover_file(model, args.measurements_file, args.output, block_size=args.block_size,
                 compression=args.compression, resume=False, overwrite=True, progress=True)
    return {"seconds": time.perf_counter() - started}


PHASES = {"fit": phase_fit, "simulate": phase_simulate, "recover": phase_recover}


def run_phase_in_subprocess(name: str, argv: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *argv, "--phase", name], check=True,
                         stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=ARCHS4_SAMPLES)
    parser.add_argument("--genes", type=int, default=ARCHS4_GENES)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/csgene_fullsize"))
    parser.add_argument("--method", default="ksvd")
    parser.add_argument("--measurements", type=int, default=100)
    parser.add_argument("--modules", type=int, default=500)
    parser.add_argument("--sparsity", type=int, default=15)
    parser.add_argument("--fit-samples", type=int, default=1000)
    parser.add_argument("--snr", type=float, default=2.0)
    parser.add_argument("--block-size", type=int, default=None)
    parser.add_argument("--compression", default=None, help="output compression (None, gzip, lzf)")
    parser.add_argument("--model", type=Path, default=None, help="reuse a fitted model file")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    tag = f"{args.samples}x{args.genes}"
    args.input = args.workdir / f"archs4_synthetic_{tag}.h5"
    args.model = args.model or args.workdir / f"model_{tag}.h5"
    args.measurements_file = args.workdir / f"measurements_{tag}.h5"
    args.output = args.workdir / f"recovered_{tag}.h5"
    if args.phase:
        result = PHASES[args.phase](args)
        result["peak_rss_gb"] = peak_rss_gb()
        print(json.dumps(result))
        return
    if not args.input.exists():
        started = time.perf_counter()
        generate(args.input, args.samples, args.genes)
        print(f"generated {args.input} in {time.perf_counter() - started:.0f} s "
              f"({args.input.stat().st_size / 1e9:.2f} GB)", flush=True)
    if args.generate_only:
        return
    passthrough = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--generate-only"]
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.node()} {platform.processor()}",
              "cores": os.cpu_count(), "n_samples": args.samples, "n_genes": args.genes}
    for name in ("fit", "simulate", "recover"):
        if name == "fit" and args.model.exists():
            continue
        result = run_phase_in_subprocess(name, passthrough)
        result["samples_per_second"] = args.samples / result["seconds"] if name != "fit" else None
        report[name] = result
        print(name, json.dumps(result), flush=True)
    report["output_gb"] = args.output.stat().st_size / 1e9
    print(json.dumps(report, indent=1))
    with open(args.workdir / f"report_{tag}.json", "w") as fh:
        json.dump(report, fh, indent=1)


if __name__ == "__main__":
    main()
