"""Back end: pruned IR -> PyTorch source, module loading, ONNX export, inference, weights I/O."""
