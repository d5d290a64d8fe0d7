"""Krita plugin settings: parsing, validation, round trip through a Krita-like setting store."""
from dataclasses import replace

import pytest

from plugins.krita.mam_krita.settings import (
    GROUP,
    Settings,
    SettingsError,
    load,
    save,
    server_argv,
    start_hint,
)


class Store:
    """Stands in for Krita.readSetting/writeSetting: string values keyed by (group, name)."""

    def __init__(self, values=None):
        self.values = dict(values or {})

    def read(self, group, name, default):
        return self.values.get((group, name), default)

    def write(self, group, name, value):
        assert isinstance(value, str)
        self.values[(group, name)] = value


def test_defaults_are_valid():
    s = Settings().validated()
    assert s.endpoint.startswith("tcp://127.0.0.1:")
    assert (s.guidance, s.refine_selection, s.refine_edges, s.source) == ("alpha", False, False, "layer")


def test_round_trip_through_store():
    store = Store()
    s = Settings(endpoint="ipc:///tmp/mam.sock", guidance="mask", refine_selection=True, refine_edges=True,
                 source="merged",
                 timeout_s=30.5, server_command="python -m mam_server.main --endpoint {endpoint} --device cpu")
    save(s, store.write)
    loaded, notes = load(store.read)
    assert loaded == s and notes == []


def test_damaged_values_fall_back_with_a_note():
    store = Store({(GROUP, "guidance"): "fancy", (GROUP, "timeout_s"): "soon", (GROUP, "refine_edges"): "true",
                   (GROUP, "endpoint"): "localhost:5757"})
    loaded, notes = load(store.read)
    assert loaded == Settings(refine_edges=True)
    assert len(notes) == 3
    assert any("guidance 'fancy'" in n for n in notes)
    assert any("timeout_s must be a number" in n for n in notes)
    assert any("tcp://HOST:PORT" in n for n in notes)


@pytest.mark.parametrize("name,text,msg", [
    ("refine_selection", "maybe", "true or false"),
    ("refine_edges", "yes please", "true or false"),
    ("refine", "true", "unknown setting"),
    ("source", "canvas", "layer, merged"),
    ("timeout_s", "0", "between 0 and 3600"),
    ("server_command", "  ", "empty"),
    ("server_command", "mam-server 'unclosed", "server command"),
    ("colour", "x", "unknown setting"),
])
def test_bad_typed_values(name, text, msg):
    with pytest.raises(SettingsError, match=msg):
        Settings().with_value(name, text)


def test_saved_keys_name_the_two_refinements_apart():
    """"refine" means the classic edge refinement in the protocol: the selection-as-mask choice is stored
    as refine_selection, the edge refinement as refine_edges."""
    store = Store()
    save(Settings(refine_selection=True), store.write)
    assert store.values[(GROUP, "refine_selection")] == "true"
    assert store.values[(GROUP, "refine_edges")] == "false"
    assert (GROUP, "refine") not in store.values


@pytest.mark.parametrize("old", ["true", "false"])
def test_the_old_refine_key_is_still_read_as_refine_the_selection(old):
    loaded, notes = load(Store({(GROUP, "refine"): old}).read)
    assert loaded == Settings(refine_selection=old == "true") and notes == []
    assert loaded.refine_edges is False, "an old 'refine' choice must not turn on the classic edge refinement"


def test_the_new_key_wins_over_the_old_one_once_written():
    store = Store({(GROUP, "refine"): "true"})
    loaded, _ = load(store.read)
    save(replace(loaded, refine_selection=False), store.write)   # the artist unticks it in the docker
    assert load(store.read)[0].refine_selection is False


def test_server_command_fills_in_endpoint():
    s = Settings(endpoint="ipc:///tmp/my dir/mam.sock", server_command="mam-server --endpoint {endpoint}")
    assert server_argv(s) == ["mam-server", "--endpoint", "ipc:///tmp/my dir/mam.sock"]
    assert start_hint(s) == "mam-server --endpoint 'ipc:///tmp/my dir/mam.sock'"


def test_daemon_summary_names_model_device_and_test_weights():
    from plugins.krita.mam_krita.daemon_info import summary
    hello = {"server_version": "0.1.0", "model": {"model_type": "vit_b", "device": "cuda:0", "loaded": True,
                                                  "random_weights": False}}
    assert summary(hello) == "connected: vit_b on cuda:0, server 0.1.0"
    hello["model"].update(model_type="tiny", device="cpu", random_weights=True)
    assert summary(hello).endswith("RANDOM WEIGHTS (test mode): mattes are meaningless")
    assert summary({"model": "garbage"}).startswith("connected: unknown model on unknown device")


def test_daemon_summary_says_when_the_classic_no_weights_mode_is_in_use():
    from plugins.krita.mam_krita.daemon_info import summary
    hello = {"server_version": "0.2.0", "model": {"model_type": "vit_b", "backend": "classic", "device": "cpu",
                                                  "mode": "classic (GrabCut + closed-form matting, no neural weights)"}}
    line = summary(hello)
    assert line.startswith("connected: CLASSIC MODE (no model weights)")
    assert "GrabCut + closed-form matting" in line and line.endswith("on cpu, server 0.2.0")
    assert "vit_b" not in line, "a classic daemon loads no SAM model: naming one would mislead"
    hello["model"]["backend"] = "mam"
    assert summary(hello) == "connected: vit_b on cpu, server 0.2.0"


def test_refine_edges_is_sent_only_to_a_daemon_that_offers_it():
    from plugins.krita.mam_krita.daemon_info import refine_edges_option
    new = {"features": ["refine:classic", "foreground"]}
    assert refine_edges_option(new, True, "tcp://h:1") == ("classic", "")
    assert refine_edges_option(new, False, "tcp://h:1") == (None, "")
    for old in ({}, {"features": ["foreground"]}, {"features": "refine:classic"}):
        refine, note = refine_edges_option(old, True, "tcp://h:1")
        assert refine is None
        assert "Refine edges (classic) is not available" in note and "tcp://h:1" in note and "update" in note


def test_docker_offers_refine_edges_only_when_the_daemon_lists_it():
    from plugins.krita.mam_krita.daemon_info import refine_edges_control
    enabled, text, _tip = refine_edges_control({"features": ["refine:classic"]})
    assert (enabled, text) == (True, "Refine edges (classic)")
    enabled, text, tip = refine_edges_control({"features": ["foreground"]})
    assert not enabled and text == "Refine edges (classic): not offered by this daemon"
    assert "update" in tip


def test_guidance_is_labelled_by_what_guides_the_fusion():
    """guidance="mask" still gives a soft matte (SAM's mask guides the fusion, M2M's alpha at its edge)."""
    from plugins.krita.mam_krita.daemon_info import GUIDANCE_LABELS, GUIDANCE_TOOLTIP
    from plugins.krita.mam_krita.settings import GUIDANCES
    assert dict(GUIDANCE_LABELS) == {"alpha": "M2M alpha", "mask": "SAM mask"}
    assert tuple(value for value, _ in GUIDANCE_LABELS) == GUIDANCES
    assert "soft matte" in GUIDANCE_TOOLTIP and "hard" not in GUIDANCE_TOOLTIP.lower()
