"""Passes over the IR: validation, pruning, parameter counts, description, and the analyse pipeline."""
