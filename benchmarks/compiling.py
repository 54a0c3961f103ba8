"""torch.compile as the benchmarks time it: the modes they accept and a cold cache."""

from __future__ import annotations

import os
import tempfile

# torch.compile modes a benchmark may time (`reduce-overhead` adds CUDA graphs on a GPU).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs")


def cold_compile_cache() -> None:
    """An empty inductor cache and no FX graph or autograd cache, for the rest of the
    process: the compile time a user's first run pays (a warm cache hides most of it)."""
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bmnas-inductor-")
    inductor_config.fx_graph_cache = False
    functorch_config.enable_autograd_cache = False
