"""What every segmenter is: the ``SegmentationNet`` base and the ``ModelOutput`` it returns.

Training, export and checkpoints rely only on these; the schemes subclass ``SegmentationNet``
and register themselves in :mod:`asymfusion_ros.fusion.registry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from torch import Tensor, nn

if TYPE_CHECKING:
    from asymfusion_ros.fusion.encoder import ResNet

__all__ = ["ModelOutput", "SegmentationNet"]


class ModelOutput(NamedTuple):
    """What every segmenter returns; all maps are [B, K, H, W] at input resolution."""

    logits: Tensor
    """The final prediction (for AsymFusion the alpha-weighted ensemble of the streams)."""
    aux: tuple[Tensor, ...]
    """Per-stream logits that the training loss also supervises; empty for one stream."""


class SegmentationNet(nn.Module):
    """Base of every network: the attributes training, export and checkpoints rely on.

    ``config`` holds the JSON-able keyword arguments with which ``build_model(**config)``
    rebuilds the network; ``forward(inputs: dict[str, Tensor]) -> ModelOutput``.
    """

    def __init__(
        self,
        scheme: str,
        modalities: Sequence[str],
        *,
        backbone: str,
        num_classes: int,
        width: float,
        **options: Any,
    ) -> None:
        super().__init__()
        self.modalities = tuple(modalities)
        self.num_classes = num_classes
        self.config: dict[str, Any] = {
            "scheme": scheme,
            "backbone": backbone,
            "num_classes": num_classes,
            "modalities": list(self.modalities),
            "width": width,
            **options,
        }

    def encoders(self) -> tuple[ResNet, ...]:
        """The ResNet encoders that take ImageNet weights (``--pretrained``)."""
        raise NotImplementedError
