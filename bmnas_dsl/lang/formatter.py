"""The canonical form of a .bmg file (`bmnas fmt`).

Four-space indentation, one statement per line, header statements in the order dims,
classes, task, dropout, meta, then modalities, cells and `output` in source order.
Comments stay with the statement that follows them; a comment written after a statement
on the same line stays at the end of that statement's line.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from bmnas_dsl.lang import ast

INDENT = "    "


@dataclass(order=True)
class _Anchor:
    offset: int
    line: int
    key: tuple = field(compare=False)


def _anchors(file: ast.File) -> list[_Anchor]:
    """Every place a comment can attach to, in source order."""
    found: list[_Anchor] = []

    def opener(node: object) -> None:
        span = node.span  # type: ignore[attr-defined]
        found.append(_Anchor(span.start, span.line, ("open", id(node))))

    def closer(node: object) -> None:
        span = node.span  # type: ignore[attr-defined]
        found.append(_Anchor(span.end - 1, span.end_line, ("close", id(node))))

    if file.version:
        opener(file.version)
    for model in file.models:
        opener(model)
        closer(model)
        for leaf in (
            *model.dims,
            *model.classes,
            *model.task,
            *model.dropout,
            *model.outputs,
        ):
            opener(leaf)
        for block in (*model.meta, *model.modalities, *model.cells):
            opener(block)
            closer(block)
        for meta in model.meta:
            for entry in meta.entries:
                opener(entry)
        for modality in model.modalities:
            for feature in modality.features:
                opener(feature)
        for cell in model.cells:
            for item in cell.items:
                opener(item)
    found.sort()
    return found


def _attach_comments(file: ast.File) -> tuple[dict, dict, list[str]]:
    """Leading and trailing comments per anchor key, and comments after everything."""
    anchors = _anchors(file)
    offsets = [a.offset for a in anchors]
    leading: dict[tuple, list[str]] = {}
    trailing: dict[tuple, list[str]] = {}
    tail: list[str] = []
    for comment in file.comments:
        index = bisect.bisect_left(offsets, comment.span.start)
        before = anchors[index - 1] if index > 0 else None
        if comment.trailing and before is not None and before.line == comment.span.line:
            trailing.setdefault(before.key, []).append(comment.text)
        elif index < len(anchors):
            leading.setdefault(anchors[index].key, []).append(comment.text)
        else:
            tail.append(comment.text)
    return leading, trailing, tail


class _Printer:
    def __init__(self, file: ast.File) -> None:
        self.leading, self.trailing, self.tail = _attach_comments(file)
        self.lines: list[str] = []

    def emit(self, depth: int, text: str, key: tuple | None = None) -> None:
        pad = INDENT * depth
        # Comments before a closing brace belong to the block's body, one level deeper.
        comment_pad = INDENT * (depth + 1) if key and key[0] == "close" else pad
        for comment in self.leading.get(key, ()) if key else ():
            self.lines.append(comment_pad + comment)
        suffix = "".join(f"  {c}" for c in self.trailing.get(key, ())) if key else ""
        self.lines.append(pad + text + suffix)

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def file(self, file: ast.File) -> str:
        if file.version:
            self.emit(0, f"bmg {file.version.value}", ("open", id(file.version)))
        for model in file.models:
            self.blank()
            self.model(model)
        for comment in self.tail:
            self.lines.append(comment)
        return "\n".join(self.lines).strip("\n") + "\n"

    def model(self, model: ast.Model) -> None:
        self.emit(0, f"model {model.name} {{", ("open", id(model)))
        for dims in model.dims:
            entries = ", ".join(f"{e.name} = {e.value}" for e in dims.entries)
            self.emit(1, f"dims {entries}", ("open", id(dims)))
        for classes in model.classes:
            self.emit(1, f"classes {classes.value}", ("open", id(classes)))
        for task in model.task:
            self.emit(1, f"task {task.name}", ("open", id(task)))
        for dropout in model.dropout:
            self.emit(1, f"dropout {dropout.text}", ("open", id(dropout)))
        for meta in model.meta:
            self.blank()
            self.emit(1, "meta {", ("open", id(meta)))
            for entry in meta.entries:
                self.emit(2, f"{entry.key} = {_meta_value(entry)}", ("open", id(entry)))
            self.emit(1, "}", ("close", id(meta)))
        for modality in model.modalities:
            self.blank()
            self.emit(1, f"modality {modality.name} {{", ("open", id(modality)))
            # Feature names are padded to a column within their modality, as in the spec.
            width = max((len(f.name) for f in modality.features), default=0)
            for feature in modality.features:
                shape = ", ".join(str(d) for d in feature.shape)
                self.emit(
                    2, f"{feature.name:<{width}} : [{shape}]", ("open", id(feature))
                )
            self.emit(1, "}", ("close", id(modality)))
        for cell in model.cells:
            self.blank()
            self.cell(cell)
        for output in model.outputs:
            self.blank()
            self.emit(
                1,
                "output " + ", ".join(r.text for r in output.refs),
                ("open", id(output)),
            )
        self.emit(0, "}", ("close", id(model)))

    def cell(self, cell: ast.Cell) -> None:
        self.emit(
            1,
            f"cell {cell.name} (x = {cell.x.text}, y = {cell.y.text}) {{",
            ("open", id(cell)),
        )
        for item in cell.items:
            if isinstance(item, ast.Step):
                args = ", ".join(a.text for a in item.args)
                self.emit(2, f"{item.name} = {item.op}({args})", ("open", id(item)))
            else:
                self.emit(
                    2,
                    "out = " + ", ".join(r.text for r in item.refs),
                    ("open", id(item)),
                )
        self.emit(1, "}", ("close", id(cell)))


def _meta_value(entry: ast.MetaEntry) -> str:
    if isinstance(entry.value, bool):
        return "true" if entry.value else "false"
    if isinstance(entry.value, str):
        escaped = entry.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return entry.text


def format_file(file: ast.File) -> str:
    """The canonical text of a parsed file."""
    return _Printer(file).file(file)
