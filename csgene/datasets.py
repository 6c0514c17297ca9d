"""Built-in synthetic expression data: the default data of ``csgene run``.

:func:`make_expression` draws a seeded count matrix with the structure that makes compressed
sensing of expression work, or fail, as it does on real RNA-seq. The expected expression of
sample ``i`` is a mixture of a shared baseline profile and a few gene modules::

    mean[i] = library_size[i] * (baseline * profile + activities[i] @ modules)

and the observed counts are negative-binomial around it. Each ingredient, and the parameter
that controls it:

``profile`` (n_genes,)
    Shared by all samples. Gene means are log-normal with a log-scale standard deviation of
    3 (a thousand-fold range between typical high and low genes, as in ARCHS4), summing to 1.
``baseline`` (0 <= baseline < 1)
    The share of each sample's transcripts that comes from the shared profile. It sets how well
    the mean profile alone scores: the per-sample Pearson correlation of a sample with the mean
    profile (``pearson_sample`` of the ``mean`` baseline method) grows with ``baseline``. The
    default 0.6 gives about 0.75 on counts per million, close to a random slice of ARCHS4; 0.9
    gives about 0.9 and leaves little to recover; 0 leaves only the modules.
    ``pearson_sample_centered`` measures what a method recovers beyond this baseline.
``modules`` (n_modules, n_genes)
    Nonnegative and sparse: each module holds exactly ``genes_per_module`` genes, chosen at
    random, so a gene belongs to ``n_modules * genes_per_module / n_genes`` modules on average
    (some to none). A gene's weight in a module is its baseline mean times a log-normal factor
    (log-scale sd 1), so weights are heavy-tailed and a module changes a gene relative to its
    usual level, as biological programmes do. Each row sums to 1. More, smaller modules make the
    dictionary harder to learn; ``n_modules`` far above the number of measurements makes
    recovery from random composites harder.
``activities`` (n_samples, n_modules)
    Exactly ``modules_per_sample`` active modules per sample (more modules per sample: a less
    sparse code, harder to recover from few measurements), drawn without replacement with
    log-normal module popularities so that some programmes are common and some rare. Active
    amplitudes are Gamma(2) and each row sums to ``1 - baseline``.
``library_size`` (n_samples,)
    Log-normal around the median ``library_size`` with log-scale sd ``library_size_spread``
    (sequencing depth varies between samples; normalisation has to undo it).
``counts``
    Gamma–Poisson (negative-binomial) draws with mean ``mean`` and variance
    ``mean + dispersion * mean**2``. Higher ``dispersion`` means noisier biological replicates;
    ``dispersion=0`` gives Poisson (shot) noise only. Lower ``library_size`` means more zeros
    and more shot noise on low genes.

The defaults (2,000 samples x 1,000 genes, 50 modules, 3 per sample) generate in well under a
second and resemble a random 1,000-gene slice of ARCHS4: about 40% zero counts, a mean-profile
Pearson of about 0.75 on counts per million, and over 95% of the centred variance of counts per
million in the top 50 singular vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._random import as_generator
from ._validation import check_positive_float, check_positive_int
from .exceptions import InputError

#: Log-scale standard deviation of the gene means of the shared profile.
GENE_MEAN_LOG_SD = 3.0
#: Log-scale standard deviation of the per-gene factor of module weights.
MODULE_WEIGHT_LOG_SD = 1.0
#: Log-scale standard deviation of module popularities (how unequal module usage is).
MODULE_POPULARITY_LOG_SD = 0.5
#: Shape of the Gamma distribution of active module amplitudes.
ACTIVITY_SHAPE = 2.0


@dataclass
class SyntheticExpression:
    """A synthetic data set and the truth behind it.

    Attributes
    ----------
    counts : ndarray of shape (n_samples, n_genes), float64
        Observed counts (integer values stored as float64).
    mean : ndarray of shape (n_samples, n_genes)
        Expected counts, ``library_size[:, None] * (baseline * profile + activities @ modules)``.
    modules : ndarray of shape (n_modules, n_genes)
        True nonnegative sparse gene modules; each row sums to 1.
    activities : ndarray of shape (n_samples, n_modules)
        True sparse nonnegative module activities; each row sums to ``1 - baseline``.
    profile : ndarray of shape (n_genes,)
        Shared baseline profile (sums to 1).
    baseline : float
        Share of each sample's expression that comes from ``profile``.
    library_size : ndarray of shape (n_samples,)
        Expected total count of each sample.
    gene_names, sample_names : list of str
        ``"gene0000"``... and ``"sample0000"``...
    """

    counts: np.ndarray
    mean: np.ndarray
    modules: np.ndarray
    activities: np.ndarray
    profile: np.ndarray
    baseline: float
    library_size: np.ndarray
    gene_names: list[str]
    sample_names: list[str]

    @property
    def proportions(self) -> np.ndarray:
        """Expected expression per unit library size, ``mean / library_size[:, None]``."""
        return self.mean / self.library_size[:, None]


def make_expression(
    n_samples: int = 2000,
    n_genes: int = 1000,
    n_modules: int = 50,
    *,
    genes_per_module: int | None = None,
    modules_per_sample: int = 3,
    baseline: float = 0.6,
    dispersion: float = 0.2,
    library_size: float = 1e5,
    library_size_spread: float = 1.0,
    random_state=0,
) -> SyntheticExpression:
    """Draw seeded modular expression counts (see the module docstring for the model).

    Parameters
    ----------
    n_samples, n_genes, n_modules : int
        Shapes.
    genes_per_module : int, optional
        Genes in each module; default 5% of ``n_genes`` (at least 1).
    modules_per_sample : int
        Active modules in each sample, at most ``n_modules``.
    baseline : float in [0, 1)
        Share of every sample's expression taken from the shared profile.
    dispersion : float >= 0
        Negative-binomial dispersion: variance = mean + dispersion * mean**2.
    library_size : float > 0
        Median expected total count per sample.
    library_size_spread : float >= 0
        Log-scale standard deviation of library sizes.
    random_state : int, numpy Generator/RandomState or None
        Seed; the same seed gives the same data.

    Returns
    -------
    SyntheticExpression

    Examples
    --------
    >>> from csgene.datasets import make_expression
    >>> data = make_expression(200, 300, 10, random_state=1)
    >>> data.counts.shape, data.modules.shape, data.activities.shape
    ((200, 300), (10, 300), (200, 10))
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    n_genes = check_positive_int(n_genes, "n_genes")
    n_modules = check_positive_int(n_modules, "n_modules")
    if genes_per_module is None:
        genes_per_module = max(1, round(0.05 * n_genes))
    genes_per_module = check_positive_int(genes_per_module, "genes_per_module", maximum=n_genes)
    modules_per_sample = check_positive_int(modules_per_sample, "modules_per_sample", maximum=n_modules)
    baseline = check_positive_float(baseline, "baseline", allow_zero=True)
    if baseline >= 1:
        raise InputError(
            f"baseline must be in [0, 1) (the share of expression from the shared profile), got "
            f"{baseline}; use e.g. 0.6, and leave some expression to the modules."
        )
    dispersion = check_positive_float(dispersion, "dispersion", allow_zero=True)
    library_size = check_positive_float(library_size, "library_size")
    library_size_spread = check_positive_float(library_size_spread, "library_size_spread", allow_zero=True)
    rng = as_generator(random_state)

    profile = _draw_profile(rng, n_genes)
    modules = _draw_modules(rng, profile, n_modules, genes_per_module)
    activities = _draw_activities(rng, n_samples, n_modules, modules_per_sample, 1.0 - baseline)
    libraries = library_size * rng.lognormal(0.0, library_size_spread, size=n_samples)
    mean = libraries[:, None] * (baseline * profile + activities @ modules)
    counts = _negative_binomial(rng, mean, dispersion)
    return SyntheticExpression(
        counts=counts,
        mean=mean,
        modules=modules,
        activities=activities,
        profile=profile,
        baseline=baseline,
        library_size=libraries,
        gene_names=[f"gene{j:04d}" for j in range(n_genes)],
        sample_names=[f"sample{i:04d}" for i in range(n_samples)],
    )


def _draw_profile(rng: np.random.Generator, n_genes: int) -> np.ndarray:
    """Heavy-tailed shared gene means, summing to 1."""
    profile = rng.lognormal(0.0, GENE_MEAN_LOG_SD, size=n_genes)
    return profile / profile.sum()


def _draw_modules(
    rng: np.random.Generator, profile: np.ndarray, n_modules: int, genes_per_module: int
) -> np.ndarray:
    """Sparse nonnegative modules: exactly ``genes_per_module`` genes each, rows summing to 1."""
    n_genes = profile.size
    members = np.argpartition(rng.random((n_modules, n_genes)), genes_per_module - 1, axis=1)
    members = members[:, :genes_per_module]
    modules = np.zeros((n_modules, n_genes))
    factors = rng.lognormal(0.0, MODULE_WEIGHT_LOG_SD, size=members.shape)
    np.put_along_axis(modules, members, profile[members] * factors, axis=1)
    return modules / modules.sum(axis=1, keepdims=True)


def _draw_activities(
    rng: np.random.Generator, n_samples: int, n_modules: int, per_sample: int, total: float
) -> np.ndarray:
    """Exactly ``per_sample`` active modules per row, rows summing to ``total``."""
    popularity = np.log(rng.lognormal(0.0, MODULE_POPULARITY_LOG_SD, size=n_modules))
    # Gumbel top-k: weighted sampling without replacement, vectorised over samples.
    keys = popularity + rng.gumbel(size=(n_samples, n_modules))
    active = np.argpartition(-keys, per_sample - 1, axis=1)[:, :per_sample]
    amplitudes = rng.gamma(ACTIVITY_SHAPE, 1.0, size=active.shape)
    activities = np.zeros((n_samples, n_modules))
    np.put_along_axis(activities, active, amplitudes, axis=1)
    return activities * (total / activities.sum(axis=1, keepdims=True))


def _negative_binomial(rng: np.random.Generator, mean: np.ndarray, dispersion: float) -> np.ndarray:
    """Gamma–Poisson counts with variance ``mean + dispersion * mean**2`` (Poisson when 0)."""
    rate = rng.gamma(1.0 / dispersion, mean * dispersion) if dispersion > 0 else mean
    return rng.poisson(rate).astype(np.float64)
