"""Which process of a distributed job this is, and the job's process groups.

`torchrun` (or any c10d launcher) says so in the environment: RANK, WORLD_SIZE,
LOCAL_RANK, and TORCHELASTIC_RESTART_COUNT after a restart. A process started without
them is a world of one, and nothing distributed is ever initialised: the single-process
path stays exactly what it was before distribution existed (docs/distributed.md).

The runs are on the CPU today, so the backend is gloo; nccl is the choice for CUDA
devices (`backend_for`), once the runners place tensors on them (issue 15).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from bmnas_dsl.errors import DistributedError

T = TypeVar("T")

# How long a collective may wait for a peer before the job fails (seconds). A rank that
# dies closes its connections and its peers fail at once; this bounds the wait on one
# that hangs. BMNAS_DIST_TIMEOUT overrides it.
DEFAULT_TIMEOUT_S = 300


@dataclass(frozen=True)
class World:
    """This process's place in the job: rank `rank` of `size`, on local rank
    `local_rank`; `restarts` is how often torchrun has restarted the job."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    restarts: int = 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def writer(self) -> bool:
        """Whether this process writes the run directory and prints results (rank 0)."""
        return self.rank == 0

    def bounds(self, rows: int) -> tuple[int, int]:
        """This rank's share [start, stop) of `rows` rows of a global batch: balanced
        contiguous slices in rank order, the same rule for every batch, so that the
        ranks' slices put together are the global batch in its own order."""
        return rows * self.rank // self.size, rows * (self.rank + 1) // self.size

    def share(self, index: Sequence[T]) -> Sequence[T]:
        """This rank's slice of a global batch's rows `index` (all of it when alone)."""
        start, stop = self.bounds(len(index))
        return index[start:stop]


SINGLE = World()


def _integer(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    text = env.get(name)
    if text is None:
        if default is None:
            raise DistributedError(f"{name} is not set, but RANK and WORLD_SIZE are")
        return default
    try:
        return int(text)
    except ValueError:
        raise DistributedError(f"{name}={text!r} is not an integer") from None


def from_environment(env: Mapping[str, str] | None = None) -> World:
    """The world torchrun describes in `env` (default: os.environ); SINGLE without it."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env and "RANK" not in env:
        return SINGLE
    size = _integer(env, "WORLD_SIZE")
    rank = _integer(env, "RANK")
    if size < 1 or not 0 <= rank < size:
        raise DistributedError(f"RANK={rank} does not fit WORLD_SIZE={size}")
    return World(
        rank=rank,
        size=size,
        local_rank=_integer(env, "LOCAL_RANK", rank),
        restarts=_integer(env, "TORCHELASTIC_RESTART_COUNT", 0),
    )


def backend_for(device: str) -> str:
    """The collective backend for tensors on `device`: nccl on CUDA, gloo elsewhere."""
    return "nccl" if device.startswith("cuda") else "gloo"


def backend_device(choice: str, world: World) -> str:
    """The device this process computes on (for the process group's backend and the
    GPU it binds); torch is imported only for a distributed run."""
    if not world.distributed:
        return "cpu"  # no process group: the backend does not matter
    from bmnas_dsl.nn.device import resolve_device

    return str(resolve_device(choice, world.local_rank, world.distributed))


def timeout_seconds(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    seconds = _integer(env, "BMNAS_DIST_TIMEOUT", DEFAULT_TIMEOUT_S)
    if seconds < 1:
        raise DistributedError(f"BMNAS_DIST_TIMEOUT={seconds} must be at least 1")
    return seconds


class _Groups:
    """The job's extra process group (process-wide, as torch.distributed's are):
    `statistics`, for batch-norm statistics, so that their collectives inside forward
    and backward never interleave with DDP's buckets on the default group (which
    carries the gradients and results)."""

    statistics: object | None = None


groups = _Groups()


def _store(world: World, timeout: timedelta, env: Mapping[str, str]) -> object | None:
    """The key-value store of this attempt of a torchrun job, or None for
    init_process_group's own (env://, without torchrun's agent store).

    torchrun keeps one store across restarts (`--max-restarts`) while torch assumes a
    fresh one per attempt, so a restarted job would read the previous attempt's
    addresses and fail to connect (pytorch/pytorch#167288); keys are prefixed with the
    attempt instead."""
    if env.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    import torch.distributed as dist

    try:
        host, port = env["MASTER_ADDR"], int(env["MASTER_PORT"])
    except (KeyError, ValueError):
        raise DistributedError(
            "torchrun's MASTER_ADDR and MASTER_PORT are missing or malformed"
        ) from None
    client = dist.TCPStore(host, port, world.size, is_master=False, timeout=timeout)
    return dist.PrefixStore(f"bmnas/attempt_{world.restarts}", client)


@contextmanager
def joined(world: World, device: str = "cpu") -> Iterator[World]:
    """Initialise the process group of a distributed `world` for the block (nothing for
    SINGLE) and tear it down afterwards. A peer lost meanwhile (a rank killed, a
    timeout) ends the block with a DistributedError naming this rank."""
    if not world.distributed:
        yield world
        return
    import torch.distributed as dist

    timeout = timedelta(seconds=timeout_seconds())
    backend = backend_for(device)
    if device.startswith("cuda"):  # nccl binds each process to its GPU
        import torch

        torch.cuda.set_device(device)
    if dist.is_initialized():  # the caller's own process group (a script's, the API's)
        yield from _within(world, backend, timeout)
        return
    store = _store(world, timeout, os.environ)
    try:
        if store is None:
            dist.init_process_group(backend, timeout=timeout)
        else:
            dist.init_process_group(
                backend,
                store=store,
                rank=world.rank,
                world_size=world.size,
                timeout=timeout,
            )
        groups.statistics = dist.new_group(backend=backend, timeout=timeout)
        yield world
    except (RuntimeError, dist.DistError) as exc:
        if not _is_collective_failure(exc):
            raise
        raise DistributedError(
            f"rank {world.rank} of {world.size}: the job lost contact with its other "
            f"processes ({_first_line(exc)}); the last checkpoint is kept, continue "
            "with --resume (torchrun --max-restarts does so by itself)"
        ) from None
    finally:
        groups.statistics = None
        if dist.is_initialized():
            dist.destroy_process_group()


def _within(world: World, backend: str, timeout: timedelta) -> Iterator[World]:
    """The block inside a process group someone else initialised (and tears down)."""
    import torch.distributed as dist

    groups.statistics = dist.new_group(backend=backend, timeout=timeout)
    try:
        yield world
    finally:
        dist.destroy_process_group(groups.statistics)
        groups.statistics = None


def _is_collective_failure(exc: BaseException) -> bool:
    """Whether `exc` comes from the collectives (gloo/nccl, the store, a timeout)
    rather than from the run's own code."""
    import torch.distributed as dist

    if isinstance(exc, dist.DistError):
        return True
    text = str(exc).lower()
    return any(word in text for word in ("gloo", "nccl", "connection", "timed out"))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def barrier(world: World) -> None:
    """Wait for every rank (nothing in a world of one)."""
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()
