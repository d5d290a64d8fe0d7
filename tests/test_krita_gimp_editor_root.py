"""The editor end-to-end tests (Krita and GIMP) may skip on a machine that cannot run the editors, but
never in CI: there a missing editors root, a missing root user or missing photo data fails them."""
from __future__ import annotations

import pytest

from support import editor_chroot


def outcome(call, *args) -> tuple[str, str]:
    """("skip" | "fail" | "returned", message) of a call: a skip is asserted as a value, so that a skip where a
    failure is due fails this test instead of skipping it."""
    try:
        call(*args)
    except pytest.skip.Exception as exc:
        return "skip", str(exc)
    except pytest.fail.Exception as exc:
        return "fail", str(exc)
    return "returned", ""


@pytest.fixture
def unbuildable_root(monkeypatch, tmp_path):
    """The real ensure_root.sh with its root placed where nothing can be created (under a plain file):
    it fails at once, before any download."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("MAM_EDITORS_CACHE", str(blocker))


@pytest.fixture
def failing_script(monkeypatch, tmp_path):
    script = tmp_path / "ensure_root.sh"
    script.write_text("echo 'debootstrap: cannot reach the mirror' >&2\nexit 1\n")
    monkeypatch.setattr(editor_chroot, "ENSURE_ROOT", script)


@pytest.mark.parametrize("setup", ["unbuildable_root", "failing_script"])
def test_in_ci_an_editors_root_that_cannot_be_built_fails(request, monkeypatch, setup):
    request.getfixturevalue(setup)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(editor_chroot.os, "geteuid", lambda: 0)
    kind, message = outcome(editor_chroot.editors_root_or_skip, "Krita 5.2")
    assert kind == "fail", (kind, message)
    assert message.startswith("CI=true") and "could not be built" in message


@pytest.mark.parametrize("ci", [None, "false", ""])
def test_outside_ci_it_still_skips(monkeypatch, failing_script, ci):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(editor_chroot.os, "geteuid", lambda: 0)
    kind, message = outcome(editor_chroot.editors_root_or_skip, "GIMP 3")
    assert kind == "skip" and "could not be built" in message, (kind, message)


def test_in_ci_not_being_root_fails(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(editor_chroot.os, "geteuid", lambda: 1000)
    kind, message = outcome(editor_chroot.editors_root_or_skip, "GIMP 3")
    assert kind == "fail" and "needs root" in message, (kind, message)
    monkeypatch.setenv("CI", "false")
    kind, message = outcome(editor_chroot.editors_root_or_skip, "GIMP 3")
    assert kind == "skip" and "needs root" in message, (kind, message)


def test_in_ci_missing_photo_data_fails(monkeypatch, tmp_path):
    monkeypatch.setattr(editor_chroot, "DATA", tmp_path / "no-shared-data")
    monkeypatch.setenv("CI", "true")
    kind, message = outcome(editor_chroot.ground_truth_photo, "GT01")
    assert kind == "fail" and "is absent" in message, (kind, message)
    monkeypatch.delenv("CI")
    kind, message = outcome(editor_chroot.ground_truth_photo, "GT01")
    assert kind == "skip" and "is absent" in message, (kind, message)
