"""Checkpoints are unpickled weights-only: a .pth whose pickle would run code is refused, names the file and the
type, and runs nothing, whether loaded directly, by the SAM / M2M loaders or by a real mam-server process; files of
the official layouts (built here with seeded random weights) still load."""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch

from mam_engine.model.m2m import M2M, load_m2m, read_mam_checkpoint
from mam_engine.model.sam_loader import build_sam, load_sam, load_sam_weights
from mam_engine.weights import checkpoint_io
from mam_engine.weights.checkpoint_io import CheckpointError, load_checkpoint_file
from support.daemon_harness import ROOT, free_port, running_daemon


class _RunsCode:
    """Pickles as a call of `func(*args)`: what a malicious .pth does when fully unpickled."""

    def __init__(self, func, args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker: pathlib.Path) -> dict[str, tuple[object, str]]:
    """name → (object to hide in a checkpoint, the global torch refuses for it)."""
    return {
        "open": (_RunsCode(open, (str(marker), "w")), "io.open"),
        "path_touch": (_RunsCode(pathlib.Path.touch, (marker,)), "getattr"),  # pickled as getattr(Path, "touch")
        "system": (_RunsCode(os.system, (f"touch {marker}",)), f"{os.name == 'nt' and 'nt' or 'posix'}.system"),
    }


@pytest.fixture(scope="module")
def sam_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(2)
    return {k: v.clone() for k, v in build_sam("tiny").state_dict().items()}


@pytest.fixture(scope="module")
def m2m_state() -> OrderedDict[str, torch.Tensor]:
    torch.manual_seed(1)
    return OrderedDict((k, v.clone()) for k, v in M2M().state_dict().items())


def _training_extras(model: torch.nn.Module) -> dict[str, object]:
    """What the reference trainer's save_model stores next to `state_dict`: iter, the last loss (a tensor that
    requires grad), Adam's and CosineAnnealingLR's state dicts, after real optimiser steps."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3, betas=[0.5, 0.999])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=16000)
    torch.manual_seed(3)
    for _ in range(2):
        for p in params:
            p.grad = torch.randn_like(p) * 1e-3
        opt.step()
        sched.step()
    loss = sum((p * p).sum() for p in params[:2]) * 0.0 + 0.0123
    assert loss.requires_grad
    return {"iter": 20000, "loss": loss, "opt_state_dict": opt.state_dict(), "lr_state_dict": sched.state_dict()}


def _evil_m2m_checkpoint(path: pathlib.Path, m2m_state, payload) -> pathlib.Path:
    torch.save({"iter": 1, "state_dict": dict(m2m_state), "opt_state_dict": {"x": payload}}, path)
    return path


def _assert_refusal(message: str, path: pathlib.Path, refused: str) -> None:
    assert str(path) in message
    assert f"refused type: {refused}" in message
    assert "objects beyond weights" in message


# --- refused ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["open", "path_touch", "system"])
def test_code_in_a_pickle_is_refused_and_never_runs(tmp_path, kind, monkeypatch):
    # torch's own escape hatch must not reopen the full unpickler either
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    payload, refused = _payloads(marker)[kind]
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "extra": payload}, evil)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint_file(evil)
    _assert_refusal(str(err.value), evil, refused)
    assert not marker.exists()


def test_sam_loader_refuses_a_pickle_that_runs_code(tmp_path, sam_state):
    marker = tmp_path / "pwned"
    payload, refused = _payloads(marker)["open"]
    evil = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save({**sam_state, "image_encoder.neck.0.weight": payload}, evil)
    with pytest.raises(CheckpointError) as err:
        load_sam("tiny", evil)
    _assert_refusal(str(err.value), evil, refused)
    assert not marker.exists()


def test_m2m_loader_refuses_a_pickle_that_runs_code(tmp_path, m2m_state):
    marker = tmp_path / "pwned"
    payload, refused = _payloads(marker)["system"]
    evil = _evil_m2m_checkpoint(tmp_path / "mam_vitb.pth", m2m_state, payload)
    with pytest.raises(CheckpointError) as err:
        load_m2m(evil)
    _assert_refusal(str(err.value), evil, refused)
    assert not marker.exists()


@pytest.mark.parametrize("obj, refused", [
    (argparse.Namespace(lr=1e-3), "argparse.Namespace"),
    (np.float64(0.25), "numpy"),  # numpy scalars: not in what the official files hold, so not allowed either
])
def test_other_objects_beyond_weights_are_refused_by_name(tmp_path, obj, refused):
    path = tmp_path / "train_ckpt.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "args": obj}, path)
    with pytest.raises(CheckpointError, match=r"train_ckpt\.pth.*objects beyond weights") as err:
        load_checkpoint_file(path)
    assert f"refused type: {refused}" in str(err.value)


def test_a_corrupt_file_is_still_reported_as_unreadable(tmp_path):
    bad = tmp_path / "junk.pth"
    bad.write_bytes(b"\x80\x02}q\x00(X\x01\x00\x00\x00a" + os.urandom(64))
    with pytest.raises(CheckpointError, match=r"junk\.pth: not a readable PyTorch checkpoint"):
        load_checkpoint_file(bad)


def test_the_allow_list_is_not_left_registered_process_wide(tmp_path, m2m_state):
    before = set(map(repr, torch.serialization.get_safe_globals()))
    torch.save({"state_dict": dict(m2m_state)}, tmp_path / "ok.pth")
    load_checkpoint_file(tmp_path / "ok.pth")
    with pytest.raises(CheckpointError):
        torch.save({"x": argparse.Namespace()}, tmp_path / "ns.pth")
        load_checkpoint_file(tmp_path / "ns.pth")
    assert set(map(repr, torch.serialization.get_safe_globals())) == before


def _server(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mam_server.main", "--endpoint", f"tcp://127.0.0.1:{free_port()}",
                           "--model-type", "tiny", "--device", "cpu", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_mam_server_refuses_an_evil_sam_checkpoint_and_exits_1(tmp_path, m2m_state):
    marker = tmp_path / "pwned"
    payload, refused = _payloads(marker)["open"]
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "x": payload}, evil)
    good_m2m = tmp_path / "mam_vitb.pth"
    torch.save({"state_dict": dict(m2m_state)}, good_m2m)
    out = _server("--sam-checkpoint", str(evil), "--m2m-checkpoint", str(good_m2m))
    assert out.returncode == 1, out.stderr
    assert "mam-server: cannot load the model:" in out.stderr
    _assert_refusal(out.stderr, evil, refused)
    assert "Traceback" not in out.stderr
    assert not marker.exists()


def test_mam_server_refuses_an_evil_m2m_checkpoint_and_exits_1(tmp_path, m2m_state, sam_state):
    marker = tmp_path / "pwned"
    payload, refused = _payloads(marker)["system"]
    evil = _evil_m2m_checkpoint(tmp_path / "evil_m2m.pth", m2m_state, payload)
    good_sam = tmp_path / "sam.pth"
    torch.save(sam_state, good_sam)
    out = _server("--sam-checkpoint", str(good_sam), "--m2m-checkpoint", str(evil))
    assert out.returncode == 1, out.stderr
    _assert_refusal(out.stderr, evil, refused)
    assert not marker.exists()


# --- still loaded ----------------------------------------------------------------------------------------------

def test_the_allow_list_holds_only_what_the_official_files_need():
    # The official files hold dicts, OrderedDicts, lists, numbers, bools, None and tensors only (see checkpoint_io).
    assert checkpoint_io.EXTRA_SAFE_GLOBALS == ()


def test_official_sam_layout_loads(tmp_path, sam_state):
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(sam_state, path)  # Meta's files: a plain dict of tensors
    sam = load_sam("tiny", path)
    for k, v in sam.state_dict().items():
        assert torch.equal(v, sam_state[k]), k


@pytest.mark.parametrize("prefix", ["", "module."])
def test_released_mam_layout_with_training_state_loads(tmp_path, m2m_state, prefix):
    """mam_vitb/l/h.pth as the reference trainer writes them: state_dict (OrderedDict, maybe `module.`-prefixed)
    plus iter, loss, opt_state_dict and lr_state_dict."""
    model = M2M()
    model.load_state_dict(m2m_state)
    path = tmp_path / "mam_vitb.pth"
    state = OrderedDict((prefix + k, v) for k, v in m2m_state.items())
    torch.save({**_training_extras(model), "state_dict": state}, path)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []  # no extra type was needed
    loaded, ckpt = load_m2m(path)
    assert ckpt.layout == "m2m"
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, m2m_state[k]), k
    raw = load_checkpoint_file(path)
    assert raw["iter"] == 20000 and raw["loss"].requires_grad
    assert raw["lr_state_dict"]["T_max"] == 16000
    assert tuple(raw["opt_state_dict"]["param_groups"][0]["betas"]) == (0.5, 0.999)


def test_all_in_one_layout_with_training_state_loads(tmp_path, m2m_state, sam_state):
    """mam_sam_vitb.pth: the whole model (m2m.* and seg_model.*) under `module.`, with the trainer's extras."""
    model = M2M()
    model.load_state_dict(m2m_state)
    state = OrderedDict((f"module.m2m.{k}", v) for k, v in m2m_state.items())
    state.update((f"module.seg_model.{k}", v) for k, v in sam_state.items())
    path = tmp_path / "mam_sam_vitb.pth"
    torch.save({**_training_extras(model), "state_dict": state}, path)
    ckpt = read_mam_checkpoint(path)
    assert ckpt.layout == "all-in-one"
    sam = build_sam("tiny")
    load_sam_weights(sam, ckpt.sam_state, "test")
    loaded, _ = load_m2m(path)
    assert all(torch.equal(v, m2m_state[k]) for k, v in loaded.state_dict().items())


def test_mam_server_starts_from_official_layout_checkpoints(tmp_path, m2m_state, sam_state):
    sam_path, m2m_path = tmp_path / "sam_vit_b_01ec64.pth", tmp_path / "mam_vitb.pth"
    torch.save(sam_state, sam_path)
    model = M2M()
    model.load_state_dict(m2m_state)
    torch.save({**_training_extras(model), "state_dict": OrderedDict(("module." + k, v) for k, v in m2m_state.items())},
               m2m_path)
    model_args = ("--model-type", "tiny", "--device", "cpu", "--sam-checkpoint", str(sam_path),
                  "--m2m-checkpoint", str(m2m_path))
    with running_daemon(model=model_args) as daemon:
        assert daemon.proc.poll() is None
