"""What a released genotype does not say: the per-dataset constants and flag defaults of
the released scripts (docs/import.md), and a user's own input list (`--features`).

The feature list fixes what the genotype's node indices mean: index i is the i-th
feature, in the order the released code concatenates its backbones' outputs. Shapes are
the backbones' at the released input sizes; only their first entry (the channels) enters
the parameter count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bmnas_dsl.errors import ReleasedGenotypeError
from bmnas_dsl.lang.ast import TASKS
from bmnas_dsl.lang.names import declarable_problem

Feature = tuple[str, tuple[int, ...]]  # ("video.layer4", (2048, 8, 8, 8))


@dataclass(frozen=True)
class Preset:
    name: str
    dataset: str
    features: tuple[Feature, ...]
    C: int
    L: int
    classes: int
    task: str
    dropout: float
    # The released flag defaults of the search that wrote such genotypes, for reference
    # (`--help`, docs): an imported genotype's own counts are what is built.
    cells: int
    steps: int
    node_multiplier: int


def _modality(
    name: str, features: Sequence[tuple[str, Sequence[int]]]
) -> list[Feature]:
    return [(f"{name}.{feature}", tuple(shape)) for feature, shape in features]


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        # NTU RGB-D: I3D video (8 frames of 256 x 256) and the skeleton network's
        # features, as examples/ntu_config1.bmg declares them.
        Preset(
            "ntu",
            "NTU RGB-D",
            tuple(
                _modality(
                    "video",
                    [
                        ("layer2", (512, 8, 32, 32)),
                        ("layer3", (1024, 8, 16, 16)),
                        ("layer4", (2048, 8, 8, 8)),
                        ("pooled", (2048,)),
                    ],
                )
                + _modality(
                    "skeleton",
                    [
                        ("conv5", (128, 4, 4)),
                        ("conv6", (256, 2, 2)),
                        ("out7", (1024,)),
                        ("fc7", (512,)),
                    ],
                )
            ),
            C=128,
            L=8,
            classes=60,
            task="multiclass",
            dropout=0.2,
            cells=2,
            steps=2,
            node_multiplier=2,
        ),
        # MM-IMDB: VGG-19 maps of the 256 x 160 posters (layers 20, 26, 33, 36) and the
        # MaxOut MLP's hidden layers of the text.
        Preset(
            "mmimdb",
            "MM-IMDB",
            tuple(
                _modality(
                    "image",
                    [
                        ("vgg1", (512, 32, 20)),
                        ("vgg2", (512, 32, 20)),
                        ("vgg3", (512, 16, 10)),
                        ("vgg4", (512, 8, 5)),
                    ],
                )
                + _modality("text", [("o1", (64,)), ("o3", (128,))])
            ),
            C=192,
            L=16,
            classes=23,
            task="multilabel",
            dropout=0.1,
            cells=2,
            steps=1,
            node_multiplier=1,
        ),
        # EgoGesture: the two ResNeXt-101 3D networks (32 frames of 112 x 112), RGB
        # then depth.
        Preset(
            "ego",
            "EgoGesture",
            tuple(
                _modality(
                    "rgb",
                    [
                        ("x2", (512, 8, 14, 14)),
                        ("x3", (1024, 4, 7, 7)),
                        ("x4", (2048, 2, 4, 4)),
                        ("avgpool", (2048,)),
                    ],
                )
                + _modality(
                    "depth",
                    [
                        ("x2", (512, 8, 14, 14)),
                        ("x3", (1024, 4, 7, 7)),
                        ("x4", (2048, 2, 4, 4)),
                        ("avgpool", (2048,)),
                    ],
                )
            ),
            C=128,
            L=8,
            classes=83,
            task="multiclass",
            dropout=0.2,
            cells=2,
            steps=3,
            node_multiplier=3,
        ),
    )
}

_SPEC = re.compile(r"([^:]+):(\d+(?:[x,]\d+)*)")
# Shapes beyond this are certainly typos (and would overflow the parameter count).
_MAX_DIM = 2**31 - 1


def parse_feature(spec: str) -> Feature:
    """`video.layer4:2048x8x8x8` (or `2048,8,8,8`) as a feature; ValueError saying why."""
    match = _SPEC.fullmatch(spec.strip())
    if not match:
        raise ValueError(
            f"{spec!r} is not MODALITY.FEATURE:C[xD...] (e.g. video.layer4:2048x8x8x8)"
        )
    feature = match.group(1), tuple(int(d) for d in re.split(r"[x,]", match.group(2)))
    _check_feature(*feature)
    return feature


def _check_feature(qualified: str, shape: tuple[int, ...]) -> None:
    """ValueError unless a .bmg file can declare the feature: `modality.feature`, both
    names declarable, and a shape of positive dimensions."""
    modality, dot, feature = qualified.partition(".")
    if not dot or "." in feature:
        raise ValueError(f"{qualified!r} is not MODALITY.FEATURE")
    for part, what in ((modality, "modality"), (feature, "feature")):
        problem = declarable_problem(part)
        if problem:
            raise ValueError(f"{what} name {part!r} {problem}")
    if not shape or not all(type(d) is int and 1 <= d <= _MAX_DIM for d in shape):
        raise ValueError(f"the shape of {qualified} needs dimensions 1..{_MAX_DIM}")


def check_features(features: Sequence[Feature]) -> tuple[Feature, ...]:
    """A whole input list: at least two features, no repeats, each modality's features
    together (the .bmg text declares them by modality, and their order is S's)."""
    if len(features) < 2:
        raise ReleasedGenotypeError(
            f"--features lists {len(features)} feature(s); a cell needs two inputs"
        )
    seen: set[str] = set()
    closed: set[str] = set()
    previous = None
    for qualified, shape in features:
        try:
            _check_feature(qualified, shape)
        except ValueError as exc:
            raise ReleasedGenotypeError(f"--features: {exc}") from None
        modality = qualified.partition(".")[0]
        if qualified in seen:
            raise ReleasedGenotypeError(f"--features lists {qualified} twice")
        if modality != previous:
            if modality in closed:
                raise ReleasedGenotypeError(
                    f"--features: the features of modality {modality!r} are not "
                    "together; list each modality's features in one run"
                )
            if previous is not None:
                closed.add(previous)
            previous = modality
        seen.add(qualified)
    return tuple(features)


def check_header(C: int, L: int, classes: int, task: str, dropout: float) -> None:
    """The values the .bmg header takes, checked as validation would (E009)."""
    for name, value in (("--C", C), ("--L", L), ("--classes", classes)):
        if type(value) is not int or not 1 <= value <= _MAX_DIM:
            raise ReleasedGenotypeError(f"{name} {value} is not a positive integer")
    if task not in TASKS:
        raise ReleasedGenotypeError(f"--task must be one of {', '.join(TASKS)}")
    if not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise ReleasedGenotypeError(f"--dropout {dropout} is not in [0, 1)")
