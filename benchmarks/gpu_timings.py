"""GPU timings of the numba.cuda kernels against the CPU kernels and a batched torch OMP.

Run on a machine with a CUDA GPU (not run in CI; the task that wrote it had no GPU)::

    python benchmarks/gpu_timings.py [--small] [--out benchmarks/RESULTS_GPU.md]

It checks correctness against the CPU kernels first, then times (median of ``--repeats`` runs,
compilation excluded by a warm-up call, device synchronised around each run):

* recovery OMP: 167,726 samples, d = 100 measurements, m = 500 modules, k = 15;
* a SMAF-like iteration on 35,238 genes × 10,000 samples (U-step: nonnegative lasso of every
  gene; W-step: OMP of every sample);

for the CPU kernels, our CUDA kernels and (OMP only) a batched torch OMP written below.
It appends a markdown section with the date and the device to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time

import numpy as np

from csgene_kernels import nnlasso as nnlasso_cpu
from csgene_kernels import omp as omp_cpu


def torch_omp_gram(gram, dty, k):
    """Batched OMP in torch (all samples at once, Cholesky-free least squares per step)."""
    import torch

    n, m = dty.shape
    indices = torch.full((n, k), -1, dtype=torch.int64, device=dty.device)
    alpha = dty.clone()
    mask = torch.zeros((n, m), dtype=torch.bool, device=dty.device)
    rows = torch.arange(n, device=dty.device)
    coef = torch.zeros((n, 0), dtype=dty.dtype, device=dty.device)
    for t in range(min(k, m)):
        scores = alpha.abs().masked_fill(mask, -1.0)
        atom = scores.argmax(dim=1)
        indices[:, t] = atom
        mask[rows, atom] = True
        chosen = indices[:, : t + 1]
        sub_gram = gram[chosen.unsqueeze(2), chosen.unsqueeze(1)]            # (n, t+1, t+1)
        rhs = torch.gather(dty, 1, chosen).unsqueeze(2)                      # (n, t+1, 1)
        coef = torch.linalg.solve(sub_gram, rhs).squeeze(2)                  # (n, t+1)
        alpha = dty - torch.einsum("nt,ntm->nm", coef, gram[chosen])
    values = torch.zeros((n, k), dtype=dty.dtype, device=dty.device)
    values[:, : coef.shape[1]] = coef
    return indices, values


def median_seconds(run, repeats, sync=lambda: None):
    run()  # warm-up: compilation and caches
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="10x smaller sizes (a quick look)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/RESULTS_GPU.md")
    args = parser.parse_args()

    from numba import cuda

    import csgene_kernels.cuda as gpu
    from csgene_kernels.device import resolve_device

    assert resolve_device("cuda") == "cuda"
    sync = cuda.synchronize
    scale = 10 if args.small else 1
    rng = np.random.default_rng(0)
    lines = [f"## GPU timings, {datetime.date.today()} on {cuda.get_current_device().name.decode()}", "",
             "| task | CPU kernel (s) | numba.cuda (s) | torch batched (s) |", "|---|---|---|---|"]

    # recovery OMP
    n, d, m, k = 167_726 // scale, 100, 500, 15
    D = rng.standard_normal((d, m)).astype(np.float32)
    Y = rng.standard_normal((n, d)).astype(np.float32)
    gram, dty = D.T @ D, Y @ D
    check = slice(0, 2000)
    cpu_codes = omp_cpu.omp_gram(gram, dty[check], k)
    gpu_codes = gpu.omp_gram(gram, dty[check], k)
    agree = np.mean(cpu_codes[0] == gpu_codes[0])
    gram_d, dty_d = cuda.to_device(gram), cuda.to_device(dty)
    t_cpu = median_seconds(lambda: omp_cpu.omp_gram(gram, dty, k), args.repeats)
    t_gpu = median_seconds(lambda: gpu.omp_gram(gram_d, dty_d, k), args.repeats, sync)
    t_torch = "n/a"
    try:
        import torch

        gram_t, dty_t = torch.as_tensor(gram, device="cuda"), torch.as_tensor(dty, device="cuda")
        t_torch = f"{median_seconds(lambda: torch_omp_gram(gram_t, dty_t, k), args.repeats, torch.cuda.synchronize):.3f}"
    except ImportError:
        pass
    lines.append(f"| OMP n={n} d={d} m={m} k={k} (index agreement {agree:.4f}) | {t_cpu:.3f} | {t_gpu:.3f} | {t_torch} |")

    # SMAF-like iteration: U-step nnlasso over genes + W-step OMP over samples
    genes, samples, modules = 35_238 // scale, 10_000 // scale, 100
    X = np.abs(rng.standard_normal((samples, genes))).astype(np.float32)
    W = np.abs(rng.standard_normal((samples, modules))).astype(np.float32)
    U = np.abs(rng.standard_normal((modules, genes))).astype(np.float32)
    gram_w, cov, norms = W.T @ W, np.ascontiguousarray(X.T @ W), (X.astype(np.float64) ** 2).sum(0)
    coef_cpu = nnlasso_cpu.nnlasso_gram(gram_w, cov[:500], norms[:500], 1.0)[0]
    coef_gpu = gpu.nnlasso_gram(gram_w, cov[:500], norms[:500], 1.0)[0]
    diff = float(np.abs(coef_cpu - coef_gpu).max())

    def smaf_cpu():
        nnlasso_cpu.nnlasso_gram(gram_w, cov, norms, 1.0, max_iter=50)
        omp_cpu.omp_direct(U, X, 10)

    arrays = [cuda.to_device(a) for a in (gram_w, cov, norms, U, X)]

    def smaf_gpu():
        gpu.nnlasso_gram(arrays[0], arrays[1], arrays[2], 1.0, max_iter=50)
        gpu.omp_direct(arrays[3], arrays[4], 10)

    t_cpu = median_seconds(smaf_cpu, max(1, args.repeats // 2))
    t_gpu = median_seconds(smaf_gpu, max(1, args.repeats // 2), sync)
    lines.append(f"| SMAF-like step {genes} genes × {samples} samples (nnlasso max |Δ| {diff:.1e}) "
                 f"| {t_cpu:.3f} | {t_gpu:.3f} | n/a |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "a", encoding="utf-8") as handle:
        handle.write("\n" + text)


if __name__ == "__main__":
    main()
