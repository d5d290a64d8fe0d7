"""The GIMP plug-in installer: layout GIMP 3 requires, bundled client, clean replacement."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALLER = ROOT / "plugins" / "gimp" / "install.py"
# Loaded by path under its own name: other editors' installers may also be called install.py.
_spec = importlib.util.spec_from_file_location("mam_gimp_install", INSTALLER)
install = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(install)


def run_installer(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(INSTALLER), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_installs_an_executable_plugin_folder_with_the_client_bundled(tmp_path):
    run = run_installer("--dest", str(tmp_path))
    assert run.returncode == 0, run.stderr
    plugin = tmp_path / "mam_gimp"
    assert os.access(plugin / "mam_gimp.py", os.X_OK)
    assert (plugin / "mam_client" / "__init__.py").is_file()
    assert not list(plugin.rglob("__pycache__"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mam_gimp"], "staging folder left behind"


def test_installed_modules_import_without_the_projects_dependencies(tmp_path):
    # GIMP's Python has no numpy, pyzmq or msgpack: import the bundle with the interpreter isolated
    # from this venv and with those modules blocked.
    install.install(tmp_path)
    code = ("import sys\n"
            "for name in ('numpy', 'zmq', 'msgpack'): sys.modules[name] = None\n"
            f"sys.path.insert(0, {str(tmp_path / 'mam_gimp')!r})\n"
            "import gimp_prompt, gimp_formats, gimp_messages, mam_client\n"
            "print(mam_client.MamClient.__name__)")
    run = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "MamClient"


def test_reinstalling_replaces_the_old_copy_whole(tmp_path):
    install.install(tmp_path)
    stale = tmp_path / "mam_gimp" / "left_from_an_old_version.py"
    stale.write_text("")
    install.install(tmp_path)
    assert not stale.exists()
    assert (tmp_path / "mam_gimp" / "mam_gimp.py").is_file()


def test_default_destination_is_the_gimp3_profile(tmp_path):
    if sys.platform in ("win32", "darwin"):
        pytest.skip("checks the XDG layout GIMP uses on Linux and other Unixes")
    run = run_installer(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "GIMP" / "3.0" / "plug-ins" / "mam_gimp" / "mam_gimp.py").is_file()


def test_unwritable_destination_fails_with_a_message(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    run = run_installer("--dest", str(blocker / "plug-ins"))
    assert run.returncode == 1
    assert "install failed" in run.stderr
