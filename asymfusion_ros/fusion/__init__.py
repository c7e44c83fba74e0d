"""AsymFusion and the fusion schemes it is compared with, in pure PyTorch, behind one registry.

How the code differs from the paper is listed in docs/network.md ("Departures from the paper");
the registry is :mod:`.registry`.

Every model has ``.modalities``, ``.num_classes``, ``.config`` (``build_model(**config)``
rebuilds it) and ``forward(inputs: dict[str, Tensor]) -> ModelOutput``. Importing this
package imports the scheme modules, whose classes register themselves with
``register_scheme``.
"""

from __future__ import annotations

# isort: off
# The scheme modules register on import, in this order: ``list_schemes()`` keeps it.
from asymfusion_ros.fusion.asymfusion import AsymFusion
from asymfusion_ros.fusion.dmf import DenseMultimodalFusion
from asymfusion_ros.fusion.baselines import EarlyConcat, LateAverage, SingleStream

# isort: on
from asymfusion_ros.fusion.base import ModelOutput, SegmentationNet
from asymfusion_ros.fusion.encoder import BACKBONES
from asymfusion_ros.fusion.ops import MODALITIES
from asymfusion_ros.fusion.preprocess import ModalityInputs
from asymfusion_ros.fusion.registry import build_model, get_scheme, list_schemes, register_scheme

__all__ = [
    "BACKBONES",
    "MODALITIES",
    "SCHEMES",
    "AsymFusion",
    "DenseMultimodalFusion",
    "EarlyConcat",
    "LateAverage",
    "ModalityInputs",
    "ModelOutput",
    "SegmentationNet",
    "SingleStream",
    "build_model",
    "get_scheme",
    "list_schemes",
    "register_scheme",
]

SCHEMES = list_schemes()
"""The registered scheme names (``list_schemes()`` once every scheme module is imported)."""
