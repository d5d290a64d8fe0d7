"""One real Krita GUI session in an editors root, with a test driver as a second Python plugin (the e2e tests, the
click test and its benchmark share it)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

from plugins.krita.build_zip import build
from support.editor_chroot import mounted_proc, virtual_display

KRITA_IMPORTER = "/usr/share/krita/pykrita/plugin_importer/plugin_importer.py"
# Krita's importer run as its own command line (plugin_importer.py ZIP DEST). Since 5.3 it imports i18n from
# builtins, which Krita's embedded Python provides: given here as the identity, the untranslated text.
RUN_IMPORTER = ("import builtins, runpy, sys; builtins.i18n = lambda text, *args: text; sys.argv = sys.argv[1:]; "
                "runpy.run_path(sys.argv[0], run_name='__main__')")


def run_krita(root: Path, driver: Path, plugin: str, env_var: str, config: dict, files: dict[str, Path],
              timeout_s: int) -> tuple[dict, Path, Path]:
    """Krita under Xvfb in `root` with a fresh profile: the plugin zip installed by Krita's importer (the zip is what
    users get), `driver` as plugin `plugin`, both enabled in kritarc. `files` are copied into the session folder,
    "{dir}" in the config's values names that folder, and the driver finds its config through `env_var`.
    Returns (the driver's results, its dump folder, the session folder to remove); a failed session is removed here.
    """
    home_in_root = Path("/tmp") / f"{plugin.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    home = root / home_in_root.relative_to("/")
    try:
        out = home / "out"
        out.mkdir(parents=True)
        pykrita = home / ".local" / "share" / "krita" / "pykrita"
        (pykrita / plugin).mkdir(parents=True)
        build(home / "mam_krita.zip")
        shutil.copy(driver, pykrita / plugin / "__init__.py")
        (pykrita / f"{plugin}.desktop").write_text(
            f"[Desktop Entry]\nType=Service\nServiceTypes=Krita/PythonPlugin\nX-KDE-Library={plugin}\n"
            f"X-Python-2-Compatible=false\nName={plugin} (test driver)\nComment=test driver\n")
        (home / ".config").mkdir()
        (home / ".config" / "kritarc").write_text(
            f"[python]\nenable_mam_krita=true\nenable_{plugin}=true\n\n[mam_krita]\nendpoint={config['endpoint']}\n")
        for name, source in files.items():
            shutil.copy(source, home / name)
        config = json.loads(json.dumps(config).replace("{dir}", str(home_in_root)))
        (home / "config.json").write_text(json.dumps({**config, "out": str(home_in_root / "out")}))
        with mounted_proc(root):
            installed = subprocess.run(["chroot", str(root), "python3", "-c", RUN_IMPORTER, KRITA_IMPORTER,
                                        str(home_in_root / "mam_krita.zip"),
                                        str(home_in_root / ".local/share/krita")], capture_output=True, text=True)
            assert installed.returncode == 0 and "Imported plugin: Matting Anything" in installed.stdout, \
                f"Krita's plugin importer rejected the zip:\n{installed.stdout}\n{installed.stderr}"
            with virtual_display(root) as display:
                (home / "tmp").mkdir()   # Krita's swap files: gone with the session folder even if it exits hard
                krita = subprocess.Popen(["chroot", str(root), "env", f"HOME={home_in_root}",
                                          f"TMPDIR={home_in_root / 'tmp'}", f"DISPLAY={display}",
                                          f"{env_var}={home_in_root / 'config.json'}", "krita", "--nosplash"],
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                         start_new_session=True)
                try:
                    log, _ = krita.communicate(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    os.killpg(krita.pid, signal.SIGKILL)
                    log, _ = krita.communicate()
        results_path = out / "results.json"
        stages = (out / "stage.log").read_text().splitlines() if (out / "stage.log").exists() else ["(none)"]
        assert results_path.exists(), f"the Krita driver did not finish (rc {krita.returncode}) during " \
                                      f"{stages[-1]!r}:\n{log[-6000:]}"
        results = json.loads(results_path.read_text())
        assert "error" not in results, results["error"] + "\n" + log[-4000:]
        return results, out, home
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
