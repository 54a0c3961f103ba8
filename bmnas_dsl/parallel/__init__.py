"""Distributed runs (torchrun, DistributedDataParallel): the world a process is in,
global-batch layers and the collectives the runners use (docs/distributed.md)."""
