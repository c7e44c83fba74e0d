"""The parameter-free fusion operations, checked on hand-made tensors."""

from __future__ import annotations

from typing import cast

import pytest
import torch
from torch import nn

from asymfusion_ros.fusion.encoder import AsymmetricFusion
from asymfusion_ros.fusion.ops import (
    ModalityBatchNorm,
    channel_exchange,
    exchange_groups,
    next_stream,
    pixel_shift,
    split_streams,
)


def _vector(*values: float) -> torch.Tensor:
    """A [1, C, 1, 1] tensor (one sample of one stream)."""
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)


def test_channel_exchange_two_streams_swaps_tails() -> None:
    a, b = _vector(1, 2, 3, 4, 5), _vector(10, 20, 30, 40, 50)
    out = channel_exchange(torch.cat([a, b]), num_modalities=2, keep=4)
    assert torch.equal(out[0].flatten(), torch.tensor([1.0, 2, 3, 4, 50]))
    assert torch.equal(out[1].flatten(), torch.tensor([10.0, 20, 30, 40, 5]))


def test_channel_exchange_three_streams_is_cyclic() -> None:
    a, b, c = _vector(1, 2, 3, 4), _vector(10, 20, 30, 40), _vector(100, 200, 300, 400)
    out = channel_exchange(torch.cat([a, b, c]), num_modalities=3, keep=3)
    assert out[:, :, 0, 0].tolist() == [[1, 2, 3, 40], [10, 20, 30, 400], [100, 200, 300, 4]]


def test_channel_exchange_keeps_batch_samples_apart() -> None:
    # modality-major batch of 2 samples: [a0, a1, b0, b1]
    a0, a1, b0, b1 = _vector(1, 2), _vector(3, 4), _vector(5, 6), _vector(7, 8)
    out = channel_exchange(torch.cat([a0, a1, b0, b1]), num_modalities=2, keep=1)
    assert out[:, :, 0, 0].tolist() == [[1, 6], [3, 8], [5, 2], [7, 4]]


def test_pixel_shift_moves_each_group_one_pixel_and_zeroes_the_rest() -> None:
    plane = torch.arange(1.0, 10.0).view(3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]
    x = plane.expand(1, 5, 3, 3).clone()
    out = pixel_shift(x, groups=1)
    expected = torch.tensor(
        [
            [[2, 3, 0], [5, 6, 0], [8, 9, 0]],  # left
            [[0, 1, 2], [0, 4, 5], [0, 7, 8]],  # right
            [[4, 5, 6], [7, 8, 9], [0, 0, 0]],  # up
            [[0, 0, 0], [1, 2, 3], [4, 5, 6]],  # down
            [[0, 0, 0], [0, 0, 0], [0, 0, 0]],  # beyond 4g: zero
        ],
        dtype=torch.float32,
    )
    assert torch.equal(out[0], expected)


def test_pixel_shift_groups_of_two() -> None:
    x = torch.ones(1, 10, 2, 2)
    out = pixel_shift(x, groups=2)
    assert out[0, 0:2, :, 1].abs().sum() == 0  # left shift empties the last column
    assert out[0, 2:4, :, 0].abs().sum() == 0  # right shift empties the first column
    assert out[0, 4:6, 1, :].abs().sum() == 0
    assert out[0, 6:8, 0, :].abs().sum() == 0
    assert out[0, 8:].abs().sum() == 0
    assert out[0, :8].sum() == 8 * 2  # every group keeps one row or column of ones


def test_exchange_groups_default_is_c_div_5() -> None:
    assert all(exchange_groups(c, 0.2) == c // 5 for c in range(1, 3000))
    assert exchange_groups(64, 0.5) == 8
    with pytest.raises(ValueError, match="exchange_fraction"):
        exchange_groups(64, 1.0)


def test_fusion_is_parameter_free_and_asymmetric() -> None:
    fusion = AsymmetricFusion(num_modalities=2)
    assert list(fusion.parameters()) == [] and list(fusion.buffers()) == []
    torch.manual_seed(0)
    a, b = torch.randn(1, 10, 4, 4), torch.randn(1, 10, 4, 4)

    def fuse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """What stream x becomes after exchange + receiving y's shift."""
        exchanged, shifted = fusion.split(torch.cat([x, y]))
        return fusion.receive(exchanged, shifted)[0]

    assert not torch.allclose(fuse(a, b), fuse(b, a))
    # the op is equivariant to relabelling the streams: only who gives what differs
    exchanged, shifted = fusion.split(torch.cat([a, b]))
    both = fusion.receive(exchanged, shifted)
    assert torch.equal(both[1], fuse(b, a))


def test_fusion_receive_adds_the_next_streams_shift() -> None:
    fusion = AsymmetricFusion(num_modalities=2)
    x = torch.zeros(2, 5, 3, 3)
    shifted = torch.cat([torch.full((1, 5, 3, 3), 1.0), torch.full((1, 5, 3, 3), 2.0)])
    out = fusion.receive(x, shifted)
    assert out[0].unique().tolist() == [2.0] and out[1].unique().tolist() == [1.0]
    assert torch.equal(next_stream(shifted, 2), shifted.flip(0))


def test_modality_batchnorm_normalises_each_stream_alone() -> None:
    bn = ModalityBatchNorm(3, num_modalities=2).train()
    x = torch.cat([torch.randn(4, 3, 5, 5) * 10 + 50, torch.randn(4, 3, 5, 5)])
    out = bn(x)
    for stream in split_streams(out, 2):
        assert stream.mean().abs() < 1e-4
        assert (stream.var(unbiased=False) - 1).abs() < 1e-2
    stats = bn.state_dict()
    assert stats["bns.0.running_mean"].mean() > 4 > stats["bns.1.running_mean"].abs().mean()
    names = sorted(k for k, _ in bn.named_parameters())
    assert names == ["bns.0.bias", "bns.0.weight", "bns.1.bias", "bns.1.weight"]


def test_modality_batchnorm_inference_path_equals_per_stream_batchnorm() -> None:
    """Eval mode folds each BN into one broadcast multiply-add; it must be the same maths."""
    bn = ModalityBatchNorm(4, num_modalities=3).train()
    for _ in range(3):
        bn(torch.randn(6, 4, 5, 5) * 3 + 1)
    streams = [cast(nn.BatchNorm2d, m) for m in bn.bns]
    with torch.no_grad():
        for sub in streams:
            sub.weight.uniform_(0.5, 2.0)
            sub.bias.uniform_(-1.0, 1.0)
    bn.eval()
    x = torch.randn(6, 4, 5, 5)
    expected = torch.cat([sub(c) for sub, c in zip(streams, split_streams(x, 3), strict=True)])
    assert torch.allclose(bn(x), expected, atol=1e-6)
