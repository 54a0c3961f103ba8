"""Capturing named intermediate layers of a backbone: an FX graph cut after the last
requested layer where the model is FX-traceable, forward hooks otherwise.

A layer is named as in `model.named_modules()` (`layer3`, `layer4.1.conv2`), and both
ways capture the output of that module's one call in the forward pass, so a model gives
the same features either way (tested). The FX way is the one of torchvision's
`create_feature_extractor`, written with `torch.fx` alone so that extraction needs no
torchvision: the requested modules are traced as leaves, the graph returns their
outputs, and dead-code elimination drops everything after them (a classifier head that
is not captured never runs). Tracing fails on data-dependent control flow
(`if x.sum() > 0:`); with `method="auto"` the model is then captured with forward hooks,
which run the whole forward pass as written. The FX graph is also checked against the
eager model on the first inputs (`verify`): a trace that baked in something the eager
model computes differently falls back to hooks as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import fx, nn

from bmnas_dsl.extract.errors import ExtractError
from bmnas_dsl.lang.names import suggest

METHODS = ("auto", "fx", "hooks")
# A capture: inputs -> {layer name: its output}.
Capture = Callable[[Any], dict[str, torch.Tensor]]


def check_layers(model: nn.Module, layers: Sequence[str], where: str) -> None:
    """Every layer is a submodule of the model (the model itself is no layer)."""
    known = [name for name, _ in model.named_modules() if name]
    for layer in layers:
        if layer not in known:
            top = ", ".join(name for name, _ in model.named_children())
            raise ExtractError(
                f"{where}: the model has no layer '{layer}'{suggest(layer, known)}; "
                f"layers are named as in model.named_modules() (top level: {top})"
            )
    repeated = sorted({layer for layer in layers if layers.count(layer) > 1})
    if repeated:
        raise ExtractError(f"{where}: layer '{repeated[0]}' is requested twice")


class _LeafTracer(fx.Tracer):
    """torch.fx's tracer, with the requested modules kept whole (call_module nodes)."""

    def __init__(self, leaves: set[str]) -> None:
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return qualified_name in self.leaves or super().is_leaf_module(
            module, qualified_name
        )


def fx_capture(model: nn.Module, layers: Sequence[str]) -> fx.GraphModule:
    """A GraphModule returning {layer: output}; ExtractError saying why when the model
    cannot be traced or a layer is not called exactly once in the graph."""
    tracer = _LeafTracer(set(layers))
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # TraceError, or any op a Proxy cannot stand in for
        raise ExtractError(f"not FX-traceable ({_first_line(exc)})") from None
    calls: dict[str, list[fx.Node]] = {layer: [] for layer in layers}
    for node in graph.nodes:
        if node.op == "call_module" and node.target in calls:
            calls[node.target].append(node)
    for layer, nodes in calls.items():
        if len(nodes) != 1:
            raise ExtractError(
                f"layer '{layer}' is called {len(nodes)} times in the traced graph"
            )
    for node in list(graph.nodes):
        if node.op == "output":
            graph.erase_node(node)
    graph.output({layer: nodes[0] for layer, nodes in calls.items()})
    module = fx.GraphModule(tracer.root, graph)
    module.graph.eliminate_dead_code()  # after: purity checks need the owning module
    module.recompile()
    return module


@contextmanager
def hooks_capture(
    model: nn.Module, layers: Sequence[str], where: str
) -> Iterator[Capture]:
    """Forward hooks on the layers while the block runs; the capture runs the model and
    returns what each layer gave, refusing a layer that ran other than once."""
    modules = dict(model.named_modules())
    seen: dict[str, list[Any]] = {layer: [] for layer in layers}

    def hook_of(layer: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            seen[layer].append(output)

        return hook

    handles = [modules[layer].register_forward_hook(hook_of(layer)) for layer in layers]

    def capture(inputs: Any) -> dict[str, torch.Tensor]:
        for outputs in seen.values():
            outputs.clear()
        model(inputs)
        found = {}
        for layer, outputs in seen.items():
            if len(outputs) != 1:
                raise ExtractError(
                    f"{where}: layer '{layer}' ran {len(outputs)} times in one forward "
                    "pass; capture a layer that runs once"
                )
            found[layer] = outputs[0]
        return found

    try:
        yield capture
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def capture_layers(
    model: nn.Module, layers: Sequence[str], method: str, probe: Any, where: str
) -> Iterator[tuple[Capture, str, str | None]]:
    """(capture, the method used, why FX was not used) for `method` in METHODS, chosen
    on the `probe` inputs (the first batch); the hooks are removed after the block."""
    if method not in METHODS:
        raise ExtractError(f"{where}: capture method {method!r}; use one of {METHODS}")
    with ExitStack() as stack:
        by_hooks = stack.enter_context(hooks_capture(model, layers, where))
        eager = checked_outputs(by_hooks(probe), where)
        if method == "hooks":
            yield by_hooks, "hooks", None
            return
        note = None
        try:
            graph = fx_capture(model, layers)
            if not same_outputs(graph(probe), eager):
                raise ExtractError(
                    "the FX graph's outputs differ from the eager model's on the "
                    "first inputs"
                )
        except ExtractError as exc:
            if method == "fx":
                raise ExtractError(f"{where}: cannot capture with FX: {exc}") from None
            note = str(exc)
        if note is not None:
            yield by_hooks, "hooks", note
            return
    yield graph, "fx", None


def checked_outputs(found: dict[str, Any], where: str) -> dict[str, torch.Tensor]:
    """The captured outputs, each a tensor with a batch and a channel axis."""
    for layer, output in found.items():
        if not isinstance(output, torch.Tensor):
            raise ExtractError(
                f"{where}: layer '{layer}' gives a {type(output).__name__}, not a "
                "tensor; capture a submodule that returns one tensor"
            )
        if output.ndim < 2:
            raise ExtractError(
                f"{where}: layer '{layer}' gives shape {list(output.shape)}; a feature "
                "needs a batch and a channel axis (N, C, ...)"
            )
    return found


def same_outputs(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two captures gave identical tensors (the same ops: the same bits)."""
    return a.keys() == b.keys() and all(
        isinstance(a[k], torch.Tensor)
        and isinstance(b[k], torch.Tensor)
        and a[k].shape == b[k].shape
        and torch.equal(a[k], b[k])
        for k in a
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
