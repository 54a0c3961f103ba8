"""The evaluation stage (semantics.md): train the network a genotype describes from
scratch and report the metric on test once, at the end.

The network is the module `bmnas compile` generates (the same code path, not a second
implementation). A run directory holds everything, written atomically:
- settings.json: data, settings and the genotype's hash; genotype.bmg and model.py: the
  genotype trained and its generated module (the weights load into it);
- log.jsonl: one line per epoch; checkpoint.pt: the state after the last finished epoch
  (resuming from it gives the same result as an uninterrupted run);
- weights.safetensors and metrics.json once training has finished.

`holdout="val"` is for choosing settings: it fits on train only, scores validation after
every epoch and never touches test. `holdout="test"` (the default) is the evaluation
proper: it fits on train + val and scores test once.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import AbstractContextManager
from dataclasses import asdict
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import nn

from bmnas_dsl.backend.compile import compile_genotype
from bmnas_dsl.data.bank import FeatureBank, genotype_problems
from bmnas_dsl.data.fingerprint import content_hash
from bmnas_dsl.errors import TrainError
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.nn.batches import (
    Column,
    columns,
    hold_on_device,
    part_rows,
    prefetched,
)
from bmnas_dsl.nn.compiling import compile_failures, compiled
from bmnas_dsl.nn.device import cuda_rng, resolve_device, set_cuda_rng, to_device
from bmnas_dsl.nn.losses import loss_function
from bmnas_dsl.nn.metrics import primary_name, scores
from bmnas_dsl.nn.numeric import check_gradients, check_loss, check_tensors
from bmnas_dsl.nn.precision import Precision
from bmnas_dsl.nn.threads import torch_threads
from bmnas_dsl.parallel.collectives import assemble_rows, share_of_mean, total
from bmnas_dsl.parallel.layers import distribute_layers, global_batch
from bmnas_dsl.parallel.world import SINGLE, World, barrier
from bmnas_dsl.runs import loop
from bmnas_dsl.runs.checks import without_machine_settings
from bmnas_dsl.runs.directory import read_genotype
from bmnas_dsl.runs.layout import GENOTYPE, METRICS, MODULE, SETTINGS, WEIGHTS
from bmnas_dsl.runs.progress import Note, Tick, no_note, no_tick
from bmnas_dsl.train.settings import TrainSettings


def feature_columns(module: ModuleType, bank: FeatureBank) -> list[Column]:
    """The bank's features in the module's input order, checked against its shapes
    (in memory, or read batch by batch from a memory-mapped bank: nn/batches.py)."""
    found = genotype_problems(bank, [(n, list(s)) for n, s in module.INPUTS])
    if found:
        raise TrainError("the genotype does not fit the data: " + "; ".join(found))
    if (bank.task, bank.classes) != (module.TASK, module.CLASSES):
        raise TrainError(
            f"the genotype is {module.TASK} with {module.CLASSES} classes, the data "
            f"{bank.task} with {bank.classes}"
        )
    return columns([bank.features[name] for name, _ in module.INPUTS])


class Trainer:
    """One training run; its state lives in memory and, each epoch, in the run dir."""

    def __init__(
        self,
        module: ModuleType,
        bank: FeatureBank,
        settings: TrainSettings,
        world: World = SINGLE,
    ) -> None:
        self.settings, self.task, self.world = settings, bank.task, world
        self.inputs = feature_columns(module, bank)
        labels = torch.from_numpy(bank.labels)
        self.labels = labels.float() if bank.task == "multilabel" else labels.long()
        if settings.holdout == "test":
            fit = np.concatenate([bank.indices("train"), bank.indices("val")])
            self.fit_index = torch.from_numpy(np.sort(fit))
            self.score_index = torch.from_numpy(bank.indices("test"))
        else:
            self.fit_index = torch.from_numpy(bank.indices("train"))
            self.score_index = torch.from_numpy(bank.indices("val"))
        torch.manual_seed(settings.seed)
        self.model: nn.Module = module.Model()
        # Built on the CPU, then moved: the same initial weights on every device.
        self.device = resolve_device(
            settings.device, world.local_rank, world.distributed
        )
        self.model.to(self.device)
        self.resident_bytes = hold_on_device(self.inputs, self.device)
        self.precision = Precision(settings.precision, self.device)
        if world.distributed and settings.compile != "off":
            # The global batch norm's batch lookup is skipped while compiling
            # (parallel/layers.py): a compiled rank would normalise by its own slice.
            raise TrainError(
                f"--compile {settings.compile} runs in one process only: under torchrun "
                "the batch norm of the global batch is not compiled; drop --compile"
            )
        # What a training step calls: the model, compiled or not, or its DDP wrapper
        # (docs/distributed.md).
        self.network: nn.Module = compiled(self.model, settings.compile)
        if world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            distribute_layers(self.model, "bernoulli")
            self.network = DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                forward_sync_buffers=False,
            )
        self.named = [(n, p) for n, p in self.model.named_parameters()]
        self.optimiser = torch.optim.Adam(
            self.model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optimiser, T_max=settings.epochs, eta_min=settings.lr_min
        )
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.loss = loss_function(bank.task)
        self.epoch = 0
        self.seconds = 0.0

    def batch(self, index: torch.Tensor) -> list[torch.Tensor]:
        """The inputs of rows `index`, on the run's device."""
        return to_device([column.rows(index) for column in self.inputs], self.device)

    def run_epoch(self, tick: Tick = no_tick) -> dict[str, float]:
        self.model.train()
        order = self.fit_index[
            torch.randperm(len(self.fit_index), generator=self.generator)
        ]
        losses = []
        batches = order.split(self.settings.batch_size)
        # Each rank reads and trains on its slice of every global batch.
        slices = [self.world.share(index) for index in batches]
        streamed = any(column.streamed for column in self.inputs)
        gathered = prefetched(self.batch, slices, streamed)
        for number, (index, inputs) in enumerate(
            zip(batches, gathered, strict=True), 1
        ):
            where = f"epoch {self.epoch + 1}, batch {number}"
            self.optimiser.zero_grad(set_to_none=True)
            if self.world.distributed:
                loss = self._distributed_loss(index, inputs)
                value = float(total(loss.detach(), self.world)) / self.world.size
            else:
                (labels,) = to_device([self.labels[index]], self.device)
                with self.precision.autocast(), self.compiling():
                    loss = self.loss(self.network(*inputs), labels)
                value = float(loss.detach())
            check_loss(value, where)
            with self.compiling():
                self.precision.scaled(loss).backward()
            self.precision.step(
                self.optimiser, partial(check_gradients, self.named, where)
            )
            losses.append(value)
            tick(number, len(batches))
        self.scheduler.step()
        # A step can overflow a weight without a NaN loss yet: never checkpoint that.
        check_tensors(self.named, f"epoch {self.epoch + 1}", "the weight")
        return {"train_loss": sum(losses) / len(losses)}

    def compiling(self) -> AbstractContextManager[None]:
        """Where a compiled network compiles: its failure as one line."""
        return compile_failures(TrainError, self.settings.compile)

    def _distributed_loss(
        self, index: torch.Tensor, inputs: list[torch.Tensor]
    ) -> torch.Tensor:
        """The loss whose DDP backward gives the global batch `index`'s gradient: this
        rank's share of its mean, times the world size (DDP averages over ranks)."""
        rows = len(index)
        start, stop = self.world.bounds(rows)
        with global_batch(rows, start, stop), self.precision.autocast():
            logits = self.network(*inputs)
        (labels,) = to_device([self.labels[index[start:stop]]], self.device)
        # float(): the loss in float32 under --precision bf16/fp16 (as autocast does)
        return share_of_mean(self.loss, logits.float(), labels, rows) * self.world.size

    def predict(self, index: torch.Tensor) -> np.ndarray:
        """The model's outputs on rows `index`: in parts when streamed from a memory
        map (bounded memory); each rank computes its slice, every rank gets all."""
        self.model.eval()
        streamed = any(column.streamed for column in self.inputs)
        parts = (
            index.split(part_rows(column.shape[1:] for column in self.inputs))
            if streamed
            else [index]
        )
        with torch.no_grad():
            outputs = []
            for part in parts:
                local = self.world.share(part)
                with self.precision.autocast():
                    logits = self.model(*self.batch(local)).float()
                whole = assemble_rows(logits, len(part), self.world)
                outputs.append(whole.cpu().numpy())
            return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    def score(self) -> dict[str, float]:
        """The metrics on the held-out split (test or val, by `holdout`)."""
        logits = self.predict(self.score_index)
        return scores(self.task, logits, self.labels[self.score_index].numpy())

    def evaluate(self) -> dict[str, float]:
        """Scores after an epoch: on val with `--holdout val`; none otherwise, because
        test is scored once, at the end."""
        if self.settings.holdout != "val":
            return {}
        return {f"val_{k}": v for k, v in self.score().items()}

    def finish_epoch(
        self, record: dict[str, Any], run_dir: Path, note: Note = no_note
    ) -> dict[str, Any]:
        entry = {"epoch": self.epoch, **record, "seconds": self.seconds}
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in entry.items()}

    def progress_line(self, entry: dict[str, Any]) -> str:
        parts = [f"train loss {entry['train_loss']:.4f}"]
        parts += [f"{k} {v:.4f}" for k, v in entry.items() if k.startswith("val_")]
        return "  ".join(parts)

    def state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "seconds": self.seconds,
            "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            **cuda_rng(self.device),
            **self.precision.state(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.epoch, self.seconds = state["epoch"], state["seconds"]
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        set_cuda_rng(state, self.device)
        self.precision.load_state(state)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weights_bytes(model: nn.Module) -> bytes:
    from safetensors.torch import save

    state = model.state_dict().items()
    return save({k: v.detach().cpu().contiguous() for k, v in state})


def train_genotype(
    text: str,
    bank: FeatureBank,
    settings: TrainSettings,
    run_dir: str | Path,
    *,
    name: str = GENOTYPE,
    data: str = "",
    resume: bool = False,
    show_progress: bool = True,
    data_sha256: str | None = None,
    world: World = SINGLE,
) -> dict[str, Any]:
    """Train the genotype `text` on `bank`; return (and write) metrics.json's content.

    With `resume`, continue the run in `run_dir` from its last checkpoint; the genotype
    and settings must be those the run started with. In a distributed `world`
    (torchrun) every rank calls this alike; each trains on its slice of every global
    batch of `settings.batch_size` rows, and only rank 0 writes `run_dir`.
    """
    found = settings.problems()
    if found:
        raise TrainError("; ".join(found))
    run_dir = Path(run_dir)
    source, module = compile_genotype(text, name)
    # A caller that trains many genotypes on one bank (the search's re-ranking, the
    # ablation driver) passes its hash: 0.13 s per call on the six-view bank.
    data_sha256 = data_sha256 or content_hash(bank)
    record = _settings_record(text, name, data, settings, data_sha256)
    with torch_threads(settings.threads):
        trainer = Trainer(module, bank, settings, world)
        if resume:
            _check_resumable(run_dir, record)
            loop.resume(trainer, run_dir, TrainError, writes=world.writer)
        else:
            barrier(world)  # every rank has checked the directory: rank 0 writes
            if world.writer:
                files = {GENOTYPE: text, MODULE: source}
                started = {**record, "world_size": world.size}
                loop.start(run_dir, started, stale=(METRICS, WEIGHTS), files=files)
        loop.run_epochs(
            trainer,
            settings.epochs,
            run_dir,
            "training",
            show_progress,
            writes=world.writer,
        )
        metrics = _final_metrics(trainer, module, record)
        if world.writer:
            write_atomic(run_dir / WEIGHTS, weights_bytes(trainer.model))
            write_atomic(run_dir / METRICS, json.dumps(metrics, indent=2) + "\n")
        return metrics


def _settings_record(
    text: str, name: str, data: str, settings: TrainSettings, data_sha256: str
) -> dict[str, Any]:
    return {
        "genotype": Path(name).name,
        "genotype_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "data": data,
        "data_sha256": data_sha256,
        "settings": asdict(settings),
        # settings.batch_size is the global batch, whatever the world size
        "global_batch_size": settings.batch_size,
    }


def read_settings(run_dir: str | Path) -> tuple[str, str, str, TrainSettings]:
    """The genotype text and file name, data and settings a run was started with."""
    run_dir = Path(run_dir)
    try:
        record = json.loads((run_dir / SETTINGS).read_text())
        text = read_genotype(run_dir / GENOTYPE, TrainError)
        return (
            text,
            record["genotype"],
            record["data"],
            TrainSettings(**record["settings"]),
        )
    except FileNotFoundError as exc:
        raise TrainError(
            f"{run_dir}: no {Path(exc.filename).name}; not a training run directory"
        ) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise TrainError(f"{run_dir / SETTINGS}: unreadable settings ({exc})") from None


def _check_resumable(run_dir: Path, record: dict[str, Any]) -> None:
    try:
        started = json.loads((run_dir / SETTINGS).read_text())
    except (OSError, ValueError):
        raise TrainError(
            f"{run_dir}: no readable {SETTINGS}; nothing to resume"
        ) from None
    what_of = {
        "genotype_sha256": "genotype",
        "settings": "settings",
        "data_sha256": "data",
    }
    if isinstance(started.get("settings"), dict):
        # A setting added since the run started (--compile) had its default then.
        started["settings"] = {**asdict(TrainSettings()), **started["settings"]}
    for key, what in what_of.items():
        # Runs written before the data hash was recorded are trusted on that point.
        if key == "data_sha256" and key not in started:
            continue
        if without_machine_settings(started.get(key)) != without_machine_settings(
            record[key]
        ):
            raise TrainError(
                f"{run_dir}: the run was started with other {what}; resume it with "
                "the same ones (or start a new run directory)"
            )


def _final_metrics(
    trainer: Trainer, module: ModuleType, record: dict[str, Any]
) -> dict[str, Any]:
    split = trainer.settings.holdout
    return {
        "task": trainer.task,
        "metric": primary_name(trainer.task),
        split: trainer.score(),
        "fit_on": "train+val" if split == "test" else "train",
        "samples": {"fit": len(trainer.fit_index), split: len(trainer.score_index)},
        "epochs": trainer.epoch,
        "train_seconds": round(trainer.seconds, 3),
        "parameters": parameter_count(trainer.model),
        "model": module.__doc__.splitlines()[0] if module.__doc__ else "",
        **{
            k: record[k] for k in ("genotype", "genotype_sha256", "data", "data_sha256")
        },
        "settings": record["settings"],
    }
