"""`bmnas extract`: a feature bank from a torchvision backbone over an .npz of images
(the common image case; the Python API, `bmnas_dsl.extract`, takes any torch model,
several backbones and any data set)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from bmnas_dsl.cli.common import EXIT_OK, Subparsers, UsageError, add_command
from bmnas_dsl.cli.knobs import add_threads
from bmnas_dsl.lang.ast import TASKS

# bmnas_dsl.extract.capture.METHODS; spelt here so that building the parser loads no
# torch (a test keeps the two equal).
CAPTURES = ("auto", "fx", "hooks")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "float16")  # bmnas_dsl.data.bankdir.FEATURE_DTYPES
PREFIX = "torchvision:"
# (dest, flag, default) of the options that a resume hint repeats when not the default
REPEATED = (
    ("modality", "--modality", "image"),
    ("pool", "--pool", None),
    ("dtype", "--dtype", "float32"),
    ("batch_size", "--batch-size", 64),
    ("mean", "--mean", None),
    ("std", "--std", None),
    ("task", "--task", "multiclass"),
    ("classes", "--classes", None),
    ("capture", "--capture", "auto"),
    ("device", "--device", "auto"),
    ("seed", "--seed", 0),
)


def add_parser(subparsers: Subparsers) -> None:
    extract = add_command(
        subparsers,
        "extract",
        "extract a feature bank from a torchvision backbone",
        "Runs the model in eval mode over the images of an .npz file (arrays images, "
        "labels, split) and stores the named layers as a bank directory, pooled to L "
        "positions with --pool exactly as the generated model's reshape layer pools; "
        "an interrupted extraction continues with --resume. Records the weights' "
        "SHA-256 and the layers in the bank's meta.json (docs/data.md, 'Extracting a "
        "bank from your own backbones'; other models: the Python API).",
    )
    extract.add_argument(
        "--model",
        required=True,
        metavar="torchvision:NAME",
        help="a torchvision model by name, e.g. torchvision:resnet18 (needs the "
        "extract extra: pip install 'bmnas[extract]')",
    )
    extract.add_argument(
        "--weights",
        required=True,
        metavar="FILE|none",
        help="a state_dict file (torch.save(model.state_dict()) or .safetensors); "
        "none: torchvision's random initialisation under --seed",
    )
    extract.add_argument(
        "--layers",
        required=True,
        metavar="LAYER,...",
        help="modules to capture, named as in model.named_modules() (layer3,layer4); "
        "FEATURE=LAYER names the feature (l41=layer4.1); else its dots become _",
    )
    extract.add_argument(
        "--images",
        required=True,
        metavar="FILE.npz",
        help="images (N, C, H, W) or (N, H, W), uint8 or float; labels (N,) or (N, "
        "K); split (N,) 0/1/2",
    )
    extract.add_argument(
        "-o", "--output", required=True, metavar="OUT.bank", help="the bank directory"
    )
    extract.add_argument(
        "--modality", default="image", help="the modality's name (default: image)"
    )
    extract.add_argument(
        "--pool",
        type=int,
        metavar="L",
        help="pool every map to L positions at capture; none: store the raw maps",
    )
    extract.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float32",
        help="how features are stored (default: float32)",
    )
    extract.add_argument(
        "--batch-size",
        type=int,
        default=64,
        metavar="N",
        help="images per forward pass and per written chunk (default: 64)",
    )
    extract.add_argument(
        "--mean",
        metavar="X,...",
        help="per-channel mean subtracted after scaling uint8 to 0..1 (ImageNet "
        "weights: 0.485,0.456,0.406); none: no normalisation",
    )
    extract.add_argument(
        "--std",
        metavar="X,...",
        help="per-channel std divided by (ImageNet weights: 0.229,0.224,0.225); none: 1",
    )
    extract.add_argument(
        "--task",
        choices=TASKS,
        default="multiclass",
        help="what the labels are (default: multiclass)",
    )
    extract.add_argument(
        "--classes",
        type=int,
        metavar="K",
        help="class count; none: the largest label + 1 (multilabel: the labels' width)",
    )
    extract.add_argument(
        "--capture",
        choices=CAPTURES,
        default="auto",
        help="fx: a torch.fx graph cut after the last layer; hooks: forward hooks; "
        "auto: fx where the model traces (default: auto)",
    )
    extract.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where the model runs; auto: cuda when available (default: auto)",
    )
    extract.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="the seed of the random initialisation of --weights none (default: 0)",
    )
    add_threads(extract)
    extract.add_argument(
        "--overwrite", action="store_true", help="replace an existing bank at -o"
    )
    extract.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted extraction into -o from its last written chunk",
    )
    extract.set_defaults(run=run, resume_hint=resume_hint)


def run(args: argparse.Namespace) -> int:
    model_name = _model_name(args.model)
    layers = _layers(args.layers)
    mean, std = _floats(args.mean, "--mean"), _floats(args.std, "--std")
    # Heavy (torch): imported only when this command runs.
    import torch

    from bmnas_dsl.data.bankdir import read_meta
    from bmnas_dsl.extract import Backbone, extract_bank
    from bmnas_dsl.extract.images import ImageSamples, read_images
    from bmnas_dsl.extract.vision import torchvision_model
    from bmnas_dsl.nn.threads import torch_threads

    images, labels, split = read_images(args.images)
    samples = ImageSamples(images, mean, std)
    device = _device(args.device, torch.cuda.is_available())
    with torch_threads(args.threads):
        torch.manual_seed(args.seed)
        model = torchvision_model(model_name).to(device)
        weights = None if args.weights == "none" else args.weights
        backbone = Backbone(model, layers, weights=weights, name=args.model)
        result = extract_bank(
            args.output,
            {args.modality: backbone},
            samples,
            labels,
            split,
            task=args.task,
            classes=args.classes,
            pool=args.pool,
            dtype=args.dtype,
            batch_size=args.batch_size,
            capture=args.capture,
            info={"images": str(args.images), "seed": args.seed},
            overwrite=args.overwrite,
            resume=args.resume,
        )
    meta = read_meta(result.path)
    shapes = ", ".join(
        f"{modality['name']}.{f['name']} {f['shape']}"
        for modality in meta["modalities"]
        for f in modality["features"]
    )
    resumed = f", resumed at row {result.resumed_from}" if result.resumed_from else ""
    print(
        f"wrote {result.path}: {meta['size']} rows ({shapes}; {args.dtype}), "
        f"capture {result.captures[args.modality]}{resumed}, {result.seconds:.1f} s"
    )
    if args.modality in result.notes:
        print(
            f"capture: forward hooks, since {result.notes[args.modality]}",
            file=sys.stderr,
        )
    return EXIT_OK


def resume_hint(args: argparse.Namespace) -> str | None:
    """The same command with --resume, once a partial bank exists."""
    from bmnas_dsl.data.bankwriter import partial_path
    from bmnas_dsl.extract.resume import settings_path

    output = Path(args.output)
    if not (partial_path(output).is_dir() and settings_path(output).is_file()):
        return None
    words = ["bmnas", "extract", "--model", args.model, "--weights", args.weights]
    words += ["--layers", args.layers, "--images", args.images, "-o", args.output]
    for dest, flag, default in REPEATED:
        value = getattr(args, dest)
        if value != default:
            words += [flag, str(value)]
    return shlex.join([*words, "--resume"])


def _model_name(spec: str) -> str:
    if not spec.startswith(PREFIX) or not spec[len(PREFIX) :]:
        raise UsageError(
            f"--model {spec}: give torchvision:NAME (other models: the Python API, "
            "bmnas_dsl.extract.extract_bank)"
        )
    return spec[len(PREFIX) :]


def _layers(text: str) -> dict[str, str]:
    """{feature: layer} from LAYER or FEATURE=LAYER items (a bare layer's feature is
    its name with dots as _, as in the API)."""
    named = {}
    for item in (item.strip() for item in text.split(",")):
        if not item:
            continue
        feature, equals, layer = item.rpartition("=")
        if equals and (not feature or not layer):
            raise UsageError(f"--layers {item!r}: give LAYER or FEATURE=LAYER")
        named[feature or layer.replace(".", "_")] = layer
    if not named:
        raise UsageError("--layers names no layer")
    return named


def _floats(text: str | None, flag: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(item) for item in text.split(",")]
    except ValueError:
        raise UsageError(f"{flag} {text}: give numbers separated by commas") from None


def _device(choice: str, cuda: bool) -> str:
    if choice == "cuda" and not cuda:
        from bmnas_dsl.extract.errors import ExtractError

        raise ExtractError("--device cuda: torch sees no CUDA device")
    return "cuda" if choice == "cuda" or (choice == "auto" and cuda) else "cpu"
