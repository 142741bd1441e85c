"""The audit beyond one machine: the same shard function as a Dask pipeline over sharded inputs.

Each shard (see :mod:`safetylens.audit.readers`) becomes one task running
:func:`safetylens.audit.analyse.process_shard`; the job (settings and the unloaded analysers) is
scattered to every worker once, each worker process loads its models once per job, and only
integer counts come back to be merged exactly. The numbers are therefore identical to the local
engine's for the same inputs and settings, whatever the cluster's size.

Requirements: ``pip install 'safetylens[audit-dist]'``; every worker must see the input files (and
the redaction directory, if any) at the same paths, e.g. on a shared file system. Without a
scheduler address a ``LocalCluster`` is started (one single-threaded process per worker) and
closed afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from safetylens.audit.analyse import AuditJob, ShardResult, process_shard, single_thread_torch
from safetylens.audit.readers import Shard
from safetylens.errors import BackendUnavailable

INSTALL_HINT = "pip install 'safetylens[audit-dist]'"


def _run(job: AuditJob, shard: Shard) -> ShardResult:
    single_thread_torch()
    return process_shard(job, shard)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise BackendUnavailable("the Dask engine needs dask.distributed", INSTALL_HINT) from exc
    return distributed


def run_dask(
    job: AuditJob,
    shards: list[Shard],
    *,
    client: Any = None,
    address: str | None = None,
    n_workers: int = 2,
) -> tuple[Iterator[ShardResult], str]:
    """Run the shards on Dask.

    Args:
        job: The audit job.
        shards: The shard plan.
        client: An existing ``distributed.Client`` (left open).
        address: A scheduler address to connect to (when no client is given).
        n_workers: Worker processes of the local cluster started when neither is given.

    Returns:
        An iterator of shard results (in completion order) and the scheduler's address.
    """
    distributed = _distributed()
    own_cluster = None
    own_client = None
    if client is None:
        if address is None:
            own_cluster = distributed.LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            address = own_cluster.scheduler_address
        own_client = distributed.Client(address)
        client = own_client
    scheduler = str(client.scheduler.address)

    def results() -> Iterator[ShardResult]:
        try:
            job_future = client.scatter(job, broadcast=True)
            futures = client.map(_run, [job_future] * len(shards), shards, pure=False)
            for fut in distributed.as_completed(futures):
                yield fut.result()
        finally:
            if own_client is not None:
                own_client.close()
            if own_cluster is not None:
                own_cluster.close()

    return results(), scheduler
