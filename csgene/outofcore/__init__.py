"""Out-of-core fitting: learn a model from an expression file larger than memory.

:func:`fit_file` streams blocks of samples from an ARCHS4-layout HDF5 file (generation 1 or 2),
applies the preprocessing block by block, and fits the SVD dictionary, the Gaussian prior,
sparse NMF (``solver="bcd"``) or SMAF from sums over samples, pass by pass, with a checkpoint after each pass and a progress
bar per pass. The result is a normal :class:`~csgene.pipeline.CompressedSensing` model.

* :mod:`csgene.outofcore.smaf` -- batch SMAF, one pass per iteration, equal to the in-memory fit.
* :mod:`csgene.outofcore.snmf` -- sparse NMF by alternating an exact lasso W-step and Mairal et
  al.'s H-step from sums, one pass per outer iteration, equal to the in-memory ``solver="bcd"``.
* :mod:`csgene.outofcore.lowrank` -- subspace iteration (Halko et al. 2011) for the SVD
  dictionary and the Gaussian backgrounds of the priors.
* :mod:`csgene.outofcore.fit` -- the preprocessing, the model and :func:`fit_file`.

On a Dask cluster, pass ``executor=csgene.distributed.BlockExecutor(client)`` (or call
:func:`csgene.distributed.fit_file`): workers compute per-block sums, the driver adds them in
block order, so the model is the one-process model.

>>> from csgene.outofcore import fit_file
>>> model = fit_file("human_gene_v2.2.h5", method="smaf", n_measurements=100,
...                  random_state=0, checkpoint="smaf.ckpt.npz")       # doctest: +SKIP
>>> model.save("smaf.h5")                                               # doctest: +SKIP
"""

from ._passes import BlockStream, Checkpoint, LocalExecutor, PassJob
from .fit import STREAMED_METHODS, fit_file

__all__ = ["STREAMED_METHODS", "BlockStream", "Checkpoint", "LocalExecutor", "PassJob", "fit_file"]
