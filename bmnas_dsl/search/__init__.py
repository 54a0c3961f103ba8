"""BM-NAS search: the hypernet, the bilevel optimisation and genotype derivation."""
