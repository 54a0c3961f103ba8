"""Extraction of a feature bank from the user's own backbones (docs/data.md, "Extracting
a bank from your own backbones"): `extract_bank` runs `torch.nn.Module`s over a data
set and writes the named intermediate layers they give, pooled at capture time if asked,
into a bank directory.

    from bmnas_dsl.extract import Backbone, extract_bank

    extract_bank("clips.bank", {"video": Backbone(r3d, ["layer3", "layer4"])},
                 samples=clips, labels=y, split=s, classes=10, pool=8)

Modules: `runner` (the loop and the bank's provenance), `backbone` (a backbone and its
preparation), `checks` (everything checked before any work), `capture` (FX graph or
forward hooks), `pooling` (the reshape layer's position pooling at capture), `batches`
(the forms the samples may take), `resume` (what a resume must match), `weights`
(loading and hashing), `progress`, and for `bmnas extract` `vision` (torchvision models
by name) and `images` (its .npz input).
"""

from bmnas_dsl.extract.backbone import Backbone
from bmnas_dsl.extract.runner import Extraction, extract_bank

__all__ = ["Backbone", "Extraction", "extract_bank"]
