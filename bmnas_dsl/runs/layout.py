"""The names of the files in a run directory: the only place they are spelled.

docs/search.md and docs/train.md describe each file. Plain strings, no imports, so that
readers of runs (`viz`, `report`, the CLI's refusal to reuse a run directory) stay light.
"""

# Both kinds of run.
SETTINGS = "settings.json"  # what the run was started with: all `--resume` needs
LOG = "log.jsonl"  # one JSON object per finished epoch (runs/log.py reads it)
CHECKPOINT = "checkpoint.pt"  # the state after the last finished epoch
# A search run.
BEST_GENOTYPE = "best.bmg"  # the genotype of the kept epoch
BEST_RECORD = "best.json"  # the kept epoch and its unrounded validation metric
# A training run.
GENOTYPE = "genotype.bmg"  # the genotype trained (a copy of the input file)
MODULE = "model.py"  # the generated module trained (what `bmnas compile` writes)
WEIGHTS = "weights.safetensors"  # the trained weights
METRICS = "metrics.json"  # the scores on the held-out split
