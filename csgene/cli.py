"""The ``csgene`` command (also ``python -m csgene``).

Subcommands: ``run`` (the seed paper's experiment), ``fit``, ``design``, ``simulate``,
``recover``, ``info``, ``plot``. Errors caused by input print one line and exit with status 2;
``--verbose`` shows the traceback. The global flags (``--quiet``, ``--verbose``) go before or
after the subcommand. Warnings (Python's and csgene's) are logged as one line each,
``csgene: warning: ...``, without source paths, and ``--quiet`` silences them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np

from ._device import DEVICE_HELP, DEVICES
from ._version import __version__
from ._random import MAX_SEED, check_seed
from ._validation import check_snr
from .exceptions import CsgeneError, InputError


ALLOW_NEGATIVE = ("--allow-negative",)
ALLOW_NEGATIVE_HELP = "accept negative values (log-ratios, centred data; with --preprocess none or minmax)"
SEED_HELP = f"random seed, 0 to {MAX_SEED}: the same seed gives the same result"
PREPROCESS_HELP = "minmax, log1p, log1p-cpm, clip99, none, or chains like clip99+log1p"
SNR_HELP = "signal-to-noise ratio of the measurement noise; inf = no noise"
SAMPLES_HELP = "use a random subset of this many samples (default: all)"
GENES_HELP = "use a random subset of this many genes (default: all)"

log = logging.getLogger("csgene")


class HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default after its help, unless the help already says it.

    Defaults of None (nothing chosen) and False (a flag left off) are not shown. Descriptions
    and epilogs with line breaks (tables of methods) are kept as written; others are wrapped.
    """

    def _fill_text(self, text, width, indent):
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("default" in text or default is None or default is False or default == argparse.SUPPRESS
                or not action.option_strings
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _name_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _seed(text: str) -> int:
    try:
        return check_seed(int(text))
    except (ValueError, InputError):
        raise argparse.ArgumentTypeError(f"a seed is an integer from 0 to {MAX_SEED}, got {text!r}") from None


def _library_size(text: str):
    if text == "mean":
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number or 'mean', got {text!r}")
    return value


def _snr(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"SNR must be a number or 'inf', got {text!r}") from None
    try:
        return check_snr(value)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("snr must", "SNR must")) from None


# --------------------------------------------------------------------------- subcommands


def cmd_run(args) -> int:
    from .experiment import ExperimentConfig, run_experiment
    from .results import format_table, summarize
    from .methods import default_methods

    config = ExperimentConfig(
        data=args.data,
        methods=args.methods or list(default_methods()),
        measurements=args.measurements,
        repeats=args.repeats,
        samples=args.samples,
        genes=args.genes,
        snr=args.snr,
        seed=args.seed,
        preprocess=args.preprocess,
        sparsity=args.sparsity,
        modules=args.modules,
        design=args.design,
        design_options=_design_options(args),
        test_fraction=args.test_fraction,
        device=args.device,
        allow_negative=args.allow_negative,
        **_selection(args),
    )
    rows = run_experiment(config, args.out, quiet=args.quiet)
    summary = summarize(rows)
    for metric in ("pearson_sample", "pearson_sample_centered", "distance_corr", "pearson_gene"):
        print(format_table(summary, metric))
        print()
    failed = sorted({r["method"] for r in rows if r.get("error")})
    if failed:
        print(f"methods with errors (see the error column of results.csv): {', '.join(failed)}")
    print(f"results: {Path(args.out) / 'results.csv'}  summary: {Path(args.out) / 'summary.csv'}  "
          f"plots: {Path(args.out)}/*.png")
    return 0


def cmd_fit(args) -> int:
    from . import io
    from .methods import SAVABLE_METHODS
    from .pipeline import CompressedSensing

    _refuse_overwriting_inputs(args.out, args.data, getattr(args, "design_file", None))
    if args.method not in SAVABLE_METHODS:  # say so before a long fit, not after it
        raise InputError(f"method {args.method!r} cannot be saved to a model file; `csgene fit` takes "
                         f"{', '.join(SAVABLE_METHODS)}. Use it from `csgene run` or the library.")

    if _fit_out_of_core_wanted(args):
        return _fit_out_of_core(args)
    data = io.read(args.data, n_samples=args.samples, n_genes=args.genes, random_state=args.seed,
                   dtype=np.float64, allow_negative=args.allow_negative,
                   **io.selection_arguments(**_selection(args)))
    design = _design_arg(args, data.gene_names)
    model = CompressedSensing(
        args.method, n_measurements=args.measurements if isinstance(design, str) else design.shape[0],
        design=design,
        preprocess=args.preprocess, n_modules=args.modules, sparsity=args.sparsity, snr=args.snr,
        random_state=args.seed, device=args.device, design_options=_design_options(args) or None,
    )
    with _progress_bars(enabled=not args.quiet):
        model.fit(data.X, gene_names=data.gene_names, provenance=_data_provenance(args))
    path = model.save(args.out)
    print(f"model ({args.method}, {data.X.shape[0]} training samples × {data.X.shape[1]} genes, "
          f"{model.design_.shape[0]} measurements) written to {path}")
    return 0


def _data_provenance(args) -> dict:
    """What a model file records about its training data: the file, its fingerprint, the subset."""
    from .io import file_fingerprint

    path = Path(args.data)
    provenance = {"data_file": str(path.resolve())}
    if path.is_file():
        fingerprint = file_fingerprint(path)
        provenance.update(data_sha256=fingerprint["sha256"], data_fingerprint=fingerprint["hashed"],
                          data_bytes=fingerprint["size"])
    provenance.update(samples_requested=args.samples, genes_requested=args.genes, seed=args.seed)
    if getattr(args, "design_file", None):
        from .design import read_design_provenance

        made = read_design_provenance(args.design_file) or {}
        provenance.update(design_file=str(Path(args.design_file).resolve()),
                          design_kind=made.get("kind", "not recorded"))
    return provenance


@contextlib.contextmanager
def _progress_bars(enabled: bool = True):
    """tqdm bars on stderr for the ``csgene._progress`` reports made inside the block."""
    if not enabled:
        yield
        return
    from tqdm.auto import tqdm

    from ._progress import listening

    bars: dict = {}

    def show(task: str, done: int, total: int) -> None:
        bar = bars.get(task)
        if bar is None:
            bar = bars[task] = tqdm(total=total, desc=task, position=len(bars), leave=True, file=sys.stderr,
                                    dynamic_ncols=True)
        bar.total = total
        bar.update(done - bar.n)

    try:
        with listening(show):
            yield
    finally:
        for bar in bars.values():
            bar.close()


#: `csgene fit` streams an HDF5 file by itself when its float64 matrix exceeds this share of free memory
AUTO_OUT_OF_CORE_SHARE = 0.5


def _fit_out_of_core_wanted(args) -> bool:
    """--out-of-core or --block-size; or, for an HDF5 file too large for memory, automatically."""
    from .outofcore import STREAMED_METHODS

    asked = args.out_of_core or args.block_size is not None
    if asked:
        clashing = [flag for flag, value in (("--samples", args.samples), ("--genes", args.genes),
                                             ("--design-file", args.design_file)) if value is not None]
        clashing += ["--" + name.replace("_", "-") for name, value in _selection(args).items() if value]
        if clashing:
            raise InputError(f"an out-of-core fit uses every sample and gene of the file with a drawn design; "
                             f"drop {', '.join(clashing)} or drop --out-of-core/--block-size.")
        return True
    from .design import is_learned

    if (not _is_hdf5(args.data) or args.method not in STREAMED_METHODS or args.samples or args.genes
            or args.design_file or any(_selection(args).values()) or is_learned(args.design)
            or not Path(args.data).is_file()):
        return False
    from .io import BlockReader

    try:
        with BlockReader(args.data) as reader:
            needed = 8 * reader.n_samples * reader.n_genes
    except CsgeneError:
        return False  # not an ARCHS4-layout file: the in-memory reader says what is wrong
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return False
    if needed <= AUTO_OUT_OF_CORE_SHARE * free:
        return False
    log.warning("%s holds %.1f GB as float64, more than half the free memory (%.1f GB): fitting out of core "
                "(as with --out-of-core)", args.data, needed / 1e9, free / 1e9)
    return True


def _fit_out_of_core(args) -> int:
    from .outofcore import fit_file

    checkpoint = args.checkpoint or f"{args.out}.checkpoint.npz"
    kwargs = dict(method=args.method, n_measurements=args.measurements, design=args.design,
                  preprocess=args.preprocess, n_modules=args.modules, sparsity=args.sparsity, snr=args.snr,
                  random_state=args.seed, device=args.device, block_size=args.block_size, dtype=args.dtype,
                  n_passes=args.passes, checkpoint=checkpoint, resume=not args.no_resume)
    try:
        if args.scheduler:
            from . import distributed

            client = distributed.connect(args.scheduler)
            try:
                model = distributed.fit_file(client, args.data, **kwargs)
            finally:
                client.close()
        else:
            model = fit_file(args.data, progress=not args.quiet, **kwargs)
    except KeyboardInterrupt:
        if Path(checkpoint).exists():
            log.warning("interrupted; finished passes are in %s: run the same command again to resume", checkpoint)
        raise
    path = model.save(args.out)
    print(f"model ({args.method}, out of core: {len(model.gene_names_)} genes, "
          f"{model.design_.shape[0]} measurements) written to {path}")
    return 0


def _out_of_core_flags(parser) -> None:
    from .outofcore import STREAMED_METHODS

    group = parser.add_argument_group(
        "out of core (HDF5 files larger than memory; automatic when the matrix exceeds half the free memory)",
        f"methods: {', '.join(STREAMED_METHODS)} (snmf out of core is SparseNMF(solver='bcd'), one pass per "
        f"outer iteration, instead of the in-memory multiplicative updates). Blocks of samples are streamed "
        f"pass by pass; a checkpoint after each pass lets the same command resume after a kill.")
    group.add_argument("--out-of-core", action="store_true", help="stream the file in blocks of samples")
    group.add_argument("--block-size", type=int, help="samples per block (implies --out-of-core; default ~256 MB)")
    group.add_argument("--passes", type=int, default=4,
                       help="subspace-iteration passes of the SVD and Gaussian parts (default 4)")
    group.add_argument("--dtype", default="float64", choices=("float64", "float32"),
                       help="arithmetic of the blocks (float32: half the memory)")
    group.add_argument("--checkpoint", help="checkpoint file (default OUT.checkpoint.npz; removed when done)")
    group.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint and start over")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="Dask scheduler address (tcp://host:8786): compute the blocks on that cluster")


def _design_arg(args, gene_names):
    if getattr(args, "design_file", None):
        from .design import read_design_csv

        A, _ = read_design_csv(args.design_file, gene_names=gene_names)
        return A
    return args.design


def cmd_design(args) -> int:
    from .design import is_learned, make_design, write_design_csv

    inputs = [args.genes_from, args.learn]
    _refuse_overwriting_inputs(args.out, *inputs)
    options = _design_options(args)
    if is_learned(args.kind):
        if not args.learn:
            raise InputError(f"design {args.kind!r} is learned from training profiles: add --learn DATA "
                             f"(a data file of training samples, any format `csgene run --data` takes).")
        from . import io
        from .io import file_fingerprint
        from .preprocess import make_preprocessor

        data = io.read(args.learn, n_samples=args.samples, random_state=args.seed, dtype=np.float64,
                       allow_negative=args.allow_negative)
        gene_names = data.gene_names
        X_train = make_preprocessor(args.preprocess).fit_transform(data.X)
        A = make_design(args.kind, args.measurements, random_state=args.seed, X_train=X_train, snr=args.snr,
                        **options)
        provenance = {"kind": args.kind, "options": options, "snr": _json_float(args.snr), "seed": args.seed,
                      "space": args.preprocess, "learned_from": str(args.learn),
                      "learned_from_fingerprint": file_fingerprint(args.learn),
                      "n_training_samples": int(data.X.shape[0])}
    else:
        if not (args.genes_from or args.learn):
            raise InputError("give the genes the design covers: --genes-from FILE (a data or model file).")
        gene_names = _genes_from(args.genes_from or args.learn)
        A = make_design(args.kind, args.measurements, len(gene_names), random_state=args.seed, **options)
        provenance = {"kind": args.kind, "options": options, "seed": args.seed,
                      "genes_from": str(args.genes_from or args.learn)}
    write_design_csv(args.out, A, [str(name) for name in gene_names], provenance=provenance)
    print(f"{args.kind} design with {A.shape[0]} composites over {A.shape[1]} genes written to {args.out} "
          f"(how it was made: {args.out}.json)")
    return 0


def _json_float(value: float):
    return "inf" if np.isinf(value) else value


def _design_options(args) -> dict:
    """The design options given on the command line (flags left unset are not passed)."""
    names = ("pools_per_gene", "max_genes_per_pool", "max_weight_ratio", "nonnegative_basis", "n_candidates")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _genes_from(path):
    from . import io

    if str(path).endswith((".h5", ".hdf5")):
        try:
            from .pipeline import CompressedSensing

            return CompressedSensing.load(path).gene_names_
        except CsgeneError:
            pass
    return np.asarray(io.read(path).gene_names)


def _refuse_overwriting_inputs(out, *inputs) -> None:
    """An output that would replace one of the command's own inputs is refused."""
    for path in inputs:
        if path and Path(path).exists() and Path(out).exists() and Path(out).resolve() == Path(path).resolve():
            raise InputError(f"--out {str(out)!r} is also an input of this command ({path}); writing it would "
                             f"destroy that input. Choose another --out.")


def _is_hdf5(path) -> bool:
    return str(path).endswith((".h5", ".hdf5"))


def _streaming(args, function_name, *positional, **kwargs):
    """Run a block-streaming function of csgene.scale, or of csgene.distributed on a cluster."""
    if args.scheduler:
        from . import distributed

        client = distributed.connect(args.scheduler)
        try:
            return getattr(distributed, function_name)(client, *positional, **kwargs)
        finally:
            client.close()
    from . import scale

    return getattr(scale, function_name)(*positional, progress=not args.quiet, **kwargs)


def cmd_simulate(args) -> int:
    from . import io
    from .design import read_design_csv, read_design_provenance
    from .measure import design_fingerprint, measure

    _refuse_overwriting_inputs(args.out, args.data, args.model, args.design_file)
    if args.model and _is_hdf5(args.data) and _is_hdf5(args.out) and not any(_selection(args).values()):
        from .pipeline import CompressedSensing

        model = CompressedSensing.load(args.model)
        path = _streaming(args, "simulate_file", model, args.data, args.out, snr=args.snr,
                          random_state=args.seed, block_size=args.block_size, overwrite=args.overwrite)
        print(f"measurements written block by block to {path}")
        return 0
    data = io.read(args.data, dtype=np.float64, allow_negative=args.allow_negative,
                   **io.selection_arguments(**_selection(args)))
    if args.model:
        from .pipeline import CompressedSensing

        model = CompressedSensing.load(args.model)
        Y = model.measure(data.X, snr=args.snr, gene_names=data.gene_names, random_state=args.seed)
        marks = model.measurement_marks()
    elif args.design_file:
        A, names = read_design_csv(args.design_file, gene_names=data.gene_names)
        space = (read_design_provenance(args.design_file) or {}).get("space", "none")
        if space != "none":
            log.warning("%s was learned for %s-transformed profiles but --design-file applies it to the raw "
                        "values; to measure as it was learned, fit a model with it (`csgene fit --design-file`) "
                        "and simulate with --model.", args.design_file, space)
        Y = measure(data.X, A, snr=args.snr, random_state=args.seed)
        marks = {"csgene_design_sha256": design_fingerprint(A), "csgene_space": "none"}  # of the raw data
    else:
        raise InputError("simulate needs --model MODEL.h5 or --design-file DESIGN.csv.")
    if str(args.out).endswith(".npy"):
        log.warning("a .npy file cannot record which design made the measurements, so `csgene recover` "
                    "cannot check it; prefer .csv, .npz or .h5")
    out = io.ExpressionData(
        X=Y, gene_names=np.array([f"m{i + 1}" for i in range(Y.shape[1])]),
        sample_names=np.asarray(data.sample_names), source=str(args.data), layout="measurements", attrs=marks,
        obs=data.obs,
    )
    io.write(args.out, out)
    print(f"{Y.shape[0]} samples × {Y.shape[1]} measurements written to {args.out}")
    return 0


def cmd_recover(args) -> int:
    from . import io
    from .pipeline import CompressedSensing

    _refuse_overwriting_inputs(args.out, args.model, args.measurements)
    model = CompressedSensing.load(args.model)
    if _is_hdf5(args.measurements) and _is_hdf5(args.out):
        path = _streaming(args, "recover_file", model, args.measurements, args.out, space=args.space,
                          block_size=args.block_size, compression=args.compression, overwrite=args.overwrite,
                          library_size=args.library_size)
        print(f"recovered profiles written block by block to {path}")
        return 0
    measured = io.read(args.measurements, dtype=np.float64, allow_negative=True)
    X_hat = model.recover(measured, space=args.space, library_size=args.library_size)  # checks its design
    out = io.ExpressionData(X=X_hat, gene_names=model.gene_names_,
                            sample_names=np.asarray(measured.sample_names), source=str(args.measurements),
                            layout="recovered", obs=measured.obs)
    io.write(args.out, out)
    print(f"{X_hat.shape[0]} samples × {X_hat.shape[1]} genes recovered to {args.out}")
    return 0


def cmd_info(args) -> int:
    path = Path(args.file)
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        from .pipeline import MODEL_FORMAT, CompressedSensing

        try:
            with h5py.File(path, "r") as fh:
                is_model = fh.attrs.get("format") == MODEL_FORMAT
                bounds = fh.attrs.get("recovery_bounds", "none recorded (the file predates them; refit)")
        except OSError:
            is_model = False
        if is_model:
            model = CompressedSensing.load(path)
            print(f"csgene model file {path}")
            print(f"  written by csgene {model.csgene_version_} (this is csgene {__version__})")
            for line in _provenance_lines(model.provenance_):
                print(f"  {line}")
            for key, value in model.get_params().items():
                print(f"  {key}: {value}")
            print(f"  genes: {len(model.gene_names_)} ({', '.join(model.gene_names_[:5])}, ...)")
            print(f"  design: {model.design_.shape[0]} measurements × {model.design_.shape[1]} genes")
            components = getattr(model.method_, "components_", None)
            if components is not None:
                print(f"  dictionary: {components.shape[0]} modules × {components.shape[1]} genes")
            print(f"  recovery bounds: {bounds}")
            return 0
    from . import io

    print(cli_wording(str(io.describe(path))))
    return 0


def _provenance_lines(provenance: dict) -> list[str]:
    """``csgene info``'s lines about where a model was trained (none recorded: say so)."""
    if not provenance:
        return ["trained on: not recorded (the file predates provenance records; refit to record it)"]
    lines = []
    if provenance.get("data_file"):
        lines.append(f"trained on: {provenance['data_file']}")
    if provenance.get("data_sha256"):
        kind = provenance.get("data_fingerprint", "whole")
        how = "of the whole file" if kind == "whole" else "of sampled blocks, with size and mtime"
        lines.append(f"data fingerprint: sha256 {provenance['data_sha256']} ({how})")
    if "n_train" in provenance:
        lines.append(f"training size: {provenance['n_train']} samples × {provenance.get('n_genes', '?')} genes")
    subset = [f"{key.split('_')[0]} {provenance[key]}" for key in ("samples_requested", "genes_requested")
              if provenance.get(key) is not None]
    if subset:
        lines.append(f"random subset: {', '.join(subset)} (seed {provenance.get('seed')})")
    if provenance.get("fitted_at"):
        lines.append(f"fitted at: {provenance['fitted_at']}")
    if provenance.get("design_file"):
        lines.append(f"design file: {provenance['design_file']} ({provenance.get('design_kind', 'not recorded')})")
    return lines


def cmd_plot(args) -> int:
    from .plot import plot_gene_modules, plot_results

    if args.heatmap:
        from . import io

        data = io.read(args.heatmap, n_samples=args.samples, n_genes=args.genes, random_state=args.seed,
                       dtype=np.float64, allow_negative=args.allow_negative,
                       **io.selection_arguments(**_selection(args)))
        out = plot_gene_modules(data.X, args.out or "gene_modules.png", max_genes=args.max_genes,
                                title=f"{Path(args.heatmap).name}, {data.X.shape[1]} genes read")
        print(f"heatmap written to {out}")
        return 0
    if not args.results:
        raise InputError("give a results directory (csgene plot DIR) or --heatmap DATA.")
    from .results import read_results

    results = Path(args.results) / "results.csv"
    if not results.exists():
        raise InputError(f"{results} does not exist; run `csgene run --out {args.results}` first.")
    written = plot_results(read_results(results), Path(args.results))
    for path in written:
        print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------- parser


#: the selection flags and the ExperimentConfig / csgene.io.selection_arguments names they set
SELECTION_FLAGS = {"samples_from": "--samples-from", "genes_from": "--genes-from", "search": "--search",
                   "series": "--series", "layer": "--layer"}


def _selection_flags(parser) -> None:
    group = parser.add_argument_group("selecting samples and genes of the data file")
    group.add_argument("--samples-from", metavar="FILE",
                       help="read only the samples listed in FILE (GSM ids or sample names, one per line)")
    group.add_argument("--genes-from", metavar="FILE",
                       help="read only the genes listed in FILE (gene symbols, one per line)")
    group.add_argument("--search", metavar="TEXT",
                       help="ARCHS4 files: read only the samples whose title, source name or characteristics "
                       "contain TEXT (case ignored), e.g. --search myoblast")
    group.add_argument("--series", metavar="GSE[,GSE...]",
                       help="ARCHS4 files: read only the samples of these GEO series")
    group.add_argument("--layer", metavar="NAME",
                       help="AnnData (.h5ad) files: read this layer instead of X (e.g. counts)")


def _selection(args) -> dict:
    return {name: getattr(args, name, None) for name in SELECTION_FLAGS}


def _streaming_flags(parser) -> None:
    group = parser.add_argument_group(
        "streaming (HDF5 input and .h5 output are processed block by block, resumably)")
    group.add_argument("--block-size", type=int, help="samples per block (default: blocks of about 256 MB)")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="Dask scheduler address (tcp://host:8786): run the blocks on that cluster")
    group.add_argument("--overwrite", action="store_true", help="replace an existing output file")


#: Design options on the command line: flag -> argparse settings (dest is the design's keyword).
_DESIGN_OPTION_FLAGS = {
    "--pools-per-gene": dict(type=int, dest="pools_per_gene",
                             help="binary-pools, learned-pools, best-of-random-pools: composites each "
                                  "gene enters (default 3)"),
    "--max-genes-per-pool": dict(type=int, dest="max_genes_per_pool",
                                 help="learned-pools, best-of-random-pools: largest pool (default: no limit)"),
    "--max-weight-ratio": dict(type=float, dest="max_weight_ratio",
                               help="learned: cap on a composite's largest / smallest nonzero weight "
                                    "(default: none)"),
    "--nonnegative-basis": dict(choices=("split", "offset"), dest="nonnegative_basis",
                                help="learned: mixtures as positive and negative parts of directions (split, "
                                     "robust to pipetting error) or directions plus a common offset "
                                     "(default: split)"),
    "--candidates": dict(type=int, dest="n_candidates",
                         help="best-of-random-pools: random designs scored (default 2000, as CISI)"),
}


def _design_flags(parser) -> None:
    from .design import DESIGNS

    parser.add_argument("--design", default="gaussian", metavar="KIND",
                        help="measurement design, one of " + "; ".join(
                            f"{name}: {entry.description}" for name, entry in DESIGNS.items()))
    group = parser.add_argument_group("design options (each applies to the designs named)")
    for flag, settings in _DESIGN_OPTION_FLAGS.items():
        group.add_argument(flag, **settings)


class _SubParser(argparse.ArgumentParser):
    """Subcommand parsers: defaults shown in their help."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def _global_flags(parser, argparse_default) -> None:
    """--verbose and --quiet, on the main parser (before the subcommand) and on every subcommand.

    On the subcommands their default is SUPPRESS, so a flag given before the subcommand is not
    reset by the subcommand's parser.
    """
    parser.add_argument("--verbose", "-v", action="store_true", default=argparse_default,
                        help="show tracebacks of errors and debug logs")
    parser.add_argument("--quiet", "-q", action="store_true", default=argparse_default,
                        help="no progress bars and no warnings (errors are still shown)")


def build_parser() -> argparse.ArgumentParser:
    from .experiment import ExperimentConfig
    from .design import DESIGNS
    from .methods import METHODS, REFERENCE_METHODS, describe_methods

    defaults = ExperimentConfig()
    parser = argparse.ArgumentParser(
        prog="csgene",
        description="Compressed sensing of gene expression: recover whole profiles from a few "
        "composite measurements.",
        epilog="Global flags (--quiet, --verbose) go before or after the subcommand. "
        "`csgene COMMAND --help` shows a subcommand's options.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"csgene {__version__}")
    _global_flags(parser, argparse_default=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_flags(common, argparse_default=argparse.SUPPRESS)  # after the subcommand too
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_SubParser)
    sub.required = True

    run = sub.add_parser("run", parents=[common], help="the seed paper's experiment (methods × d × repeats)",
                         description="Sweep methods × measurement counts × repeats; write results.csv,\n"
                         "summary.csv, run.json and plots to --out. Re-running the same command resumes.",
                         epilog="methods:\n" + describe_methods())
    run.add_argument("--data", help="data file (ARCHS4 .h5, .h5ad, .csv/.tsv(.gz), .npy/.npz); "
                     "default: built-in synthetic data")
    run.add_argument("--methods", type=_name_list,
                     help=f"comma list of the methods below (default: all available but "
                          f"{', '.join(REFERENCE_METHODS)})")
    run.add_argument("--measurements", type=_int_list, default=defaults.measurements,
                     help="comma list of d (default 20,50,100,200,300)")
    run.add_argument("--repeats", type=int, default=defaults.repeats, help="train/test splits (default 3)")
    run.add_argument("--samples", type=int, help="random subset of samples (synthetic: number generated)")
    run.add_argument("--genes", type=int, help="random subset of genes (synthetic: number generated)")
    run.add_argument("--snr", type=_snr, default=defaults.snr, help=SNR_HELP)
    run.add_argument("--seed", type=_seed, default=defaults.seed, help=SEED_HELP + " (splits, designs, noise)")
    run.add_argument("--preprocess", default=defaults.preprocess, help=PREPROCESS_HELP)
    run.add_argument("--sparsity", type=int, default=defaults.sparsity, help="active modules per sample k (default 15)")
    run.add_argument("--modules", type=int, help="dictionary size (default min(1.5·n_train, 150))")
    _design_flags(run)
    run.add_argument("--test-fraction", type=float, default=defaults.test_fraction,
                     help="fraction of the samples held out for testing in each repeat")
    run.add_argument("--device", default=defaults.device, choices=DEVICES, help=DEVICE_HELP)
    run.add_argument(*ALLOW_NEGATIVE, action="store_true", help=ALLOW_NEGATIVE_HELP)
    run.add_argument("--out", default="csgene-run", help="output directory (default csgene-run)")
    _selection_flags(run)
    run.set_defaults(func=cmd_run)

    fit = sub.add_parser("fit", parents=[common], help="train a model on a data file and save it",
                         description="Fit preprocessing, a method and a design on full profiles and save the "
                         "model (with the data file's fingerprint) for `csgene simulate` and `csgene recover`.")
    fit.add_argument("data", help="training profiles (ARCHS4 .h5, .h5ad, .csv/.tsv(.gz), .npy/.npz), "
                     "samples × genes")
    fit.add_argument("--method", default="smaf", choices=METHODS, metavar="METHOD",
                     help=f"how profiles are modelled and recovered: {', '.join(METHODS)}")
    fit.add_argument("--measurements", type=int, default=100, help="composite measurements d per sample")
    _design_flags(fit)
    fit.add_argument("--design-file", help="use this design CSV (from `csgene design`) instead of drawing one")
    fit.add_argument("--preprocess", default="log1p", help=PREPROCESS_HELP)
    fit.add_argument("--modules", type=int, help="dictionary size (default min(1.5·n_train, 150))")
    fit.add_argument("--sparsity", type=int, default=15, help="active modules per sample k")
    fit.add_argument("--snr", type=_snr, default=float("inf"),
                     help=SNR_HELP + "; the noise the decoders are trained for")
    fit.add_argument("--samples", type=int, help=SAMPLES_HELP)
    fit.add_argument("--genes", type=int, help=GENES_HELP)
    fit.add_argument("--seed", type=_seed, default=0, help=SEED_HELP + " (subset, design, initialisation)")
    fit.add_argument("--device", default="auto", choices=DEVICES, help=DEVICE_HELP)
    fit.add_argument(*ALLOW_NEGATIVE, action="store_true", help=ALLOW_NEGATIVE_HELP)
    fit.add_argument("--out", required=True, help="model file (.h5)")
    _selection_flags(fit)
    _out_of_core_flags(fit)
    fit.set_defaults(func=cmd_fit)

    design = sub.add_parser(
        "design", parents=[common], help="write a measurement design CSV for a lab",
        description="Write a design as CSV (one row per gene, one column per composite) plus DESIGN.csv.json "
        "recording how it was made. Random kinds need only the genes (--genes-from); learned kinds "
        "(learned, learned-pools, landmarks, best-of-random-pools) are learned from training samples "
        "(--learn DATA) in the --preprocess space, for measurements at --snr.")
    design.add_argument("--genes-from", help="data or model file whose genes the design covers (random kinds)")
    design.add_argument("--learn", metavar="DATA", help="training data to learn the design from (learned kinds)")
    design.add_argument("--measurements", type=int, required=True, help="number of composites d")
    design.add_argument("--kind", default="gaussian", metavar="KIND",
                        help=f"one of {', '.join(DESIGNS)}")
    for flag in _DESIGN_OPTION_FLAGS:
        design.add_argument(flag, **_DESIGN_OPTION_FLAGS[flag])
    design.add_argument("--snr", type=_snr, default=2.0,
                        help="learned kinds: SNR the measurements will have")
    design.add_argument("--preprocess", default="log1p",
                        help="learned kinds: the space the design is learned in, as the model's")
    design.add_argument("--samples", type=int, help="learned kinds: random subset of training samples")
    design.add_argument("--seed", type=_seed, default=0, help=SEED_HELP)
    design.add_argument(*ALLOW_NEGATIVE, action="store_true", help=ALLOW_NEGATIVE_HELP)
    design.add_argument("--out", required=True, help="design CSV to write")
    design.set_defaults(func=cmd_design)

    simulate = sub.add_parser("simulate", parents=[common], help="measurements of a full matrix, with noise")
    simulate.add_argument("data", help="full profiles to measure (samples × genes)")
    simulate.add_argument("--model", help="model file: use its preprocessing and design")
    simulate.add_argument("--design-file", help="design CSV applied to the raw data")
    simulate.add_argument("--snr", type=_snr, default=float("inf"), help=SNR_HELP)
    simulate.add_argument("--seed", type=_seed, default=0, help=SEED_HELP + " (the noise)")
    simulate.add_argument("--out", required=True, help="measurements file (.csv, .csv.gz, .npz, .h5)")
    simulate.add_argument(*ALLOW_NEGATIVE, action="store_true", help=ALLOW_NEGATIVE_HELP)
    _selection_flags(simulate)
    _streaming_flags(simulate)
    simulate.set_defaults(func=cmd_simulate)

    recover = sub.add_parser("recover", parents=[common], help="model + measurements → recovered profiles")
    recover.add_argument("model", help="model file from `csgene fit`")
    recover.add_argument("measurements", help="samples × measurements file (e.g. from `csgene simulate`)")
    recover.add_argument("--space", default="original", choices=("original", "preprocessed"),
                         help="units of the profiles: the data's (original) or the model's preprocessed ones")
    recover.add_argument("--out", required=True, help="output file: .csv(.gz), .h5, .h5ad or .npz")
    recover.add_argument("--compression", choices=("gzip", "lzf"), help="HDF5 output compression")
    recover.add_argument("--library-size", type=_library_size, metavar="N|mean",
                         help="log1p-cpm models only: library size of every sample (a number, or 'mean' "
                         "for the training mean) to recover counts; without it, counts per million")
    _streaming_flags(recover)
    recover.set_defaults(func=cmd_recover)

    info = sub.add_parser("info", parents=[common], help="layout, shape, names and values of a data or model file",
                          description="Describe a data file, or a model file: its parameters, the csgene "
                          "version that wrote it and where it was trained (data file, fingerprint, size, date).")
    info.add_argument("file", help="data file or model file (.h5 from `csgene fit`)")
    info.set_defaults(func=cmd_info)

    plot = sub.add_parser("plot", parents=[common], help="re-draw the figures of a run, or a gene-module heatmap")
    plot.add_argument("results", nargs="?", help="directory written by `csgene run`")
    plot.add_argument("--heatmap", metavar="DATA", help="draw a clustered gene–gene correlation heatmap of DATA")
    plot.add_argument("--max-genes", type=int, default=300, help="most variable genes shown in the heatmap")
    plot.add_argument("--samples", type=int, help=SAMPLES_HELP)
    plot.add_argument("--genes", type=int, help=GENES_HELP)
    plot.add_argument("--seed", type=_seed, default=0, help=SEED_HELP + " (the subsets)")
    plot.add_argument("--out", help="heatmap file (default gene_modules.png)")
    plot.add_argument(*ALLOW_NEGATIVE, action="store_true", help=ALLOW_NEGATIVE_HELP)
    _selection_flags(plot)
    plot.set_defaults(func=cmd_plot)
    return parser


#: Library fixes named in messages (keyword arguments) and what a command-line user does instead.
CLI_FIXES = (
    (r" \(or pass resume=False to overwrite it\)", " (or pass --overwrite)"),
    (r"pass make_unique=True to append -1, -2, \.\.\. to repeats, or select the genes you want by index",
     "rename or remove the repeated columns in the file"),
    (r"Rename the file or pass format= \(one of [^)]*\)", "Rename the file with one of these endings"),
    (r"or pass format= to read it as another format", "or rename it with the ending of its real format"),
    (r"pass transpose=True if rows are genes", "transpose the file if rows are genes"),
    (r"device='(\w+)'", r"--device \1"),
    (r"(?<![-\w])(search|series|layer)=(?=\S)", r"--\1 "),
    (r"by name(?: or index)? with samples= instead", "by name with --samples-from FILE instead"),
)
#: Library parameters and the command-line flags that set them.
CLI_FLAGS = {
    "overwrite": "--overwrite", "allow_negative": "--allow-negative", "library_size": "--library-size",
    "n_genes": "--genes", "n_samples": "--samples", "n_measurements": "--measurements",
    "n_components": "--modules", "n_modules": "--modules", "block_size": "--block-size",
    "test_fraction": "--test-fraction", "random_state": "--seed", "preprocess": "--preprocess",
    "sparsity": "--sparsity",
}


def cli_wording(message: str) -> str:
    """A library message with its fixes rewritten as the command-line flags that apply them."""
    for pattern, replacement in CLI_FIXES:
        message = re.sub(pattern, replacement, message)
    for name, flag in CLI_FLAGS.items():
        word = rf"(?<![-\w]){name}"
        message = re.sub(rf"{word}=True\b", flag, message)
        message = re.sub(rf"{word}=None\b", f"no {flag}", message)
        message = re.sub(rf"{word}=(?=\S)", f"{flag} ", message)
        message = re.sub(rf"{word}\b", flag, message)
    return message


def _log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings as csgene log records: one line, no source path, the CLI's wording."""
    text = cli_wording(str(message))
    if category is not UserWarning:
        text = f"{text} ({category.__name__})"
    log.warning(text)


class _LogFormatter(logging.Formatter):
    """``csgene: warning: message`` (lower-case level names, like ``csgene: error:``)."""

    def format(self, record):
        record = logging.makeLogRecord(record.__dict__)
        record.levelname = record.levelname.lower()
        return super().format(record)


@contextlib.contextmanager
def cli_logging(*, verbose: bool = False, quiet: bool = False):
    """Inside the block, csgene's log records and Python warnings go to stderr in one format.

    ``quiet`` keeps errors only (no warnings); ``verbose`` adds debug records. The logger's
    previous state and the warning filters are restored afterwards, so :func:`main` can run
    many times in one process (tests, notebooks).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogFormatter("csgene: %(levelname)s: %(message)s"))
    level, propagate = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.WARNING)
    log.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _log_warning
            if quiet:
                warnings.simplefilter("ignore")
            yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with cli_logging(verbose=args.verbose, quiet=args.quiet):
            return args.func(args)
    except KeyboardInterrupt:
        print("csgene: interrupted; completed results are kept and the same command resumes.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (CsgeneError, OSError) as exc:  # OSError: a path or the disk (permissions, full, ...)
        if args.verbose:
            traceback.print_exc()
        print(f"csgene: error: {cli_wording(str(exc))}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
