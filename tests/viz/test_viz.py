"""`bmnas viz`: valid SVG, PNG and DOT for every example, pruned parts absent, a layout
that keeps boxes, labels and lines apart, search-run curves, clear errors, and the same
bytes for the same input."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import EXAMPLES, MINIMAL, run_bmnas
from genotypes import genotypes
from hypothesis import HealthCheck, given, settings

from bmnas_dsl.cli.main import main
from bmnas_dsl.passes.pipeline import analyse_file, analyse_text
from bmnas_dsl.viz import picture
from bmnas_dsl.viz.diagram import diagram_of
from bmnas_dsl.viz.dot import render_dot
from bmnas_dsl.viz.layout import layout
from bmnas_dsl.viz.routing import MAX_ORDERED_TRUNKS, Trunk, order_lanes
from bmnas_dsl.viz.shapes import FONT, Box, Layout, text_width

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_TEXT = "{http://www.w3.org/2000/svg}text"
QUOTED = r'"(?:[^"\\]|\\.)*"'

# Cells that read other cells, a Zero step, a folded Sum, an unused step, a dead cell and
# an unused feature. Every name that pruning removes contains "ghost".
PRUNED = """\
bmg 1

model pruned_parts {
    dims C = 16, L = 4
    classes 5

    modality audio {
        mel : [64, 20]
        ghostfeat : [40, 20]
    }

    modality video {
        layer3 : [256, 4, 7, 7]
        layer4 : [512, 4, 4, 4]
    }

    cell c1 (x = audio.mel, y = video.layer3) {
        s1 = Attention(x, y)
        s2 = LinearGLU(s1, y)
        ghostunused = Sum(x, y)
        out = s2
    }

    cell c2 (x = c1, y = video.layer4) {
        ghostzero = Zero(x, y)
        s1 = ConcatFC(x, ghostzero)
        ghostfold = Sum(ghostzero, y)
        s2 = Attention(s1, ghostfold)
        out = s1, s2, ghostzero
    }

    cell c3 (x = c1, y = c2) {
        s1 = Sum(y, x)
        out = s1
    }

    cell ghostcell (x = audio.ghostfeat, y = audio.mel) {
        s1 = Sum(x, y)
        out = s1
    }

    output c3, c2
}
"""


def chain(cells: int) -> str:
    """Cell k reads cell k - 1 and, by turns, one of two features: one trunk per cell,
    and two feature trunks that cross all of them."""
    lines = ["bmg 1", "model chain {", "    dims C = 8, L = 4", "    classes 3"]
    lines += ["    modality a {", "        f : [8]", "        g : [8]", "    }"]
    for k in range(1, cells + 1):
        x = f"c{k - 1}" if k > 1 else "a.f"
        y = "a.g" if k % 2 else "a.f"
        lines += [f"    cell c{k} (x = {x}, y = {y}) {{", "        s1 = Sum(x, y)"]
        lines += ["        out = s1", "    }"]
    return "\n".join([*lines, f"    output c{cells}", "}", ""])


def viz(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`bmnas viz ...` in this process (the subprocess route is tested separately)."""
    status = main(["viz", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def svg_texts(data: bytes) -> list[str]:
    root = ET.fromstring(data)  # raises on malformed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return ["".join(element.itertext()) for element in root.iter(SVG_TEXT)]


def survivors(path: Path) -> set[str]:
    """Names the picture must show, read from the pruned IR (not from bmnas_dsl.viz)."""
    names = set()
    for _, data in analyse_file(path).pruned.nodes(data=True):
        if data["kind"] == "feature":
            names |= {data["modality"], data["feature"]}
        elif data["kind"] == "cell":
            names.add(data["name"])
        elif data["kind"] == "step":
            names |= {data["name"], data["op"]}
    return names


def shows(texts: list[str], name: str) -> bool:
    return any(re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", t) for t in texts)


def check_png(data: bytes) -> None:
    import matplotlib.image

    assert data.startswith(PNG_SIGNATURE)
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    height, width = image.shape[:2]
    assert 300 <= width <= 6000 and 200 <= height <= 6000, image.shape
    ink = (image[..., :3] < 0.9).any(axis=-1).mean()  # share of non-white pixels
    assert 0.03 < ink < 0.6, ink
    colours = {tuple(p) for p in image[::7, ::7, :3].reshape(-1, 3).tolist()}
    assert len(colours) > 20


def check_dot(text: str) -> tuple[set[str], list[tuple[str, str, str]], list[str]]:
    """Structural check without Graphviz; returns (node ids, edges, cluster names)."""
    assert text.startswith("digraph ")
    outside = re.sub(QUOTED, '""', text)  # braces inside labels do not count
    depth = 0
    for char in outside:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0 and outside.rstrip().endswith("}")
    assert outside.count('"') % 2 == 0
    declared = set(re.findall(rf"^\s*({QUOTED})\s*\[", text, re.M))
    edges = re.findall(rf"^\s*({QUOTED})\s*->\s*({QUOTED})\s*\[([^\]]*)\];", text, re.M)
    assert edges
    for source, target, _ in edges:
        assert source in declared and target in declared, (source, target)
    clusters = re.findall(r'subgraph "(cluster_[^"]+)"\s*\{', text)
    assert len(clusters) == len(set(clusters))
    return declared, edges, clusters


# -- every example, three formats ---------------------------------------------------
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_draws_as_svg_png_and_dot(example, tmp_path, capsys):
    names = survivors(example)
    pruned = analyse_file(example).pruned
    for fmt in ("svg", "png", "dot"):
        out = tmp_path / f"picture.{fmt}"
        status, stdout, stderr = viz(str(example), "-o", str(out), capsys=capsys)
        assert status == 0, stderr
        assert stdout == f"wrote {out}\n"
    texts = svg_texts((tmp_path / "picture.svg").read_bytes())
    missing = sorted(n for n in names if not shows(texts, n))
    assert not missing
    assert shows(texts, pruned.graph["model"])
    check_png((tmp_path / "picture.png").read_bytes())
    declared, edges, clusters = check_dot((tmp_path / "picture.dot").read_text())
    modalities = {d["modality"] for _, d in pruned.nodes(data=True) if "modality" in d}
    cells = set(pruned.graph["cell_order"])
    assert set(clusters) == {f"cluster_modality_{m}" for m in modalities} | {
        f"cluster_cell_{c}" for c in cells
    }
    ids = {f'"{n}"' for n in pruned.nodes if not n.startswith("input:")}
    assert ids <= declared  # every kept feature, cell, step and the head
    styles = {attrs for _, _, attrs in edges}
    assert any("penwidth=2.2" in s for s in styles)  # upper level
    assert any("style=dashed" in s for s in styles)  # inner


def test_pruned_steps_cells_and_features_are_not_drawn(write, tmp_path, capsys):
    path = write(PRUNED)
    assert analyse_file(path).ok
    for fmt in ("svg", "dot"):
        status, _, err = viz(str(path), "-o", str(tmp_path / f"p.{fmt}"), capsys=capsys)
        assert status == 0, err
    texts = svg_texts((tmp_path / "p.svg").read_bytes())
    dot = (tmp_path / "p.dot").read_text()
    assert not [t for t in texts if "ghost" in t]
    assert "ghost" not in dot
    for name in survivors(path):
        assert shows(texts, name), name
    assert "pruned away (not drawn): 1 feature, 1 cell, 3 steps" in texts
    assert "0" in texts  # c2.s1's second operand is the zero a Zero step left behind
    _, edges, _ = check_dot(dot)
    kinds = {(s, t): a for s, t, a in edges}
    # Upper level between cells, and the head fed by the cells of `output`.
    assert "penwidth=2.2" in kinds[('"cell:c1"', '"input:c2.x"')]
    assert "penwidth=2.2" in kinds[('"cell:c2"', '"input:c3.y"')]
    assert ('"cell:c3"', '"output"') in kinds and ('"cell:c2"', '"output"') in kinds
    assert "style=dashed" in kinds[('"input:c2.y"', '"step:c2.s2"')]  # the folded Sum


def test_a_cell_whose_out_was_all_zero_shows_its_residual(write, tmp_path, capsys):
    text = MINIMAL.replace(
        "s1 = Sum(x, y)\n        s2 = Attention(s1, y)", "z = Zero(x, y)"
    )
    path = write(text.replace("out = s1, s2", "out = z"))
    status, _, err = viz(str(path), "-o", str(tmp_path / "m.dot"), capsys=capsys)
    assert status == 0, err
    dot = (tmp_path / "m.dot").read_text()
    assert '"input:c1.x" -> "cell:c1" [color="#868e96"' in dot
    shapes = layout(diagram_of(analyse_file(path).pruned))
    assert [e.kind for e in shapes.edges].count("residual") == 2  # c1 and the legend


# -- the layout keeps things apart ----------------------------------------------------
def overlap(a: tuple[float, ...], b: tuple[float, ...], slack: float = 0.005) -> bool:
    """Do rectangles (x0, y0, x1, y1) overlap by more than `slack`?"""
    return (
        min(a[2], b[2]) - max(a[0], b[0]) > slack
        and min(a[3], b[3]) - max(a[1], b[1]) > slack
    )


def rect(box: Box, inset: float = 0.0) -> tuple[float, float, float, float]:
    return (box.x + inset, box.y + inset, box.right - inset, box.bottom - inset)


def bezier(points, t: float) -> tuple[float, float]:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points
    s = 1 - t
    weights = (s**3, 3 * s * s * t, 3 * s * t * t, t**3)
    return (
        sum(w * x for w, x in zip(weights, (x0, x1, x2, x3), strict=True)),
        sum(w * y for w, y in zip(weights, (y0, y1, y2, y3), strict=True)),
    )


def inside(point, box: tuple[float, float, float, float]) -> bool:
    return box[0] < point[0] < box[2] and box[1] < point[1] < box[3]


def check_layout(picture: Layout) -> None:
    boxes = picture.boxes
    for box in boxes:
        assert box.x >= 0 and box.right <= picture.width, box
        assert box.y >= 0 and box.bottom <= picture.height, box
    # Leaf boxes never overlap; neither do containers of one kind, or cells and heads.
    leaves = [b for b in boxes if b.role in ("feature", "step", "out", "head", "port")]
    for groups in (
        leaves,
        [b for b in boxes if b.role in ("modality", "cell", "head")],
    ):
        for i, a in enumerate(groups):
            for b in groups[i + 1 :]:
                assert not overlap(rect(a), rect(b)), (a, b)
    # Labels (by the layout's own width estimate) never overlap each other.
    labels = []
    for t in picture.texts:
        w, h = text_width(t.text, t.role), FONT[t.role] / 72 * 1.15
        x0 = t.x - (0 if t.ha == "left" else w / 2)
        labels.append(((x0, t.y - h / 2, x0 + w, t.y + h / 2), t))
    for i, (a, ta) in enumerate(labels):
        assert a[2] <= picture.width and a[0] >= 0, ta
        for b, tb in labels[i + 1 :]:
            assert not overlap(a, b, 0.01), (ta, tb)
    cells = [rect(b, 0.01) for b in boxes if b.role == "cell"]
    solid = [rect(b, 0.01) for b in boxes if b.role in ("step", "out", "feature")]
    for edge in picture.edges:
        if edge.kind == "upper":
            # Orthogonal lines never run through a cell (the source cell's own `out`
            # line starts inside it).
            for p, q in zip(edge.points, edge.points[1:], strict=False):
                samples = [
                    (p[0] + (q[0] - p[0]) * k / 20, p[1] + (q[1] - p[1]) * k / 20)
                    for k in range(21)
                ]
                for cell in cells:
                    if not inside(p, cell):
                        assert not any(inside(s, cell) for s in samples), edge
        elif edge.kind in ("inner", "residual") and edge.curved:
            # Curves never pass through a box between their two ends.
            samples = [bezier(edge.points, k / 40) for k in range(3, 38)]
            for box in solid:
                assert not any(inside(s, box) for s in samples), edge


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_layout_of_every_example_keeps_boxes_labels_and_lines_apart(example):
    check_layout(layout(diagram_of(analyse_file(example).pruned)))


def test_layout_with_cells_reading_cells_keeps_lines_out_of_cells():
    for text in (MINIMAL, PRUNED):
        result = analyse_text(text)
        assert result.ok
        picture = layout(diagram_of(result.pruned))
        check_layout(picture)
        # c1 feeds two inputs (and the head in MINIMAL): its line branches, with a dot.
        assert picture.dots


def crossings(order: list[Trunk], lanes: list[float], left: float, right: float) -> int:
    """Brute force: every horizontal piece of one trunk against every other trunk's
    vertical, as drawn (a feature enters from the left, a cell from the right)."""
    count = 0
    for a, lane_a in zip(order, lanes, strict=True):
        pieces = [(y, lane_a, right) for _, y in a.ports]
        pieces.append(
            (a.entry, lane_a, right) if a.from_cell else (a.entry, left, lane_a)
        )
        for b, lane_b in zip(order, lanes, strict=True):
            low, high = b.span()
            if b is not a:
                count += sum(
                    x1 < lane_b < x2 and low < y < high for y, x1, x2 in pieces
                )
    return count


def test_lane_order_is_a_local_optimum_of_the_drawn_crossings():
    import random

    rng = random.Random(7)
    for _ in range(200):
        trunks = [
            Trunk(
                f"s{k}",
                rng.randint(0, 30) / 4,
                rng.random() < 0.5,
                tuple((5.0, rng.randint(0, 30) / 4) for _ in range(rng.randint(1, 4))),
            )
            for k in range(rng.randint(2, 9))
        ]
        lanes = [1.2 + 0.09 * j for j in range(len(trunks))]
        order = order_lanes(trunks, lanes, 1.0, 2.5)
        assert sorted(t.source for t in order) == sorted(t.source for t in trunks)
        score = crossings(order, lanes, 1.0, 2.5)
        for i in range(len(order) - 1):  # no swap of neighbours would do better
            swapped = [*order[:i], order[i + 1], order[i], *order[i + 2 :]]
            assert crossings(swapped, lanes, 1.0, 2.5) >= score


def test_a_chain_of_hundreds_of_cells_lays_out():
    # This took minutes before the lanes were fixed; its cost is measured by
    # benchmarks/scaling.py, not limited here.
    cells = 300
    result = analyse_text(chain(cells))
    assert result.ok
    picture = layout(diagram_of(result.pruned))
    boxes = [b for b in picture.boxes if b.role == "cell"]
    assert len(boxes) == cells > MAX_ORDERED_TRUNKS
    assert all(a.bottom < b.y for a, b in pairwise(boxes))
    assert all(b.right <= picture.width and b.bottom <= picture.height for b in boxes)
    upper = sum(e.kind == "upper" for e in picture.edges)
    assert upper == 2 * cells + 1  # every input, and the legend's sample


def test_dot_output_needs_neither_matplotlib_nor_numpy(tmp_path):
    target = tmp_path / "a.dot"
    code = (
        "import sys\n"
        "from bmnas_dsl.cli.main import main\n"
        f"status = main(['viz', {str(EXAMPLES[0])!r}, '-o', {str(target)!r}])\n"
        "heavy = sorted(m for m in sys.modules\n"
        "               if m.split('.')[0] in ('torch', 'numpy', 'matplotlib'))\n"
        "print(status, heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.stderr.strip() == "0 []", result.stderr
    check_dot(target.read_text())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=genotypes())
def test_random_genotypes_lay_out_and_give_valid_dot(text):
    result = analyse_text(text)
    if not result.ok:  # the strategy aims at valid files; a rare miss proves nothing
        return
    diagram = diagram_of(result.pruned)
    check_layout(layout(diagram))
    _, _, clusters = check_dot(render_dot(diagram))
    assert len(clusters) == len(diagram.modalities) + len(diagram.cells)


# -- search runs ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real (tiny) search run: 2 epochs on a 200-sample planted bank."""
    import torch

    from bmnas_dsl.data.planted import make_planted
    from bmnas_dsl.search.runner import Training, run_search, space_for

    torch.set_num_threads(1)
    bank = make_planted(size=200)
    space = space_for(bank, C=8, L=2, cells=2, steps=2)
    training = Training(epochs=2, batch_size=32, threads=1)
    path = tmp_path_factory.mktemp("search") / "arch.run"
    run_search(bank, space, training, "planted", path, "arch.bmg")
    return path


def test_search_run_curves_draw_as_png_and_svg(run_dir, tmp_path, capsys):
    for fmt in ("png", "svg"):
        status, out, err = viz(
            str(run_dir), "-o", str(tmp_path / f"c.{fmt}"), capsys=capsys
        )
        assert status == 0, err
        assert out == f"wrote {tmp_path / f'c.{fmt}'}\n"
    check_png((tmp_path / "c.png").read_bytes())
    texts = svg_texts((tmp_path / "c.svg").read_bytes())
    joined = "\n".join(texts)
    assert "validation accuracy per epoch" in joined
    assert re.search(r"best: epoch [12], 0\.\d{4}", joined)
    for label in ("a.f3", "b.f2", "c1", "Zero", "LinearGLU", "ConcatFC", "s2"):
        assert label in texts, label  # predecessor, op and step names label the maps
    for title in ("cell c1 · \u03b1", "cell c2 · \u03b2", "cell c2 · \u03b3"):
        assert title in joined
    # The run's genotype (cells may read cells) draws too.
    status, _, err = viz(
        str(run_dir / "best.bmg"), "-o", str(tmp_path / "g.png"), capsys=capsys
    )
    assert status == 0, err
    check_png((tmp_path / "g.png").read_bytes())


def test_a_log_without_weights_or_settings_still_gives_curves(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    lines = [
        {"epoch": 1, "val_metric": 0.5, "train_loss": 1.0, "val_loss": 1.1},
        {"epoch": 2, "val_metric": 0.6, "train_loss": 0.9, "val_loss": 1.0},
    ]
    (run / "log.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    status, _, err = viz(str(run), "-o", str(tmp_path / "c.svg"), capsys=capsys)
    assert status == 0, err
    assert "best: epoch 2, 0.6000" in svg_texts((tmp_path / "c.svg").read_bytes())


# -- errors -----------------------------------------------------------------------------
def bad_run(tmp_path: Path, log: str | None) -> Path:
    run = tmp_path / "bad.run"
    run.mkdir()
    if log is not None:
        (run / "log.jsonl").write_text(log)
    return run


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file or directory"),
        ("suffix", "unknown output format"),
        ("no_log", "no log.jsonl; not a search or training run directory"),
        ("empty_log", "no epoch logged yet"),
        ("not_json", "log.jsonl:2: not JSON"),
        ("no_metric", "log.jsonl:1: no 'val_metric'"),
        ("huge_metric", "log.jsonl:2: 'val_metric' is 1e+300; it must be a finite"),
        ("huge_epoch", "log.jsonl:2: 'epoch' is 1e+300; it must be an integer from 0"),
        ("fraction_epoch", "log.jsonl:1: 'epoch' is 1.5; it must be an integer from 0"),
        ("bool_epoch", "log.jsonl:1: 'epoch' is True; it must be an integer from 0"),
        ("negative_epoch", "log.jsonl:1: 'epoch' is -1; it must be an integer from 0"),
        ("huge_weight", "alpha/beta/gamma are malformed"),
        ("too_many_cells", "too large to draw as PNG: 1,004 cells, steps and features"),
        ("too_many_pixels", "too large for PNG at 150 dpi"),
        ("bad_weights", "alpha/beta/gamma are malformed"),
        ("too_many_plotted_cells", "65 cells, more than the 64 a plot can show"),
        ("dot_of_run", "DOT output is for genotype files"),
    ],
)
def test_errors_are_one_line_exit_1_and_leave_the_output_alone(
    case, message, tmp_path, capsys, write
):
    good = '{"epoch": 1, "val_metric": 0.5}\n'
    source = {
        "missing": lambda: tmp_path / "nope.bmg",
        "suffix": lambda: EXAMPLES[0],
        "no_log": lambda: bad_run(tmp_path, None),
        "empty_log": lambda: bad_run(tmp_path, ""),
        "not_json": lambda: bad_run(tmp_path, good + "{oops\n"),
        "no_metric": lambda: bad_run(tmp_path, '{"epoch": 1}\n'),
        "huge_metric": lambda: bad_run(
            tmp_path, good + '{"epoch": 2, "val_metric": 1e300}'
        ),
        "huge_epoch": lambda: bad_run(
            tmp_path, good + '{"epoch": 1e300, "val_metric": 0.5}'
        ),
        "fraction_epoch": lambda: bad_run(
            tmp_path, '{"epoch": 1.5, "val_metric": 0.5}'
        ),
        "bool_epoch": lambda: bad_run(tmp_path, '{"epoch": true, "val_metric": 0.5}'),
        "negative_epoch": lambda: bad_run(tmp_path, '{"epoch": -1, "val_metric": 0.5}'),
        "huge_weight": lambda: bad_run(
            tmp_path,
            '{"epoch": 1, "val_metric": 0.5, "alpha": [[0.5, 1e300]], '
            '"beta": [[[0.5, 0.5]]], "gamma": [[[0.5, 0.5]]]}\n',
        ),
        "too_many_cells": lambda: write(chain(501)),  # as .dot it would be drawn
        "too_many_pixels": lambda: write(chain(picture.MAX_PARTS // 4)),  # SVG fits
        "bad_weights": lambda: bad_run(
            tmp_path,
            '{"epoch": 1, "val_metric": 0.5, "alpha": [[0.5]], "beta": [], '
            '"gamma": []}\n',
        ),
        "too_many_plotted_cells": lambda: bad_run(
            tmp_path,
            '{"epoch": 1, "val_metric": 0.5, "alpha": '
            + json.dumps([[0.5, 0.5]] * 65)
            + ', "beta": '
            + json.dumps([[[0.5, 0.5]]] * 65)
            + ', "gamma": '
            + json.dumps([[[0.5, 0.5]]] * 65)
            + "}\n",
        ),
        "dot_of_run": lambda: bad_run(tmp_path, good),
    }[case]()
    target = tmp_path / {"suffix": "out.jpg", "dot_of_run": "out.dot"}.get(
        case, "out.png"
    )
    target.write_bytes(b"precious")
    status, out, err = viz(str(source), "-o", str(target), capsys=capsys)
    assert status == 1
    assert out == ""
    assert err.startswith("bmnas viz: error: ") and err.count("\n") == 1, err
    assert message in err
    assert target.read_bytes() == b"precious"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_a_refused_png_names_a_dpi_that_fits(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(picture, "MAX_PIXELS", 200_000)
    target = tmp_path / "out.png"
    status, _, err = viz(str(EXAMPLES[0]), "-o", str(target), capsys=capsys)
    assert status == 1 and not target.exists()
    dpi = re.search(r"use --dpi (\d+) or less, or write a \.svg file$", err.strip())
    assert dpi, err
    status, _, err = viz(
        str(EXAMPLES[0]), "-o", str(target), "--dpi", dpi[1], capsys=capsys
    )
    assert status == 0, err
    import matplotlib.image

    height, width = matplotlib.image.imread(str(target)).shape[:2]
    assert width * height <= 200_000


def test_invalid_genotype_prints_its_diagnostics_and_no_traceback(write, tmp_path):
    path = write(MINIMAL.replace("Attention(s1, y)", "Atention(s1, y)"))
    target = tmp_path / "out.svg"
    target.write_bytes(b"precious")
    result = run_bmnas("viz", str(path), "-o", str(target))
    assert result.returncode == 1
    assert "error[E003]" in result.stderr and "Traceback" not in result.stderr
    assert target.read_bytes() == b"precious"
    result = run_bmnas("viz", str(tmp_path / "none"), "-o", str(target))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("bmnas viz: error: ")


# -- determinism ----------------------------------------------------------------------
def test_same_input_gives_the_same_bytes(run_dir, tmp_path, capsys):
    example = str(EXAMPLES[0])
    cases = [(example, "svg"), (example, "png"), (example, "dot")]
    cases += [(str(run_dir), "svg"), (str(run_dir), "png")]
    for source, fmt in cases:
        first, second = tmp_path / f"1.{fmt}", tmp_path / f"2.{fmt}"
        assert viz(source, "-o", str(first), capsys=capsys)[0] == 0
        assert viz(source, "-o", str(second), capsys=capsys)[0] == 0
        assert first.read_bytes() == second.read_bytes(), (source, fmt)
    svg = (tmp_path / "1.svg").read_text()
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg
