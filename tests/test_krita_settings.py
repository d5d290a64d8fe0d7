"""Krita plugin settings: parsing, validation, round trip through a Krita-like setting store."""
import pytest

from plugins.krita.mam_krita.settings import (
    GROUP, Settings, SettingsError, load, save, server_argv, start_hint,
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
    assert (s.guidance, s.refine, s.source) == ("alpha", False, "layer")


def test_round_trip_through_store():
    store = Store()
    s = Settings(endpoint="ipc:///tmp/mam.sock", guidance="mask", refine=True, source="merged",
                 timeout_s=30.5, server_command="python -m mam_server.main --endpoint {endpoint} --device cpu")
    save(s, store.write)
    loaded, notes = load(store.read)
    assert loaded == s and notes == []


def test_damaged_values_fall_back_with_a_note():
    store = Store({(GROUP, "guidance"): "fancy", (GROUP, "timeout_s"): "soon", (GROUP, "refine"): "true",
                   (GROUP, "endpoint"): "localhost:5757"})
    loaded, notes = load(store.read)
    assert loaded == Settings(refine=True)
    assert len(notes) == 3
    assert any("guidance 'fancy'" in n for n in notes)
    assert any("timeout_s must be a number" in n for n in notes)
    assert any("tcp://HOST:PORT" in n for n in notes)


@pytest.mark.parametrize("name,text,msg", [
    ("refine", "maybe", "true or false"),
    ("source", "canvas", "layer, merged"),
    ("timeout_s", "0", "between 0 and 3600"),
    ("server_command", "  ", "empty"),
    ("server_command", "mam-server 'unclosed", "server command"),
    ("colour", "x", "unknown setting"),
])
def test_bad_typed_values(name, text, msg):
    with pytest.raises(SettingsError, match=msg):
        Settings().with_value(name, text)


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
