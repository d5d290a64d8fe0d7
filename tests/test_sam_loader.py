"""SAM's model code imports with or without a working torchvision, and leaves segment_anything importable."""
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys
    from mam_engine.model.sam_loader import build_sam
    sam = build_sam("tiny")
    print(type(sam).__module__)
    try:
        import segment_anything
        print("full package:", hasattr(segment_anything, "SamPredictor"))
    except Exception as exc:
        print("package import fails:", type(exc).__name__)
""")


def _run(tmp_path, extra_path=None):
    env_path = [str(extra_path)] if extra_path else []
    code = f"import sys; sys.path[:0] = {env_path!r}\n" + SCRIPT
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_without_torchvision(tmp_path):
    out = _run(tmp_path)
    assert "segment_anything.modeling.sam" in out
    # No half-built package is left behind: importing the real one still tries its own __init__.
    assert "package import fails: ModuleNotFoundError" in out or "full package: True" in out


def test_with_a_working_torchvision_the_real_package_is_used(tmp_path):
    """A stand-in torchvision with the names segment_anything imports: the machine of a user who has one."""
    fake = tmp_path / "fake"
    for sub in ("torchvision/ops", "torchvision/transforms"):
        (fake / sub).mkdir(parents=True)
    (fake / "torchvision" / "__init__.py").write_text("")
    (fake / "torchvision" / "ops" / "__init__.py").write_text("")
    (fake / "torchvision" / "ops" / "boxes.py").write_text("def batched_nms(*a): pass\ndef box_area(*a): pass\n")
    (fake / "torchvision" / "transforms" / "__init__.py").write_text("")
    functional = fake / "torchvision" / "transforms" / "functional.py"
    functional.write_text("def resize(*a): pass\ndef to_pil_image(*a): pass\n")
    out = _run(tmp_path, fake)
    assert "segment_anything.modeling.sam" in out and "full package: True" in out
