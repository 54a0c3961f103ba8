"""Timing harness for the authors' released BM-NAS supernet, NTU configuration.

The authors' code (github.com/Somedaywilldo/BM-NAS) is imported at run time from the
checkout whose path is given (`--released-code`, or `ReleasedSearch(path, ...)`); none of
it is copied into this project. Only their `models/` package is used: the darts search
modules, their reshape layer, their Architect and their LR scheduler.

What is measured: what their `Searchable_Skeleton_Image_Net` builds after the two
backbones, i.e. from the eight pooled NTU features (video 512, 1024, 2048, 2048;
skeleton 128, 256, 1024, 512 channels, shape (N, C_in, L=8)) to the logits:

* their eight `ReshapeInputLayer` (adaptive max pool, interpolation, conv 1x1, BN,
  ReLU, dropout: on (N, C_in, 8) inputs with L = 8 the pool and interpolation are
  identities, but they run, as in their code),
* their `FusionNetwork(steps=2, multiplier=2, num_input_nodes=8, num_keep_edges=2)`,
* the central classifier `nn.Linear(C * L * multiplier, classes)`.

The backbones are not run: the features stand for their outputs.

* A **weight step** is what their training loop (`models/search/train_searchable/ntu.py`,
  phase 'train') does for one batch: train mode, `optimizer.zero_grad()`, forward,
  predictions, cross-entropy, their per-batch cosine LR scheduler step and
  `update_optimizer` (an optimiser `state_dict()` / `load_state_dict()` round trip),
  backward, `optimizer.step()`. The optimiser is theirs: Adam over `central_params()`,
  which in their searchable NTU model is the fusion net and the classifier only (not the
  reshape layers, whose gradients are computed all the same and never used).
* An **architecture step** is their `Architect.step` for one validation batch (their NTU
  search is first order: the Architect has no unrolled step at all): zero the arch
  optimiser, forward, loss, backward (gradients of every parameter), Adam step over the
  architecture parameters (lr 3e-4, betas (0.5, 0.999), weight decay 1e-3). Their loop
  then also runs a no-grad forward of the same batch for its statistics; that is off by
  default (`dev_stats_forward`) and timed apart by `main()`.

Usage:
    python benchmarks/released_supernet.py --released-code PATH [--batch 96]
        [--threads 2] [--repeats 10]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import roofline

# The order their `create_reshape_layers` uses: video four, then skeleton four.
C_INS = (512, 1024, 2048, 2048, 128, 256, 1024, 512)
WARMUP = 3


def _stub_ipython() -> None:
    """Several of their modules do `from IPython import embed` (for debugging only);
    IPython is not a dependency here, so when it is missing a stub module stands in,
    whose `embed` raises if their code ever reaches a breakpoint."""
    try:
        importlib.import_module("IPython")
    except ImportError:
        stub = types.ModuleType("IPython")

        def embed(*_: Any, **__: Any) -> None:
            raise RuntimeError("IPython.embed() reached (stub: IPython not installed)")

        stub.embed = embed  # type: ignore[attr-defined]
        sys.modules["IPython"] = stub


def load_released(path: str | Path) -> SimpleNamespace:
    """Import the authors' search modules from the checkout at `path`."""
    root = Path(path).expanduser().resolve()
    if not (root / "models/search/darts/model_search.py").is_file():
        raise SystemExit(
            f"{root}: no models/search/darts/model_search.py; pass a checkout of "
            "github.com/Somedaywilldo/BM-NAS"
        )
    # Their package is the top-level `models`: a `models` from elsewhere would shadow it.
    loaded = sys.modules.get("models")
    if loaded is not None:
        where = [Path(p).resolve() for p in getattr(loaded, "__path__", [])]
        if root / "models" not in where:
            raise SystemExit(
                f"a different `models` package is already imported ({where}); "
                f"cannot import the released code from {root}"
            )
    if not sys.path or sys.path[0] != str(root):
        sys.path.insert(0, str(root))
    _stub_ipython()
    model_search = importlib.import_module("models.search.darts.model_search")
    architect = importlib.import_module("models.search.darts.architect")
    genotypes = importlib.import_module("models.search.darts.genotypes")
    aux_models = importlib.import_module("models.auxiliary.aux_models")
    scheduler = importlib.import_module("models.auxiliary.scheduler")
    return SimpleNamespace(
        root=root,
        FusionNetwork=model_search.FusionNetwork,
        Architect=architect.Architect,
        ReshapeInputLayer=aux_models.ReshapeInputLayer,
        LRCosineAnnealingScheduler=scheduler.LRCosineAnnealingScheduler,
        PRIMITIVES=list(genotypes.PRIMITIVES),
        STEP_EDGE_PRIMITIVES=list(genotypes.STEP_EDGE_PRIMITIVES),
        STEP_STEP_PRIMITIVES=list(genotypes.STEP_STEP_PRIMITIVES),
    )


def released_args(**overrides: Any) -> argparse.Namespace:
    """The defaults of their `main_darts_searchable_ntu.py` (every attribute their
    constructors read, and the rest of the search's), with `overrides` applied.
    Note their dropout default `drpt` is 0.2."""
    args = argparse.Namespace(
        seed=2,
        arch_learning_rate=3e-4,
        arch_weight_decay=1e-3,
        weight_decay=3e-4,
        num_input_nodes=8,
        num_keep_edges=2,
        multiplier=2,
        steps=2,
        node_multiplier=2,
        node_steps=2,
        C=128,
        L=8,
        batchsize=96,
        use_dataparallel=False,
        parallel=False,  # read by their model; set from use_dataparallel in their searcher
        modality="both",
        num_outputs=60,
        epochs=30,
        eta_max=1e-3,
        eta_min=1e-6,
        Ti=1,
        Tm=2,
        drpt=0.2,
    )
    for key, value in overrides.items():
        if not hasattr(args, key):
            raise TypeError(f"released_args: unknown attribute {key!r}")
        setattr(args, key, value)
    return args


class _LastLoss(nn.CrossEntropyLoss):
    """Their criterion, keeping the last value: `Architect.step` returns nothing."""

    last: torch.Tensor | None = None

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = super().forward(input, target)
        self.last = loss.detach()
        return loss


class ReleasedSupernet(nn.Module):
    """`Searchable_Skeleton_Image_Net` after the backbones, from their classes."""

    def __init__(
        self, lib: SimpleNamespace, args: argparse.Namespace, criterion: nn.Module
    ) -> None:
        super().__init__()
        self.reshape_layers = nn.ModuleList(
            lib.ReshapeInputLayer(c, args.C, args.L, args) for c in C_INS
        )
        self.multiplier = args.multiplier
        self.fusion_net = lib.FusionNetwork(
            steps=args.steps,
            multiplier=args.multiplier,
            num_input_nodes=len(C_INS),
            num_keep_edges=2,
            args=args,
            criterion=criterion,
            logger=None,
        )
        self.central_classifier = nn.Linear(
            args.C * args.L * args.multiplier, args.num_outputs
        )

    def forward(self, input_features: Sequence[torch.Tensor]) -> torch.Tensor:
        reshaped = [
            layer(feature)
            for layer, feature in zip(self.reshape_layers, input_features, strict=True)
        ]
        return self.central_classifier(self.fusion_net(reshaped))

    def central_params(self) -> list[dict[str, Any]]:
        # As theirs (searchable NTU model): the reshape layers are not in it.
        return [
            {"params": self.fusion_net.parameters()},
            {"params": self.central_classifier.parameters()},
        ]

    def arch_parameters(self) -> list[torch.Tensor]:
        # Their alphas/betas/gammas are plain leaf tensors, not registered parameters.
        return self.fusion_net.arch_parameters()


class ReleasedSearch:
    """One weight step or one architecture step of their NTU search, on given features.

    `inputs`: the eight features (N, C_in, L) in `C_INS` order; `labels`: int64 (N,).
    `scheduler`: run their per-batch cosine LR scheduler in the weight step, as their
    loop does. `dev_stats_forward`: after the architecture step, also run the no-grad
    forward and loss their dev phase computes for its statistics. `train_reshape`: put
    the reshape layers in the weight optimiser (their searchable model does not).
    """

    def __init__(
        self,
        path: str | Path,
        inputs: Sequence[torch.Tensor],
        labels: torch.Tensor,
        *,
        C: int = 128,
        L: int = 8,
        classes: int = 60,
        dropout: float = 0.1,
        weight_lr: float = 1e-3,
        weight_decay: float = 3e-4,
        arch_lr: float = 3e-4,
        arch_weight_decay: float = 1e-3,
        seed: int = 0,
        scheduler: bool = True,
        dev_stats_forward: bool = False,
        train_reshape: bool = False,
    ) -> None:
        if len(inputs) != len(C_INS) or [x.shape[1] for x in inputs] != list(C_INS):
            raise ValueError(f"inputs: eight tensors (N, C_in, L), C_in = {C_INS}")
        self.lib = load_released(path)
        self.inputs = list(inputs)
        self.labels = labels
        self.args = released_args(
            C=C,
            L=L,
            num_outputs=classes,
            drpt=dropout,
            eta_max=weight_lr,
            weight_decay=weight_decay,
            arch_learning_rate=arch_lr,
            arch_weight_decay=arch_weight_decay,
        )
        torch.manual_seed(seed)  # their alphas, betas and gammas are torch.randn
        self.criterion = _LastLoss()
        self.model = ReleasedSupernet(self.lib, self.args, self.criterion)
        params = self.model.central_params()
        if train_reshape:
            params.insert(0, {"params": self.model.reshape_layers.parameters()})
        self.optimizer = torch.optim.Adam(
            params, lr=weight_lr, weight_decay=weight_decay
        )
        self.arch_optimizer = torch.optim.Adam(
            self.model.arch_parameters(),
            lr=arch_lr,
            betas=(0.5, 0.999),
            weight_decay=arch_weight_decay,
        )
        self.architect = self.lib.Architect(
            self.model, self.args, self.criterion, self.arch_optimizer
        )
        self.use_scheduler = scheduler
        self.scheduler: Any = None  # built at the first weight step (needs the batch)
        self.dev_stats_forward = dev_stats_forward

    def batch(self, index: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        # As a DataLoader hands a batch over: each tensor indexed by the rows.
        return [x[index] for x in self.inputs], self.labels[index]

    def _schedule(self, batch_size: int) -> None:
        if self.scheduler is None:
            # Their num_batches_per_epoch = train set size / batch size.
            a = self.args
            self.scheduler = self.lib.LRCosineAnnealingScheduler(
                a.eta_max, a.eta_min, a.Ti, a.Tm, len(self.labels) / 2 / batch_size
            )
        self.scheduler.step()
        self.scheduler.update_optimizer(self.optimizer)

    def _step(self, index: torch.Tensor, architecture: bool) -> float:
        inputs, labels = self.batch(index)
        # Their loop sets train mode once per phase, for 'dev' too (batch statistics).
        self.model.train()
        if architecture:
            self.architect.step(inputs, labels, None)
            loss = self.criterion.last
            if self.dev_stats_forward:
                self.stats_forward(inputs, labels)
            assert loss is not None
            return float(loss)
        self.optimizer.zero_grad()
        output = self.model(inputs)
        _, preds = torch.max(output, 1)
        loss = self.criterion(output, labels)
        if self.use_scheduler:
            self._schedule(len(index))
        loss.backward()
        self.optimizer.step()
        value = loss.item()
        torch.sum(preds == labels)  # their running_corrects
        return value

    def stats_forward(self, inputs: list[torch.Tensor], labels: torch.Tensor) -> float:
        """What their dev phase does after `architect.step`: zero the weight grads, then
        a forward without gradients, for the loss and accuracy it logs."""
        self.optimizer.zero_grad()
        with torch.no_grad():
            output = self.model(inputs)
            _, preds = torch.max(output, 1)
            loss = self.criterion(output, labels)
        torch.sum(preds == labels)
        return loss.item()

    def parameter_counts(self) -> dict[str, int]:
        trained = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
        weights = list(self.model.parameters())
        return {
            "weights": sum(p.numel() for p in weights),
            "weights_trained": sum(p.numel() for p in weights if id(p) in trained),
            "arch": sum(p.numel() for p in self.model.arch_parameters()),
        }


def count_flops(search: ReleasedSearch, index: torch.Tensor) -> dict[str, int]:
    """FLOPs torch counts (matmuls, convolutions, ...) in one weight step and one
    architecture step (both run, so they update the state)."""
    return {
        kind: roofline.count_flops(lambda a=architecture: search._step(index, a))
        for kind, architecture in (("weight", False), ("arch", True))
    }


def random_problem(
    batch: int, classes: int = 60, L: int = 8, seed: int = 0
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """4 * batch rows of standard normal features (N, C_in, L) and random labels."""
    rng = np.random.default_rng(seed)
    n = 4 * batch
    inputs = [
        torch.from_numpy(rng.standard_normal((n, c, L), dtype=np.float32))
        for c in C_INS
    ]
    return inputs, torch.from_numpy(rng.integers(0, classes, n))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--released-code", required=True, type=Path)
    parser.add_argument("--batch", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    opts = parser.parse_args(argv)
    torch.set_num_threads(opts.threads)
    import search_step  # beside this file: its timing, shared by both benchmarks

    inputs, labels = random_problem(opts.batch)
    search = ReleasedSearch(opts.released_code, inputs, labels)
    # Training rows are the even ones, validation rows the odd ones (2 batches each).
    rows = torch.arange(len(labels))
    generator = torch.Generator().manual_seed(0)

    def pick(split: int) -> torch.Tensor:
        pool = rows[rows % 2 == split]
        return pool[torch.randperm(len(pool), generator=generator)[: opts.batch]]

    # The timing of benchmarks/search_step.py: warm-up, collector off, medians.
    batches = [(pick(1), pick(0)) for _ in range(WARMUP + opts.repeats)]
    times, _, _ = search_step.time_runners({"released": search}, batches, WARMUP)
    # Their loop's extras, apart: the dev phase's no-grad forward, and the scheduler's
    # optimiser state_dict round trip (inside the weight step).
    val_inputs, val_labels = search.batch(pick(1))
    extras = {
        "dev stats forward (no grad)": search_step.timed_median(
            lambda: search.stats_forward(val_inputs, val_labels), opts.repeats
        ),
        "scheduler step + update_optimizer": search_step.timed_median(
            lambda: search._schedule(opts.batch), opts.repeats
        ),
    }
    flops = count_flops(search, pick(0))

    lib = search.lib
    print(f"released BM-NAS supernet ({lib.root}), NTU configuration")
    print(
        f"batch {opts.batch}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}, median of {opts.repeats}"
    )
    print(f"edge ops {lib.PRIMITIVES}, node edge ops {lib.STEP_EDGE_PRIMITIVES}")
    print(f"node ops {lib.STEP_STEP_PRIMITIVES}")
    print(f"{'step':<36}{'ms':>9}{'GFLOP':>9}")
    for kind in ("weight", "arch"):
        ms = statistics.median(times["released"][kind])
        print(f"{kind:<36}{ms:>9.1f}{flops[kind] / 1e9:>9.2f}")
    for name, ms in extras.items():
        print(f"  {name:<34}{ms:>9.2f}")
    counts = search.parameter_counts()
    print(
        f"parameters: weights {counts['weights']:,} "
        f"({counts['weights_trained']:,} in the weight optimiser), "
        f"arch {counts['arch']:,}"
    )


if __name__ == "__main__":
    main()
