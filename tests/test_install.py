"""mam-install and mam-doctor as an artist runs them: real processes in a fresh HOME (no XDG variables), the
files where Krita and GIMP load them, --dry-run changing nothing, --uninstall leaving the HOME as it was byte for
byte, a failed weights download falling back loudly, the daemon's --backend auto in its log and hello, the GIMP
plug-in starting the recorded daemon by itself, and mam-doctor naming each problem of a broken setup with its fix.
The editors themselves load these files in tests/test_install_editors.py."""
from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from mam_engine.weights import catalog
from mam_server.install import installer, kritarc, locations
from plugins.krita.mam_krita.settings import load as load_krita_settings
from plugins.krita.mam_krita.settings import server_argv as krita_server_argv
from plugins.mam_client import MamClient
from support.daemon_harness import free_port
from support.tiny_detector import build_tiny_detector

BIN = Path(sys.executable).parent
OTHER_KRITARC = "[General]\nsomeKey=some value\n\n[python]\nenable_other=true\nenable_mam_krita=false\n"


def artist_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_") and k != "MAM_WEIGHTS_DIR"}
    return {**env, "HOME": str(home), "MAM_WEIGHTS_DIR": str(home / "weights"), "PATH": "/nonexistent"}


def run(cmd: str, home: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / cmd), *args], capture_output=True, text=True, env=artist_env(home),
                          timeout=300)
    return done


def snapshot(home: Path) -> dict[str, str]:
    """Every path under home with its content digest (folders: 'dir'), and its mode."""
    out = {}
    for p in sorted(home.rglob("*")):
        rel = str(p.relative_to(home))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        out[rel] += f" {oct(p.stat().st_mode)}"
    return out


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def test_dry_run_changes_nothing_and_says_every_step(home):
    before = snapshot(home)
    done = run("mam-install", home, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert snapshot(home) == before
    out = done.stdout
    assert "dry run: nothing is changed" in out
    assert f"would Krita: copy the plugin into {home}/.local/share/krita/pykrita/mam_krita" in out
    assert f"{home}/.config/kritarc ([python] enable_mam_krita=true)" in out
    assert f"would GIMP 3.0: copy the plug-in into {home}/.config/GIMP/3.0/plug-ins/mam_gimp" in out
    assert "would weights: download mam_sam_vitb.pth" in out


def test_install_lands_where_the_editors_load_and_uninstall_restores_the_home_byte_for_byte(home):
    (home / ".config").mkdir()
    (home / ".config" / "kritarc").write_text(OTHER_KRITARC)
    (home / ".config" / "GIMP" / "3.2").mkdir(parents=True)          # a GIMP 3.2 profile: found, installed for
    before = snapshot(home)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    done = run("mam-install", home, "--no-weights", "--endpoint", endpoint)
    assert done.returncode == 0, done.stderr
    assert "CLASSIC MODE" in done.stdout and "mam-weights download vit_b" in done.stdout

    pykrita = home / ".local" / "share" / "krita" / "pykrita"
    assert (pykrita / "mam_krita.desktop").read_text() == \
        (installer.plugin_sources() / "krita" / "mam_krita.desktop").read_text()
    assert (pykrita / "mam_krita" / "__init__.py").is_file() and (pykrita / "mam_krita" / "qt.py").is_file()
    assert (pykrita / "mam_krita" / "mam_client" / "__init__.py").is_file()
    action = home / ".local" / "share" / "krita" / "actions" / "mam_krita.action"   # Ctrl+Shift+K, as a zip import
    assert action.read_text() == (installer.plugin_sources() / "krita" / "mam_krita.action").read_text()
    plug_in = home / ".config" / "GIMP" / "3.2" / "plug-ins" / "mam_gimp"
    assert os.access(plug_in / "mam_gimp.py", os.X_OK) and (plug_in / "mam_client" / "zmtp.py").is_file()
    assert not (home / ".config" / "GIMP" / "3.0").exists()          # a profile was found: only that one

    text = (home / ".config" / "kritarc").read_text()
    assert text.startswith("[General]\nsomeKey=some value\n")         # the rest of kritarc is untouched
    assert kritarc.read(text, "python", "enable_other") == "true"
    assert kritarc.read(text, "python", "enable_mam_krita") == "true"
    # the plugin's own settings loader reads the command the installer wrote: the venv's python, no PATH needed
    settings, notes = load_krita_settings(lambda g, k, d: kritarc.read(text, g, k) or d)
    assert notes == [] and settings.endpoint == endpoint
    assert krita_server_argv(settings) == [str(BIN / "python"), "-m", "mam_server.main", "--endpoint", endpoint]
    record = json.loads((plug_in / "installed.json").read_text())
    assert record["server_argv"] == [str(BIN / "python"), "-m", "mam_server.main", "--endpoint", endpoint]

    again = run("mam-install", home, "--no-weights", "--endpoint", endpoint)   # a re-install replaces in place
    assert again.returncode == 0, again.stderr
    done = run("mam-install", home, "--uninstall")
    assert done.returncode == 0, done.stderr
    assert snapshot(home) == before


def test_uninstall_dry_run_changes_nothing(home):
    assert run("mam-install", home, "--no-weights").returncode == 0
    before = snapshot(home)
    done = run("mam-install", home, "--uninstall", "--dry-run")
    assert done.returncode == 0 and "would remove" in done.stdout, done.stdout + done.stderr
    assert snapshot(home) == before


def test_service_file_is_written_and_removed(home):
    done = run("mam-install", home, "--no-weights", "--no-krita", "--no-gimp", "--service")
    assert done.returncode == 0, done.stderr
    unit = home / ".config" / "systemd" / "user" / "mam-server.service"
    assert f"ExecStart={BIN / 'python'} -m mam_server.main --endpoint tcp://127.0.0.1:5757\n" in unit.read_text()
    assert "not enabled (systemctl is not available here)" in done.stdout
    assert run("mam-install", home, "--uninstall").returncode == 0
    assert list(home.iterdir()) == []


def test_a_failed_weights_download_falls_back_to_classic_loudly(home, monkeypatch):
    for key in [k for k in os.environ if k.startswith("XDG_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MAM_WEIGHTS_DIR", str(home / "weights"))
    nowhere = catalog.Checkpoint("mam_sam_vitb.pth", "m2m", "vit_b", (f"http://127.0.0.1:{free_port()}/x.pth",),
                                 "0" * 64, None, "https://example.invalid/manual", bundles_sam=True)
    out = io.StringIO()
    with redirect_stdout(out):
        job = installer.Installer(locations.current(), installer.DEFAULT_ENDPOINT, ["3.0"], True, True, False,
                                  weights_entries=(nowhere,), timeout=2)
        assert job.install(dry_run=False) == 0
    text = out.getvalue()
    assert "!!! weights: the download failed: Could not download mam_sam_vitb.pth" in text
    assert "CLASSIC MODE: the daemon will start without the MAM model" in text
    assert job.record.mode == "classic" and job.record.weights == []
    assert installer.uninstall(locations.current(), dry_run=False, out=lambda s: None) == 0
    assert list(home.iterdir()) == []


def _installed_gimp_daemon_module(plug_in: Path):
    """The GIMP plug-in's own daemon starter, loaded from the installed copy."""
    spec = importlib.util.spec_from_file_location("installed_gimp_daemon", plug_in / "gimp_daemon.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_doctor_names_each_problem_and_its_fix_then_passes_them_once_fixed(home, monkeypatch):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    assert run("mam-install", home, "--no-weights", "--endpoint", endpoint).returncode == 0
    rc_path = home / ".config" / "kritarc"
    rc_path.write_text(kritarc.set_keys(rc_path.read_text(), "python", {"enable_mam_krita": "false"}))
    plug_in = home / ".config" / "GIMP" / "3.0" / "plug-ins" / "mam_gimp"
    (plug_in / "mam_gimp.py").chmod(0o644)

    broken = run("mam-doctor", home, "--quick")
    assert broken.returncode == 1
    out = broken.stdout
    python = BIN / "python"
    assert f"[FAIL] daemon: nothing answers at {endpoint}" in out
    assert f"fix: start it: {python} -m mam_server.main --endpoint {endpoint}" in out
    assert f"[FAIL] weights: no MAM ViT-B weights in {home / 'weights'}" in out
    assert "fix: `mam-weights download vit_b`" in out
    assert "[FAIL] Krita plugin enabled" in out and "enable_mam_krita=not set" not in out
    assert "Python Plugin Manager" in out
    assert "[FAIL] GIMP 3.0 plug-in" in out and "is not executable" in out and "run `mam-install` again" in out
    detector = home / "weights" / catalog.DEFAULT_DETECTOR
    assert f"[WARN] text detector: none in {detector}: text prompts are off" in out
    assert f"fix: `mam-weights download {catalog.DEFAULT_DETECTOR}`" in out
    assert out.count("[FAIL]") == 4, out

    # the fixes: mam-install again; the daemon started the way the GIMP plug-in starts it when none answers
    assert run("mam-install", home, "--no-weights", "--endpoint", endpoint).returncode == 0
    starter = _installed_gimp_daemon_module(plug_in)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MAM_WEIGHTS_DIR", str(home / "weights"))
    argv = starter.installed_command(endpoint, plug_in / "installed.json")
    assert argv == [str(python), "-m", "mam_server.main", "--endpoint", endpoint]
    log = starter.daemon_log(plug_in / "installed.json")
    process = starter.start(argv, log)
    try:
        with MamClient(endpoint, connect_timeout=1.0, pure_python=True) as client:
            hello: dict = {}
            assert starter.wait_until_answering(lambda: hello.update(client.connect()), process, 120) is None, \
                log.read_text()
        model = hello["model"]
        # --backend auto without weights: classic, and said so in hello (what the plugins show) and in the log
        assert model["backend"] == "classic" and model["backend_requested"] == "auto"
        assert model["mode"].startswith("classic (GrabCut + closed-form matting, no neural weights) — chosen by")
        assert "chosen by --backend auto: no MAM weights for vit_b in " + str(home / "weights") in model["mode"]
        assert "WARNING mam.server event=backend_auto backend=classic note='CLASSIC MODE" in log.read_text()
        assert "event=warm_up_done seconds=" in log.read_text()   # pymatting's kernels, before it listened

        fixed = run("mam-doctor", home, "--quick")
        out = fixed.stdout
        assert f"[ ok ] daemon: answers at {endpoint}" in out and "[WARN] daemon mode" in out
        assert "[ ok ] daemon version" in out and "[ ok ] Krita plugin enabled" in out
        assert "[ ok ] GIMP 3.0 plug-in: installed" in out and "[ ok ] GIMP 3.0 plug-in version" in out
        assert out.count("[FAIL]") == 1 and "[FAIL] weights" in out, out   # only the weights are left to get
        assert "[WARN] daemon text prompts: off" in out and "[WARN] text detector: none in" in out

        build_tiny_detector(detector)   # a detector folder as mam-weights leaves it: the daemon offers text at once
        with_text = run("mam-doctor", home, "--quick").stdout
        assert "[ ok ] daemon text prompts: on" in with_text, with_text
        assert f"[ ok ] text detector: {catalog.DEFAULT_DETECTOR} at {detector}" in with_text
        (detector / "model.safetensors").write_bytes(b"not the published file")
        hashed = run("mam-doctor", home).stdout
        assert f"[FAIL] text detector: {detector / 'model.safetensors'} has sha256" in hashed, hashed
        assert f"fix: delete {detector} and run `mam-weights download" in hashed
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    assert run("mam-install", home, "--uninstall").returncode == 0
    assert not (home / ".local" / "share" / "mam-backend").exists() and not plug_in.exists()


@pytest.mark.parametrize("text,group,values,expected", [
    ("", "python", {"enable_mam_krita": "true"}, "[python]\nenable_mam_krita=true\n"),
    ("[python]\nenable_a=true\n\n[b]\nx=1\n", "python", {"enable_mam_krita": "true"},
     "[python]\nenable_a=true\nenable_mam_krita=true\n\n[b]\nx=1\n"),
    ("[mam_krita]\nserver_command=old\n", "mam_krita", {"server_command": " C:\\a b"},
     "[mam_krita]\nserver_command=\\sC:\\\\a b\n"),
])
def test_kritarc_edits_keep_other_lines(text, group, values, expected):
    new = kritarc.set_keys(text, group, values)
    assert new == expected
    for key, value in values.items():
        assert kritarc.read(new, group, key) == value
    assert kritarc.remove(kritarc.remove(new, "mam_krita"), "python", ["enable_mam_krita"]).rstrip("\n") == \
        kritarc.remove(kritarc.remove(text, "mam_krita"), "python", ["enable_mam_krita"]).rstrip("\n")
