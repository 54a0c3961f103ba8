"""Hypothesis strategies: random valid .bmg genotypes, written with random layout."""

from __future__ import annotations

from hypothesis import strategies as st

from bmnas_dsl.lang.names import identifier_problem

OPS = ["Sum", "Attention", "LinearGLU", "ConcatFC", "Zero", "ScaleDotAttn"]

names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: identifier_problem(n) is None
)
comments = st.one_of(st.none(), st.from_regex(r"# [ -~]{0,20}", fullmatch=True))
meta_values = st.one_of(
    st.text(
        st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=12
    ).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(["true", "false", "1e-3", "2.5E+2", ".5"]),
)


@st.composite
def genotypes(draw) -> str:
    """A valid genotype: features, cells in a DAG (written in shuffled order), steps."""
    modality_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    features: list[tuple[str, str, list[int]]] = []
    for modality in modality_names:
        for feature in draw(st.lists(names, min_size=1, max_size=3, unique=True)):
            shape = draw(st.lists(st.integers(1, 64), min_size=1, max_size=4))
            features.append((modality, feature, shape))
    qualified = [f"{m}.{f}" for m, f, _ in features]
    cell_names = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    cells = []
    for index, cell in enumerate(cell_names):
        # Inputs: any feature or any earlier cell, two distinct ones.
        sources = qualified + cell_names[:index]
        if len(sources) < 2:
            sources = [*sources, *qualified]
        x, y = (
            draw(
                st.lists(
                    st.sampled_from(sorted(set(sources))),
                    min_size=2,
                    max_size=2,
                    unique=True,
                )
            )
            if len(set(sources)) >= 2
            else (None, None)
        )
        if x is None:
            return draw(genotypes())
        step_names = draw(
            st.lists(
                names.filter(lambda n: n not in ("x", "y")),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        steps = []
        for position, step in enumerate(step_names):
            pool = ["x", "y", *step_names[:position]]
            args = draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2))
            steps.append((step, draw(st.sampled_from(OPS)), args))
        out = draw(st.lists(st.sampled_from(step_names), min_size=1, max_size=3))
        cells.append((cell, x, y, steps, out))
    output = draw(st.lists(st.sampled_from(cell_names), min_size=1, max_size=3))
    order = draw(st.permutations(range(len(cells))))  # forward references in the text

    C, L = draw(st.integers(1, 64)), draw(st.integers(1, 16))
    header = [f"dims C = {C}, L = {L}", f"classes {draw(st.integers(1, 100))}"]
    if draw(st.booleans()):
        header.append(f"task {draw(st.sampled_from(['multiclass', 'multilabel']))}")
    if draw(st.booleans()):
        header.append(f"dropout {draw(st.sampled_from(['0', '0.2', '1e-3', '.5']))}")
    header = draw(st.permutations(header))
    meta_keys = draw(st.lists(names, max_size=3, unique=True))
    sep = draw(st.sampled_from(["\n", "\n\n", " \n  ", "\t\n"]))

    def comment() -> str:
        text = draw(comments)
        return f"{text}\n" if text else ""

    parts = [comment(), "bmg 1", sep, f"model {draw(names)} {{", sep]
    parts += [f"{comment()}{h}{sep}" for h in header]
    if meta_keys or draw(st.booleans()):
        entries = " ".join(f"{k} = {draw(meta_values)}" for k in meta_keys)
        parts.append(f"meta {{ {entries} }}{sep}")
    for modality in modality_names:
        body = sep.join(
            f"{f} : [{', '.join(map(str, s))}]" for m, f, s in features if m == modality
        )
        parts.append(f"{comment()}modality {modality} {{{sep}{body}{sep}}}{sep}")
    for index in order:
        cell, x, y, steps, out = cells[index]
        body = sep.join(f"{comment()}{s} = {op}({', '.join(a)})" for s, op, a in steps)
        parts.append(
            f"cell {cell} (x = {x}, y = {y}) {{{sep}{body}{sep}out = {', '.join(out)}{sep}}}{sep}"
        )
    parts.append(f"output {', '.join(output)}{sep}}}\n{comment()}")
    return "".join(parts)
