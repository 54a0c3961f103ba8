"""The bilevel search loop: first-order DARTS updates, per-epoch derivation, the run
directory (settings, JSONL log, atomic checkpoints, best genotype) and resume."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bmnas_dsl.data.bank import FeatureBank
from bmnas_dsl.data.fingerprint import content_hash
from bmnas_dsl.errors import SearchError
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.nn.batches import columns, hold_on_device, part_rows, prefetched
from bmnas_dsl.nn.device import cuda_rng, resolve_device, set_cuda_rng, to_device
from bmnas_dsl.nn.losses import loss_function
from bmnas_dsl.nn.metrics import primary_name, scores
from bmnas_dsl.nn.numeric import check_gradients, check_loss, check_tensors
from bmnas_dsl.nn.precision import Precision
from bmnas_dsl.nn.threads import torch_threads
from bmnas_dsl.parallel.collectives import assemble_rows
from bmnas_dsl.parallel.layers import distribute_layers
from bmnas_dsl.parallel.world import SINGLE, World, barrier
from bmnas_dsl.runs import loop
from bmnas_dsl.runs.layout import BEST_GENOTYPE, BEST_RECORD
from bmnas_dsl.runs.log import Best, improves, write_best
from bmnas_dsl.runs.progress import Note, Tick, no_note, no_tick
from bmnas_dsl.search import convergence
from bmnas_dsl.search.distributed_step import distributed_step
from bmnas_dsl.search.emit import derive_bmg, select_bmg
from bmnas_dsl.search.hypernet import Hypernet
from bmnas_dsl.search.pooling import pooled_feature
from bmnas_dsl.search.record import check_same_data, settings_json
from bmnas_dsl.search.select import Pairs, sample_pairs
from bmnas_dsl.search.settings import Training
from bmnas_dsl.search.space import SearchSpace

EVAL_SAMPLES = 8  # assignments averaged by a sampling search's per-epoch validation
# A derivation: (search, epoch, validation metric) -> the epoch's genotype as .bmg text.
Derive = Callable[["Search", int, float], str]


def pool_features(
    bank: FeatureBank, names: list[str], L: int
) -> list[np.ndarray | torch.Tensor]:
    """Reshape step 2, parameter-free, applied once to the whole bank: (N, C_in, L).
    A memory-mapped feature already at (N, C_in, L) stays mapped; another is pooled in
    chunks (search/pooling.py), on disk beside its bank when large."""
    return [pooled_feature(bank, name, L) for name in names]


def space_for(bank: FeatureBank, **knobs: Any) -> SearchSpace:
    features = tuple((name, bank.shape(name)) for name in bank.features)
    return SearchSpace(features=features, classes=bank.classes, task=bank.task, **knobs)


def metric(task: str, logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The task's primary metric: accuracy, or weighted F1 at p = 0.5 (multilabel)."""
    return scores(task, logits.detach().cpu().numpy(), labels.cpu().numpy())[
        primary_name(task)
    ]


class Search:
    """One search run; state lives in memory and, each epoch, in the run directory."""

    def __init__(
        self,
        bank: FeatureBank,
        space: SearchSpace,
        training: Training,
        data: str,
        derive: Derive = derive_bmg,
        world: World = SINGLE,
    ) -> None:
        self.bank, self.space, self.training, self.data = bank, space, training, data
        self.derive, self.world = derive, world
        self.data_sha256 = content_hash(bank)
        torch.manual_seed(training.seed)  # the same on every rank: the same supernet
        self.model = Hypernet(space)
        # Built on the CPU, then moved: the same initial weights on every device.
        self.device = resolve_device(
            training.device, world.local_rank, world.distributed
        )
        self.model.to(self.device)
        self.precision = Precision(training.precision, self.device)
        # What a training step calls: the supernet, or its DDP wrapper (weights and
        # alpha/beta/gamma alike registered in it; docs/distributed.md).
        self.network: torch.nn.Module = self.model
        if world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            distribute_layers(self.model, "uniform")
            self.network = DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                forward_sync_buffers=False,  # global statistics: the same on every rank
                # Sampled pairs leave alpha and the other features' layers unused.
                find_unused_parameters=self.sampling,
            )
        names = [name for name, _ in space.features]
        self.inputs = pool_features(bank, names, space.L)  # (N, C_in, L) each
        self.columns = columns(self.inputs)
        self.resident_bytes = hold_on_device(self.columns, self.device)
        self.labels = torch.from_numpy(bank.labels)
        self.train_index = torch.from_numpy(bank.indices("train"))
        self.val_index = torch.from_numpy(bank.indices("val"))
        self.weights = self.model.weight_parameters()
        self.architecture = self.model.arch_parameters()
        arch_ids = {id(p) for p in self.architecture}
        named = list(self.model.named_parameters())
        # Names for the numeric guards' messages (alpha_x.0, cells.1.steps.0..., ...).
        self.named_weights = [(n, p) for n, p in named if id(p) not in arch_ids]
        self.named_architecture = [(n, p) for n, p in named if id(p) in arch_ids]
        self.weight_optimiser = torch.optim.Adam(
            self.weights,
            lr=training.weight_lr,
            weight_decay=training.weight_decay,
            fused=True,  # one kernel for all parameters: about 2.5 ms less per step
        )
        self.arch_optimiser = torch.optim.Adam(
            self.architecture,
            lr=training.arch_lr,
            betas=(0.5, 0.999),
            weight_decay=training.arch_weight_decay,
            fused=True,
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.weight_optimiser, T_max=training.epochs, eta_min=training.weight_lr_min
        )
        self.generator = torch.Generator().manual_seed(training.seed)
        self.loss = loss_function(space.task)
        self.epoch = 0
        self.best: dict[str, Any] | None = None
        self.convergence: dict[str, dict[str, float]] = {}  # of the last epoch
        self.seconds = 0.0

    # -- one epoch ---------------------------------------------------------------
    def batch(self, index: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The inputs and labels of rows `index`, on the run's device."""
        inputs = [column.rows(index) for column in self.columns]
        *inputs, labels = to_device(
            [*inputs, self.labels.index_select(0, index)], self.device
        )
        return inputs, labels

    @property
    def sampling(self) -> bool:
        """Whether cells read sampled input pairs instead of the alpha mixture."""
        return self.training.selection == "sample"

    def pairs(self) -> Pairs | None:
        """A fresh input assignment per update with `--selection sample`, else None."""
        return sample_pairs(self.space, self.generator) if self.sampling else None

    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> float:
        """The task's primary validation metric of these logits."""
        return metric(self.space.task, logits, labels)

    def _step(
        self,
        index: torch.Tensor,
        architecture: bool,
        number: int = 1,
        batch: tuple[list[torch.Tensor], torch.Tensor] | None = None,
    ) -> float:
        """One update of either the architecture or the weights on rows `index` (their
        `batch` of inputs and labels when already gathered); the other set is frozen
        (no gradient is even computed for it). NumericError on a NaN or Inf."""
        if self.world.distributed:
            return distributed_step(self, index, architecture, number, batch)
        frozen = self.weights if architecture else self.architecture
        optimiser = self.arch_optimiser if architecture else self.weight_optimiser
        active = self.named_architecture if architecture else self.named_weights
        kind = "architecture" if architecture else "weight"
        where = f"epoch {self.epoch + 1}, {kind} step {number}"
        for p in frozen:
            p.requires_grad_(False)
        try:
            self.model.train()
            optimiser.zero_grad(set_to_none=True)
            inputs, labels = batch if batch is not None else self.batch(index)
            pairs = self.pairs()
            with self.precision.autocast():
                logits = self.model(inputs, None if pairs is None else list(pairs))
                loss = self.loss(logits, labels)
            value = float(loss.detach())
            check_loss(value, where)
            self.precision.scaled(loss).backward()
            self.precision.step(optimiser, lambda: check_gradients(active, where))
            if architecture:  # a handful of small tensors: cheap to check every step
                check_tensors(active, where, "the architecture weight")
        finally:
            for p in frozen:
                p.requires_grad_(True)
        return value

    def epoch_plan(self) -> list[tuple[torch.Tensor, bool, int]]:
        """The epoch's updates in order: (rows, architecture?, step number)."""
        size = self.training.batch_size
        train = self.train_index[
            torch.randperm(len(self.train_index), generator=self.generator)
        ]
        val = self.val_index[
            torch.randperm(len(self.val_index), generator=self.generator)
        ]
        train_batches, val_batches = train.split(size), val.split(size)
        weights = [(b, False, n) for n, b in enumerate(train_batches, 1)]
        # Warm-up: weights only, so that alpha starts from a trained supernet rather
        # than from one whose every op is still at random.
        if self.epoch < self.training.warmup_epochs:
            return weights
        if self.training.alternation == "step":
            # DARTS: one architecture step on a validation batch, then one weight step.
            plan = []
            for number, batch in enumerate(train_batches, 1):
                plan.append(
                    (val_batches[(number - 1) % len(val_batches)], True, number)
                )
                plan.append((batch, False, number))
            return plan
        # The released code: a whole epoch of weight steps, then one of arch steps.
        return weights + [(b, True, n) for n, b in enumerate(val_batches, 1)]

    def run_epoch(self, tick: Tick = no_tick) -> dict[str, float]:
        plan = self.epoch_plan()
        streamed = any(column.streamed for column in self.columns)
        # Each rank reads only its slice of every global batch.
        slices = [self.world.share(rows) for rows, _, _ in plan]
        batches = prefetched(self.batch, slices, streamed)
        weight_losses, arch_losses = [], []
        for done, ((rows, architecture, number), batch) in enumerate(
            zip(plan, batches, strict=True), 1
        ):
            value = self._step(rows, architecture, number, batch)
            (arch_losses if architecture else weight_losses).append(value)
            tick(done, len(plan))
        self.scheduler.step()
        # A last step can overflow a weight before any loss shows it: never checkpoint
        # such a state.
        check_tensors(self.named_weights, f"epoch {self.epoch + 1}", "the weight")
        record = {"train_loss": sum(weight_losses) / len(weight_losses)}
        if arch_losses:  # none during warm-up
            record["arch_loss"] = sum(arch_losses) / len(arch_losses)
        return record

    def evaluate(self) -> dict[str, float]:
        """Validation loss and metric; with sampling, of the supernet averaged over
        EVAL_SAMPLES assignments drawn from a fixed stream (the same every epoch, and
        apart from the training stream so that evaluating does not change training)."""
        self.model.eval()
        draws = None
        if self.sampling:
            stream = torch.Generator().manual_seed(self.training.seed)
            draws = [sample_pairs(self.space, stream) for _ in range(EVAL_SAMPLES)]
        with torch.no_grad():
            logits = torch.cat(
                [
                    # Each rank scores its slice of each part; all ranks get them all.
                    assemble_rows(
                        self._val_logits(self.world.share(part), draws),
                        len(part),
                        self.world,
                    )
                    for part in self.val_parts()
                ]
            ).cpu()
        labels = self.labels.index_select(0, self.val_index)
        return {
            "val_loss": float(self.loss(logits, labels)),
            "val_metric": metric(self.space.task, logits, labels),
        }

    def val_parts(self) -> list[torch.Tensor]:
        """The validation rows in one piece, or, when the features are streamed from a
        memory map, in parts of EVAL_BYTES of features (bounded memory)."""
        if any(column.streamed for column in self.columns):
            rows = part_rows(column.shape[1:] for column in self.columns)
            return list(self.val_index.split(rows))
        return [self.val_index]

    def _val_logits(
        self, index: torch.Tensor, draws: list[Pairs] | None
    ) -> torch.Tensor:
        inputs, _ = self.batch(index)
        with self.precision.autocast():
            if draws is None:
                return self.model(inputs).float()
            # Mean logits: defined for multiclass and multilabel alike.
            return (
                torch.stack([self.model(inputs, list(p)) for p in draws])
                .float()
                .mean(0)
            )

    def finish_epoch(
        self, record: dict[str, Any], run_dir: Path, note: Note = no_note
    ) -> dict[str, Any]:
        """Derive the epoch's genotype, keep it when it is the best so far (best.bmg,
        best.json), and return the epoch's log entry."""
        final = self.sampling and self.epoch == self.training.epochs
        if final:
            # `--selection sample` chooses the cells' inputs once, after the last epoch
            # (search/select.py); that genotype is the result. Its time is search time.
            start = time.perf_counter()
            t = self.training
            retrained = (
                f", the best {t.rerank} re-trained {t.rerank_epochs} epochs each"
                if t.rerank
                else ""
            )
            note(
                f"choosing the cells' inputs: {t.candidates} candidates scored by the "
                f"supernet{retrained}"
            )
            genotype = select_bmg(self, self.epoch, record, start)
            self.seconds += time.perf_counter() - start
        else:
            genotype = self.derive(self, self.epoch, record["val_metric"])
        # The kept genotype's own validation metric: with sampling, the supernet's score
        # of the selected assignment (its meta's val_metric), not the epoch's average.
        value = record.get("selection_val", record["val_metric"])
        if final or improves(value, self.best and self.best["val_metric"]):
            self.best = {"epoch": self.epoch, "val_metric": value, "genotype": genotype}
            if self.world.writer:
                write_atomic(run_dir / BEST_GENOTYPE, genotype)
                write_best(run_dir, Best(self.epoch, value))
        return self.log_entry(record, genotype)

    def log_entry(self, record: dict[str, Any], genotype: str) -> dict[str, Any]:
        weights = self.model.cell_weights()

        def rounded(tensors: list[torch.Tensor]) -> list[list[float]]:
            return [[round(float(v), 5) for v in t.detach()] for t in tensors]

        def plain(tensors: list[torch.Tensor]) -> list[list[float]]:
            return [t.detach().tolist() for t in tensors]

        separate = self.space.mixing == "separate"
        figures = convergence.of_cells(
            plain([w.alpha_x for w in weights])
            + (plain([w.alpha_y for w in weights]) if separate else []),
            [plain(w.beta_a) for w in weights]
            + ([plain(w.beta_b) for w in weights] if separate else []),
            [plain(w.gamma) for w in weights],
        )
        self.convergence = figures
        entry = {
            "epoch": self.epoch,
            **{k: round(v, 6) for k, v in record.items()},
            "seconds": round(self.seconds, 3),
            "alpha": rounded([w.alpha_x for w in weights]),
            "beta": [rounded(w.beta_a) for w in weights],
            "gamma": [rounded(w.gamma) for w in weights],
            # From the unrounded weights: how far each group is from uniform.
            "convergence": {
                group: {k: round(v, 6) for k, v in values.items()}
                for group, values in figures.items()
            },
            "genotype": genotype,
        }
        if self.space.mixing == "separate":
            entry["alpha_y"] = rounded([w.alpha_y for w in weights])
            entry["beta_b"] = [rounded(w.beta_b) for w in weights]
        return entry

    def progress_line(self, entry: dict[str, Any]) -> str:
        return (
            f"train loss {entry['train_loss']:.3f}  val loss {entry['val_loss']:.3f}  "
            f"val metric {entry['val_metric']:.4f}"
        )

    # -- state -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "weight_optimiser": self.weight_optimiser.state_dict(),
            "arch_optimiser": self.arch_optimiser.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            **cuda_rng(self.device),
            **self.precision.state(),
            "best": self.best,
            "seconds": self.seconds,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]
        self.model.load_state_dict(state["model"])
        self.weight_optimiser.load_state_dict(state["weight_optimiser"])
        self.arch_optimiser.load_state_dict(state["arch_optimiser"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        set_cuda_rng(state, self.device)
        self.precision.load_state(state)
        self.best = state["best"]
        self.seconds = state["seconds"]


def run_search(
    bank: FeatureBank,
    space: SearchSpace,
    training: Training,
    data: str,
    run_dir: Path,
    output: str,
    resume: bool = False,
    derive: Derive = derive_bmg,
    world: World = SINGLE,
) -> str:
    """Search for `training.epochs` epochs (continuing from the run directory's checkpoint
    when `resume`); return the best genotype's .bmg text (also in run_dir/best.bmg).

    With `--selection paper` the genotype of every epoch is derived from alpha and the
    best epoch's is kept. With `--selection sample` the cells' inputs are chosen once,
    after the last epoch (search/select.py), and that genotype is the result; earlier
    epochs' log lines carry the alpha-derived genotype (alpha does not train then).

    In a distributed `world` (torchrun) every rank calls this with the same arguments;
    each takes its slice of every global batch, and only rank 0 writes `run_dir`."""
    found = space.problems() + training.problems()
    if found:
        raise SearchError("; ".join(found))
    with torch_threads(training.threads):
        search = Search(bank, space, training, data, derive, world)
        if resume:
            check_same_data(run_dir, search.data_sha256)
            loop.resume(search, run_dir, SearchError, writes=world.writer)
        else:
            # Every rank has checked the directory before rank 0 writes into it.
            barrier(world)
            if world.writer:
                settings = settings_json(
                    space, training, data, output, search.data_sha256, world.size
                )
                loop.start(run_dir, settings, stale=(BEST_GENOTYPE, BEST_RECORD))
        loop.run_epochs(
            search, training.epochs, run_dir, "the search", writes=world.writer
        )
        assert search.best is not None
        return search.best["genotype"]
