"""The one error hierarchy of bmnas.

Every error that a user can cause (bad input, a run that cannot start or resume, an ONNX
Runtime that cannot provide what was asked) is a `BmnasError` whose message is one line
saying what and where. The command line catches the base class in one place
(`bmnas_dsl/cli/main.py`) and exits 1; anything else is a bug (exit 3). Torch-free, so
that every stage may import it.
"""

from __future__ import annotations


class BmnasError(Exception):
    """A problem the user can fix; `str(error)` is the one-line message."""


class GenotypeError(BmnasError):
    """A genotype that does not pass the checks; the message holds its located
    diagnostics."""


class BankError(BmnasError):
    """A feature bank that cannot be used; the message names every problem found."""


class SearchError(BmnasError):
    """A search that cannot start or go on; the message says why."""


class TrainError(BmnasError):
    """A training run that cannot start, go on or resume; the message says why."""


class NumericError(BmnasError):
    """A non-finite value in a run; the message names the epoch, the step and the tensor."""


class ExportError(BmnasError):
    """The export failed or does not match PyTorch; no file was written."""


class InferError(BmnasError):
    """Inputs or model that cannot be run; the message says what and where."""


class RuntimeSetupError(BmnasError):
    """ONNX Runtime is missing or cannot provide what was asked; the message says why."""


class WeightsError(BmnasError):
    """A weights file that cannot be used for a model; the message says why."""


class ReportError(BmnasError):
    """Runs that cannot be summarised, or an ONNX model that disagrees with PyTorch."""


class VizError(BmnasError):
    """An input `bmnas viz` cannot draw; the message says why (one line, no traceback)."""


class AblationError(BmnasError):
    """A transformation that cannot be applied or gives an invalid genotype."""


class ReleasedGenotypeError(BmnasError):
    """A genotype of the authors' released BM-NAS code that `bmnas import` cannot read or
    convert (a refused pickle, a malformed printed form, a structure bmnas cannot build);
    the message says what and where, in one line."""


class ExtractError(BmnasError):
    """An extraction (`bmnas extract`, `extract_bank`) that cannot start or go on: a
    layer the model does not have, a capture that cannot be made, inputs that do not
    fit; the message says what and where."""


class DistributedError(BmnasError):
    """A distributed environment (torchrun's variables) that cannot be used, or a
    setting that a distributed run cannot honour; the message says why."""


class DeviceError(BmnasError):
    """A `--device` that this machine cannot provide (no CUDA, no such GPU); the
    message says why."""
