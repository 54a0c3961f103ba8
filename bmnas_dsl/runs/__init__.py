"""The run-directory format of `search` and `train`: files, log, best epoch, checkpoints, progress, epoch loop."""
