"""Which torch device a run computes on (`--device`), and moving batches there.

`auto` is CUDA when torch sees a GPU that really runs a kernel, else the CPU. `cuda`
is one GPU per torchrun local rank (cuda:LOCAL_RANK); `cuda:N` names one GPU, for a
single process. The device is the machine's choice, not the run's: a run may resume
on another (runs/checks.py, MACHINE_SETTINGS). On the CPU nothing is copied, so the
CPU path computes exactly what it did before devices existed.
"""

from __future__ import annotations

import torch

from bmnas_dsl.errors import DeviceError

CPU = torch.device("cpu")


def _runs_a_kernel(device: torch.device) -> bool:
    """Whether a small computation on `device` works (a GPU torch lists may still be
    unusable: a driver too old for this build, an exclusive-process GPU in use)."""
    try:
        return float((torch.ones(2, device=device) * 2).sum()) == 4.0
    except RuntimeError:
        return False


def _no_cuda_reason() -> str:
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is built without CUDA"
    return "torch sees no CUDA device"


def resolve_device(
    choice: str, local_rank: int = 0, distributed: bool = False
) -> torch.device:
    """The device `choice` names (checked by runs.checks.device) for this process;
    DeviceError with the reason when it cannot be used."""
    if choice == "cpu":
        return CPU
    available = torch.cuda.is_available()
    if choice == "auto":
        if not available:
            return CPU
        count = torch.cuda.device_count()
        if local_rank >= count:
            # nccl cannot share a GPU between ranks, and gloo on some ranks with nccl
            # on others cannot form one job: say so instead of failing inside nccl.
            raise DeviceError(
                f"--device auto: local rank {local_rank} has no GPU of its own (torch "
                f"sees {count}); start at most {count} processes per node, or use "
                "--device cpu"
            )
        candidate = torch.device("cuda", local_rank)
        return candidate if _runs_a_kernel(candidate) else CPU
    if not available:
        raise DeviceError(f"--device {choice}: {_no_cuda_reason()}")
    count = torch.cuda.device_count()
    if choice == "cuda":
        index = local_rank
    elif distributed:
        raise DeviceError(
            f"--device {choice} names one GPU, but this is one of several torchrun "
            "processes: use --device cuda (each process takes the GPU of its local rank)"
        )
    else:
        index = int(choice.split(":", 1)[1])
    if index >= count:
        raise DeviceError(
            f"--device {choice}: torch sees {count} CUDA device(s), cuda:0 to "
            f"cuda:{count - 1}"
            + (f" (local rank {local_rank} has none)" if choice == "cuda" else "")
        )
    device = torch.device("cuda", index)
    if not _runs_a_kernel(device):
        raise DeviceError(f"--device {choice}: {device} does not run a kernel")
    return device


def to_device(tensors: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """`tensors` on `device`: unchanged on the CPU or when already there (features
    held on the GPU, nn/batches.py); to a GPU through pinned memory, without blocking
    (the copy overlaps the step before it)."""
    if device.type == "cpu":
        return tensors
    return [
        t if t.device == device else t.pin_memory().to(device, non_blocking=True)
        for t in tensors
    ]


def cuda_rng(device: torch.device) -> dict[str, torch.Tensor]:
    """The GPU's random state for a checkpoint (dropout masks are drawn there), or
    nothing on the CPU: a checkpoint of a CPU run is the same as before devices."""
    if device.type != "cuda":
        return {}
    return {"cuda_rng": torch.cuda.get_rng_state(device)}


def set_cuda_rng(state: dict[str, object], device: torch.device) -> None:
    """Restore cuda_rng's state when the checkpoint has one and the run is on a GPU (a
    run moved between devices draws afresh there: results differ across devices)."""
    saved = state.get("cuda_rng")
    if device.type == "cuda" and isinstance(saved, torch.Tensor):
        torch.cuda.set_rng_state(saved, device)
