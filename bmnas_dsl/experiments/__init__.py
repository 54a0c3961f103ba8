"""Experiments, not compiler stages: the genotype transformations of the paper's ablations."""
