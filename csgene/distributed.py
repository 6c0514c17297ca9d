"""The block simulation and recovery of :mod:`csgene.scale`, and out-of-core fits, on a Dask cluster.

:func:`fit_file` is :func:`csgene.outofcore.fit_file` with each pass's blocks computed on the
workers (:class:`BlockExecutor`): every task reads and preprocesses its block and returns that
block's sums; the driver adds them in block order, so the model equals the one-process model.

Each function takes a :class:`dask.distributed.Client` first and otherwise has the signature of
its :mod:`csgene.scale` twin. The model is sent to every worker once
(``client.scatter(model, broadcast=True)``); each task opens the input file itself, computes one
block with Numba and BLAS threads capped so that tasks x threads does not exceed a host's cores,
and returns the block; the driver writes blocks to ``OUT.partial`` as they arrive (so resume,
fingerprints and the final rename behave exactly as in :mod:`csgene.scale`, and the output is
identical to the single-process one). At most ``max_in_flight`` blocks are pending at once, so
the driver's memory stays bounded.

Needs the ``dask`` extra: ``pip install 'csgene[dask]'`` (dask[array] and distributed).

Running on a real cluster
-------------------------
Nothing in csgene changes; only the Client does. The input file must be readable at the same
path from every worker (a shared filesystem), and the output is written by the driver.

* Local machine: ``Client(LocalCluster(n_workers=4, threads_per_worker=1))``. Prefer one thread
  per worker and more worker processes: Numba's default threading layer does not allow two
  threads of one process in parallel regions at once.
* SLURM (dask-jobqueue)::

      from dask_jobqueue import SLURMCluster
      cluster = SLURMCluster(cores=16, processes=16, memory="64GB", walltime="02:00:00")
      cluster.scale(jobs=8)                      # 8 nodes x 16 single-threaded workers
      client = Client(cluster)
      csgene.distributed.recover_file(client, model, "/shared/Y.h5", "/shared/recovered.h5")

* Kubernetes or any running scheduler (dask-kubernetes, Helm chart, ``dask scheduler`` plus
  ``dask worker --nthreads 1 --nworkers 16`` on each node): ``client = Client("tcp://scheduler:8786")``.

Set ``NUMBA_CACHE_DIR`` to a writable shared folder so workers reuse compiled kernels.
"""

from __future__ import annotations

import math
import socket
from collections import deque

from ._optional import require
from .io import PartialWriter
from .scale import DEFAULT_NOISE_BLOCK, plan_recover, plan_simulate, progress_bar, run_block_task

#: default pending blocks per worker thread
IN_FLIGHT_PER_THREAD = 2


class BlockExecutor:
    """Runs the blocks of each pass of an out-of-core fit (:mod:`csgene.outofcore`) on Dask workers.

    Results come back in block order (a reorder buffer on the driver), so sums are added in the
    same order as in one process. At most ``max_in_flight`` blocks are pending or buffered.

    Parameters
    ----------
    client : dask.distributed.Client
    max_in_flight : int, optional
        Default: :data:`IN_FLIGHT_PER_THREAD` per worker thread.
    """

    def __init__(self, client, max_in_flight=None):
        self.client = client
        self.max_in_flight = max_in_flight

    def results(self, job, blocks, inputs):
        """Yield each block's result of ``job`` (a :class:`csgene.outofcore.PassJob`), in block order."""
        distributed = require("distributed", "csgene.distributed (out-of-core fits on Dask)")
        slots = host_slots(self.client)
        limit = self.max_in_flight or max(1, IN_FLIGHT_PER_THREAD * sum(slots.values()))
        job_future = self.client.scatter(job, broadcast=True)
        inputs = iter(inputs)
        futures = distributed.as_completed()
        index_of, ready = {}, {}
        submitted = following = 0
        while following < len(blocks):
            while submitted < len(blocks) and len(index_of) + len(ready) < limit:
                start, stop = blocks[submitted]
                future = self.client.submit(_pass_task, job_future, start, stop, next(inputs), slots, pure=False)
                index_of[future.key] = submitted
                futures.add(future)
                submitted += 1
            if following in ready:
                yield ready.pop(following)
                following += 1
                continue
            future = next(futures)
            ready[index_of.pop(future.key)] = future.result()


def fit_file(client, path, **kwargs):
    """:func:`csgene.outofcore.fit_file` on a Dask cluster (same arguments, ``client`` first).

    The file must be readable at the same path on every worker; the checkpoint is written by
    the driver. ``max_in_flight`` (optional) bounds the blocks pending at once.
    """
    from .outofcore import fit_file as fit_locally

    executor = BlockExecutor(client, kwargs.pop("max_in_flight", None))
    return fit_locally(path, executor=executor, **kwargs)


def simulate_file(client, model, input_path, out, *, snr=math.inf, random_state=0, block_size=None,
                  noise_block=DEFAULT_NOISE_BLOCK, compression=None, resume=True, overwrite=False,
                  progress=None, max_in_flight=None, on_block=None):
    """:func:`csgene.scale.simulate_file` on a Dask cluster (same arguments, ``client`` first)."""
    plan = plan_simulate(model, input_path, out, snr=snr, random_state=random_state, block_size=block_size,
                         noise_block=noise_block, compression=compression, overwrite=overwrite)
    return execute(client, plan, model, resume=resume, progress=progress, max_in_flight=max_in_flight,
                   on_block=on_block)


def recover_file(client, model, measurements_path, out, *, block_size=None, space="original", dtype="float32",
                 compression=None, resume=True, overwrite=False, progress=None, max_in_flight=None, on_block=None,
                 library_size=None):
    """:func:`csgene.scale.recover_file` on a Dask cluster (same arguments, ``client`` first)."""
    plan = plan_recover(model, measurements_path, out, block_size=block_size, space=space, dtype=dtype,
                        compression=compression, overwrite=overwrite, library_size=library_size)
    return execute(client, plan, model, resume=resume, progress=progress, max_in_flight=max_in_flight,
                   on_block=on_block)


def simulate_and_recover(client, model, input_path, out, *, snr=math.inf, random_state=0, block_size=None,
                         noise_block=DEFAULT_NOISE_BLOCK, space="original", compression=None, resume=True,
                         overwrite=False, progress=None, max_in_flight=None, on_block=None):
    """:func:`csgene.scale.simulate_and_recover` on a Dask cluster (same arguments, ``client`` first)."""
    plan = plan_simulate(model, input_path, out, snr=snr, random_state=random_state, block_size=block_size,
                         noise_block=noise_block, recover=True, space=space, compression=compression,
                         overwrite=overwrite)
    return execute(client, plan, model, resume=resume, progress=progress, max_in_flight=max_in_flight,
                   on_block=on_block)


def execute(client, plan, model, *, resume=True, progress=None, max_in_flight=None, on_block=None):
    """Run a :class:`csgene.scale.BlockPlan` on ``client``'s workers; the driver writes the blocks."""
    distributed = require("distributed", "csgene.distributed (block processing on Dask)")
    slots = host_slots(client)
    limit = max_in_flight or max(1, IN_FLIGHT_PER_THREAD * sum(slots.values()))
    writer = PartialWriter(plan, plan.output_dtype, resume=resume)
    try:
        pending = deque(writer.pending())
        model_future = client.scatter(model, broadcast=True)
        futures = distributed.as_completed()
        index_of = {}
        with progress_bar(plan, list(pending), progress) as bar:
            while pending or index_of:
                while pending and len(index_of) < limit:
                    index = pending.popleft()
                    start, stop = plan.blocks[index]
                    future = client.submit(_task, plan.job, model_future, start, stop, slots, pure=False)
                    index_of[future.key] = index
                    futures.add(future)
                future = next(futures)
                index = index_of.pop(future.key)
                writer.write(index, future.result())
                start, stop = plan.blocks[index]
                bar.update(stop - start)
                if on_block is not None:
                    on_block(index)
    except BaseException:
        writer.close()
        raise
    return writer.finish()


def host_slots(client) -> dict:
    """Worker threads per host: how many tasks may run at once on each machine."""
    slots: dict[str, int] = {}
    for address, info in client.scheduler_info()["workers"].items():
        host = info.get("host") or address.split("://")[-1].rsplit(":", 1)[0]
        slots[host] = slots.get(host, 0) + int(info.get("nthreads", 1))
    return slots


def _task(job, model, start, stop, slots):
    """One block on a worker, with threads = this host's cores / concurrent tasks on this host."""
    from csgene_kernels.threads import available_cores

    host = _worker_host()
    threads = max(1, available_cores() // max(1, slots.get(host, 1)))
    return run_block_task(job, model, start, stop, threads=threads)


def _pass_task(job, start, stop, inputs, slots):
    """One block of an out-of-core pass on a worker, threads capped as in :func:`_task`."""
    from csgene_kernels.threads import available_cores, limit_threads

    threads = max(1, available_cores() // max(1, slots.get(_worker_host(), 1)))
    with limit_threads(numba_threads=threads, blas_threads=threads):
        return job.run(start, stop, inputs)


def _worker_host() -> str:
    try:
        from distributed import get_worker

        return get_worker().address.split("://")[-1].rsplit(":", 1)[0]
    except (ImportError, ValueError):
        return socket.gethostname()


__all__ = ["BlockExecutor", "execute", "fit_file", "host_slots", "recover_file", "simulate_and_recover",
           "simulate_file"]


def connect(address: str):
    """A :class:`dask.distributed.Client` connected to the scheduler at ``address``."""
    distributed = require("distributed", "running on a Dask cluster")
    return distributed.Client(address)
