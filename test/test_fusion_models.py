"""The network family: parameter budget, gradients, streams, configs, errors, pretrained weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from asymfusion_ros.fusion import (
    BACKBONES,
    SCHEMES,
    AsymFusion,
    build_model,
    get_scheme,
    list_schemes,
    register_scheme,
)
from asymfusion_ros.fusion.encoder import resnet
from asymfusion_ros.fusion.ops import ModalityBatchNorm

torch.set_num_threads(1)

SIZE = (64, 64)


ALL = ("rgb", "depth", "normals")


def _inputs(modalities: tuple[str, ...] = ALL, batch: int = 2) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {m: torch.randn(batch, 3, *SIZE, generator=gen) for m in modalities}


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _bn_affine(model: nn.Module) -> int:
    return sum(m.weight.numel() + m.bias.numel() for m in model.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_asymfusion_adds_only_bn_affine_params(backbone: str) -> None:
    """Shared convs, private BN: fused = single + (M-1) x BN affine + M ensemble weights (alpha)."""
    with torch.device("meta"):  # counting needs no memory and no init
        single = build_model("rgb", backbone=backbone)
        fused = build_model("asymfusion", backbone=backbone)
    assert _count(fused) == _count(single) + _bn_affine(single) + 2
    assert _count(fused) / _count(single) <= 1.01


def test_asymfusion_param_budget_on_real_resnet18() -> None:
    single, fused = build_model("rgb"), build_model("asymfusion", modalities=("rgb", "depth", "normals"))
    assert _count(fused) == _count(single) + 2 * _bn_affine(single) + 3
    assert _count(fused) / _count(single) <= 1.01


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_outputs_logits_at_input_size(scheme: str) -> None:
    model = build_model(scheme, width=0.125, num_classes=7).eval()
    with torch.no_grad():
        out = model(_inputs())
    assert out.logits.shape == (2, 7, *SIZE)
    expected_aux = {"asymfusion": 2, "average": 2}.get(scheme, 0)
    assert len(out.aux) == expected_aux and all(a.shape == out.logits.shape for a in out.aux)
    rebuilt = build_model(**model.config)
    assert type(rebuilt) is type(model) and rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict(), strict=True)


@pytest.mark.parametrize("backbone", ["resnet34", "resnet50", "resnet101"])
def test_deeper_backbones_run_fused(backbone: str) -> None:
    model = build_model("asymfusion", backbone=backbone, width=0.125, num_classes=3).eval()
    with torch.no_grad():
        out = model(_inputs(batch=1))
    assert out.logits.shape == (1, 3, *SIZE) and len(out.aux) == 2


def test_gradients_reach_every_stream_and_alpha_with_three_modalities() -> None:
    modalities = ("rgb", "depth", "normals")
    model = build_model("asymfusion", modalities=modalities, width=0.125, num_classes=5).train()
    target = torch.randint(0, 5, (2, *SIZE))
    target[:, :4] = 255
    out = model(_inputs(modalities))
    assert len(out.aux) == 3
    loss = sum(F.cross_entropy(o, target, ignore_index=255) for o in (out.logits, *out.aux))
    loss.backward()  # type: ignore[union-attr]
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    bns = [m for m in model.modules() if isinstance(m, ModalityBatchNorm)]
    assert all(len(bn.bns) == 3 for bn in bns)


def test_ensemble_loss_trains_alpha_only() -> None:
    model = build_model("asymfusion", width=0.125, num_classes=5).train()
    out = model(_inputs(("rgb", "depth")))
    F.cross_entropy(out.logits, torch.randint(0, 5, (2, *SIZE))).backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert grads == {"alpha"}


def test_joint_ensemble_loss_also_trains_the_streams() -> None:
    """The ablation detach_ensemble=False: the ensemble's loss reaches the encoder and decoder."""
    model = build_model("asymfusion", width=0.125, num_classes=5, detach_ensemble=False).train()
    out = model(_inputs(("rgb", "depth")))
    F.cross_entropy(out.logits, torch.randint(0, 5, (2, *SIZE))).backward()
    grads = {n.partition(".")[0] for n, p in model.named_parameters() if p.grad is not None}
    assert grads == {"alpha", "encoder", "decoder"}
    assert model.config["detach_ensemble"] is False


def test_basic_block_shift_placement_is_an_option_of_basic_blocks_only() -> None:
    """basic_shift="conv2" sends the shifted features through conv2 + BN: same parameters, other
    outputs; a bottleneck backbone refuses it (it would do nothing there)."""
    outputs = []
    for place in ("residual", "conv2"):
        torch.manual_seed(0)
        model = build_model("asymfusion", width=0.125, num_classes=5, basic_shift=place).eval()
        with torch.no_grad():
            outputs.append(model(_inputs(("rgb", "depth"))).logits)
        assert model.config["basic_shift"] == place
    assert outputs[0].shape == outputs[1].shape and not torch.allclose(outputs[0], outputs[1])
    with pytest.raises(ValueError, match="basic_shift='conv2' needs a basic-block backbone"):
        build_model("asymfusion", backbone="resnet50", width=0.125, basic_shift="conv2")
    with pytest.raises(ValueError, match="basic_shift must be one of"):
        build_model("asymfusion", width=0.125, basic_shift="before")


def test_fusion_crosses_streams_and_can_be_switched_off() -> None:
    """With fusion, the rgb stream's logits depend on depth; with no fused stage they do not."""
    changed = _inputs(("rgb", "depth"))
    changed["depth"] = changed["depth"] + 1.0
    for stages, depends in (([1, 2, 3, 4], True), ([], False)):
        model = build_model("asymfusion", width=0.125, num_classes=5, fusion_stages=stages).eval()
        with torch.no_grad():
            rgb_a = model(_inputs(("rgb", "depth"))).aux[0]
            rgb_b = model(changed).aux[0]
        assert (not torch.allclose(rgb_a, rgb_b)) is depends


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scheme": "bogus"}, "unknown scheme 'bogus'"),
        ({"scheme": "asymfusion", "backbone": "resnet152"}, "unknown backbone 'resnet152'"),
        ({"scheme": "asymfusion", "modalities": ("rgb",)}, "needs >= 2"),
        ({"scheme": "dmf", "modalities": ("depth",)}, "needs >= 2"),
        ({"scheme": "concat", "modalities": ("rgb",)}, "needs >= 2"),
        ({"scheme": "average", "modalities": ("rgb",)}, "needs >= 2"),
        ({"scheme": "asymfusion", "modalities": ("rgb", "thermal")}, "unknown modality 'thermal'"),
        ({"scheme": "asymfusion", "modalities": ("rgb", "rgb")}, "distinct"),
        ({"scheme": "asymfusion", "exchange_fraction": 1.5}, "exchange_fraction"),
        ({"scheme": "asymfusion", "fusion_stages": [5]}, "fusion_stages"),
        ({"scheme": "rgb", "exchange_fraction": 0.3}, "no option 'exchange_fraction'"),
        ({"scheme": "dmf", "merge": "max"}, "unknown DMF merge 'max'"),
        ({"scheme": "rgb", "width": 0}, "width must be > 0"),
        ({"scheme": "rgb", "num_classes": 0}, "num_classes"),
    ],
)
def test_bad_configuration_is_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message), torch.device("meta"):
        build_model(**kwargs)


def test_registry_lists_every_scheme_in_report_order_and_refuses_a_second_registration() -> None:
    assert list_schemes() == SCHEMES == ("asymfusion", "dmf", "concat", "average", "rgb", "depth")
    assert get_scheme("rgb").modality == "rgb" and get_scheme("dmf").modality is None
    with pytest.raises(ValueError, match="scheme 'asymfusion' is already registered"):
        register_scheme("asymfusion")(AsymFusion)
    assert list_schemes() == SCHEMES


def test_bad_inputs_are_named() -> None:
    model = build_model("asymfusion", width=0.125, num_classes=3).eval()
    with pytest.raises(ValueError, match="lack modality 'depth'"):
        model({"rgb": torch.zeros(1, 3, 64, 64)})
    with pytest.raises(ValueError, match="'depth' has shape"):
        model({"rgb": torch.zeros(1, 3, 64, 64), "depth": torch.zeros(1, 3, 64, 96)})
    with pytest.raises(ValueError, match="60x64 is not divisible by 32"):
        model({"rgb": torch.zeros(1, 3, 60, 64), "depth": torch.zeros(1, 3, 60, 64)})
    with pytest.raises(ValueError, match=r"must be \[B, 3, H, W\]"):
        model({"rgb": torch.zeros(1, 1, 64, 64), "depth": torch.zeros(1, 1, 64, 64)})


# torchvision's ResNet state_dict sizes (conv/BN/fc tensors + BN buffers): an independent check
# that our module tree carries torchvision's names.
TORCHVISION_KEYS = {"resnet18": 122, "resnet34": 218, "resnet50": 320, "resnet101": 626}


def _torchvision_state(backbone: str) -> dict[str, torch.Tensor]:
    """A torchvision-format ImageNet state_dict (random values, torchvision's keys and shapes)."""
    gen = torch.Generator().manual_seed(1)
    state = {
        k: torch.rand(v.shape, generator=gen) if v.is_floating_point() else v
        for k, v in resnet(backbone).state_dict().items()
    }
    features = resnet(backbone).out_channels[-1]
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, features), torch.zeros(1000)
    return state


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_module_names_match_torchvision(backbone: str) -> None:
    with torch.device("meta"):
        names = set(resnet(backbone).state_dict())
    assert len(names) + 2 == TORCHVISION_KEYS[backbone]
    expected = {"conv1.weight", "bn1.running_var", "layer4.0.downsample.1.weight", "layer1.1.conv2.weight"}
    assert expected <= names


@pytest.fixture(scope="module")
def imagenet_r18(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    state = _torchvision_state("resnet18")
    path = tmp_path_factory.mktemp("pretrained") / "resnet18-imagenet.pth"
    torch.save(state, path)
    return path, state


@pytest.mark.parametrize("scheme", SCHEMES)
def test_pretrained_loads_strictly_into_every_encoder(
    scheme: str, imagenet_r18: tuple[Path, dict[str, torch.Tensor]]
) -> None:
    path, state = imagenet_r18
    model = build_model(scheme, num_classes=5, pretrained=path)
    per_modality_bn = 2 if scheme == "asymfusion" else 1
    for encoder in model.encoders():
        loaded = encoder.state_dict()
        assert torch.equal(loaded["layer3.1.conv2.weight"], state["layer3.1.conv2.weight"])
        for name in ("layer2.0.downsample.1.running_mean", "layer4.1.bn2.weight"):
            module, _, tensor = name.rpartition(".")
            copies = [v for k, v in loaded.items() if k.startswith(module) and k.endswith(tensor)]
            assert len(copies) == per_modality_bn
            assert all(torch.equal(c, state[name]) for c in copies)
    if scheme == "concat":  # RGB kernel tiled over the 6 input channels, halved
        stem = model.encoders()[0].state_dict()["conv1.weight"]
        assert torch.allclose(stem[:, 3:], state["conv1.weight"] / 2)


def test_pretrained_errors_name_the_file(tmp_path: Path, imagenet_r18: tuple[Path, dict]) -> None:
    path, _ = imagenet_r18
    with pytest.raises(ValueError, match="do not fit"):
        build_model("rgb", width=0.5, pretrained=path)
    with pytest.raises(ValueError, match="not found"):
        build_model("rgb", pretrained=tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_text("not a state dict")
    with pytest.raises(ValueError, match=r"junk\.pth"):
        build_model("rgb", pretrained=junk)
