"""bmnas: BM-NAS multimodal fusion search built like a compiler."""

__version__ = "0.1.0"
