"""Torch code shared by search, training and generated modules: layers, losses, metrics, guards, threads."""
