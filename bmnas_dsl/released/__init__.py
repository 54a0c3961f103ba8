"""Genotypes of the authors' released BM-NAS code, read safely and converted to `.bmg`
(`bmnas import`, docs/import.md).

`genotype.py` holds local stand-ins for the released namedtuples and the structure
checks; `unpickle.py` reads `best_genotype.pkl` files without Python's unpickler;
`text.py` reads the printed `Genotype(...)` form without evaluating it; `source.py`
tells the two apart; `presets.py` holds the released per-dataset constants; `params.py`
counts parameters the way the released log does; `convert.py` puts it all together.
Torch-free, like the front end it feeds.
"""
