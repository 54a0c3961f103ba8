"""Small genotypes of the planted data's two clean features (docs/data.md, "planted"),
shared by the tests that train, export, report or draw one."""

from __future__ import annotations


def planted_pair(op: str, name: str, C: int, L: int) -> str:
    """One cell fusing a.f3 and b.f2 with `op`: the planted label's two halves."""
    return f"""\
bmg 1

model {name} {{
    dims C = {C}, L = {L}
    classes 4

    modality a {{
        f3 : [16, 6]
    }}

    modality b {{
        f2 : [16, 6]
    }}

    cell c1 (x = a.f3, y = b.f2) {{
        s1 = {op}(x, y)
        out = s1
    }}

    output c1
}}
"""


# A ConcatFC fusion, trained and exported by the infer, export and report tests.
PLANTED_PAIR = planted_pair("ConcatFC", "planted_pair", C=8, L=4)
# A Sum fusion, "written by hand": a genotype no search wrote.
HAND_WRITTEN = planted_pair("Sum", "hand", C=8, L=2)
