"""The plugin zip: the layout Krita's importer needs, the client bundled, importable as packaged."""
import configparser
import subprocess
import sys
import zipfile

from plugins.krita.build_zip import build


def test_zip_layout_matches_krita_importer_rules(tmp_path):
    out = build(tmp_path / "mam_krita.zip")
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        desktop = configparser.ConfigParser()
        desktop.read_string(zf.read("mam_krita.desktop").decode())
    library = desktop["Desktop Entry"]["X-KDE-Library"]
    assert desktop["Desktop Entry"]["ServiceTypes"] == "Krita/PythonPlugin"
    assert f"{library}/" in names and f"{library}/__init__.py" in names     # directory entry + package
    assert "mam_krita/mam_client/" in names and "mam_krita/mam_client/client.py" in names
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
    assert not [n for n in names if not (n in ("mam_krita.desktop", "mam_krita.action") or n.startswith("mam_krita/"))]


def test_zip_is_reproducible(tmp_path):
    a = build(tmp_path / "a.zip").read_bytes()
    b = build(tmp_path / "b.zip").read_bytes()
    assert a == b


def test_packaged_plugin_imports_without_krita(tmp_path):
    """Relative imports must hold in the installed layout (client inside the plugin package)."""
    with zipfile.ZipFile(build(tmp_path / "p.zip")) as zf:
        zf.extractall(tmp_path / "pykrita")
    code = ("import mam_krita, mam_krita.mam_client as c, mam_krita.prompts, mam_krita.settings; "
            "print(c.MamClient.__module__)")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "pykrita", capture_output=True, text=True,
                       env={"PYTHONPATH": str(tmp_path / "pykrita"), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "mam_krita.mam_client.client"
