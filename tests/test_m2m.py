"""M2M architecture, spectral-norm arithmetic and strict checkpoint loading (MAM_SPEC §4–§5)."""
import pytest
import torch
from torch import nn

from mam_engine.model.m2m import M2M, load_m2m, read_mam_checkpoint
from mam_engine.model.m2m.spectral import SpectralConv
from mam_engine.weights.checkpoint_io import CheckpointError


@pytest.fixture(scope="module")
def m2m_state():
    torch.manual_seed(1)
    model = M2M()
    for module in model.modules():  # non-trivial BN statistics so a wrong load would show
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_key_grammar_and_sizes_match_the_spec(m2m_state):
    model = M2M()
    assert len(m2m_state) == 184
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 2_714_619
    shapes = {
        "layer2.0.conv1.module.weight_bar": (260, 260, 4, 4),
        "layer2.0.conv1.module.weight_v": (4160,),
        "layer2.0.conv2.module.weight_bar": (128, 260, 3, 3),
        "layer2.0.upsample.1.module.weight_bar": (128, 260, 1, 1),
        "layer3.0.conv1.module.weight_bar": (132, 132, 4, 4),
        "layer4.0.upsample.1.module.weight_bar": (32, 68, 1, 1),
        "conv1.module.weight_bar": (32, 32, 4, 4),
        "refine_OS8.0.weight": (32, 128, 3, 3),
        "refine_OS1.3.weight": (1, 32, 3, 3),
        "refine_OS1.3.bias": (1,),
        "layer2.0.upsample.2.num_batches_tracked": (),
    }
    for key, shape in shapes.items():
        assert tuple(m2m_state[key].shape) == shape, key
    assert not any(k.endswith(".weight") and ".module." in k for k in m2m_state)


@pytest.mark.parametrize("transposed", [False, True])
def test_spectral_weight_equals_torch_spectral_norm_in_eval(transposed):
    """torch.nn.utils.spectral_norm, in eval mode with dim 0, is an independent implementation of the same rule."""
    torch.manual_seed(0)
    if transposed:
        ours = SpectralConv(6, 6, 4, stride=2, padding=1, transposed=True)
    else:
        ours = SpectralConv(5, 7, 3, padding=1)
    conv = (nn.ConvTranspose2d(6, 6, 4, 2, 1, bias=False) if transposed else nn.Conv2d(5, 7, 3, padding=1, bias=False))
    ref = nn.utils.spectral_norm(conv, dim=0)
    with torch.no_grad():
        ref.weight_orig.copy_(ours.module.weight_bar)
        ref.weight_u.copy_(ours.module.weight_u)
        ref.weight_v.copy_(ours.module.weight_v)
    ref.eval()
    x = torch.randn(1, 6 if transposed else 5, 9, 9)
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x), atol=1e-5)


def test_output_shapes_and_range():
    model = M2M().eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 256, 8, 8), torch.randn(1, 3, 128, 128), torch.rand(1, 1, 32, 32).round())
    for out in outs:
        assert out.shape == (1, 1, 128, 128)
        assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def _save(path, obj):
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("prefix", ["", "module."])
def test_released_layout_loads_with_or_without_module_prefix(tmp_path, m2m_state, prefix):
    state = {prefix + k: v for k, v in m2m_state.items()}
    path = _save(tmp_path / "mam_vitb.pth", {"state_dict": state, "iter": 20000, "loss": 0.1, "opt_state_dict": {}})
    model, ckpt = load_m2m(path)
    assert ckpt.layout == "m2m" and ckpt.sam_state is None
    for k, v in model.state_dict().items():
        assert torch.equal(v, m2m_state[k]), k


def test_all_in_one_layout_gives_both_parts(tmp_path, m2m_state):
    sam_part = {"image_encoder.pos_embed": torch.zeros(1, 2)}
    state = {f"module.m2m.{k}": v for k, v in m2m_state.items()}
    state.update({f"module.seg_model.{k}": v for k, v in sam_part.items()})
    ckpt = read_mam_checkpoint(_save(tmp_path / "mam_sam_vitb.pth", {"state_dict": state}))
    assert ckpt.layout == "all-in-one"
    assert set(ckpt.m2m_state) == set(m2m_state) and set(ckpt.sam_state) == set(sam_part)


def test_missing_key_names_file_and_key(tmp_path, m2m_state):
    state = dict(m2m_state)
    del state["layer3.1.bn2.running_var"]
    path = _save(tmp_path / "broken.pth", {"state_dict": state})
    with pytest.raises(CheckpointError, match=r"broken\.pth.*missing key 'layer3\.1\.bn2\.running_var'"):
        load_m2m(path)


def test_unexpected_key_is_refused(tmp_path, m2m_state):
    path = _save(tmp_path / "extra.pth", {"state_dict": {**m2m_state, "layer5.0.conv1.weight": torch.zeros(1)}})
    with pytest.raises(CheckpointError, match=r"unexpected key 'layer5\.0\.conv1\.weight'"):
        load_m2m(path)


def test_wrong_shape_is_refused(tmp_path, m2m_state):
    state = dict(m2m_state, **{"refine_OS4.0.weight": torch.zeros(32, 65, 3, 3)})
    with pytest.raises(CheckpointError, match=r"'refine_OS4\.0\.weight' has shape \(32, 65, 3, 3\)"):
        load_m2m(_save(tmp_path / "shape.pth", {"state_dict": state}))


def test_truncated_file_names_the_file(tmp_path, m2m_state):
    path = _save(tmp_path / "full.pth", {"state_dict": m2m_state})
    cut = tmp_path / "cut.pth"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth"):
        load_m2m(cut)


def test_sam_weights_in_place_of_m2m_are_refused(tmp_path):
    path = _save(tmp_path / "sam_vit_b_01ec64.pth", {"image_encoder.pos_embed": torch.zeros(1, 64, 64, 768)})
    with pytest.raises(CheckpointError, match="missing key"):
        load_m2m(path)
