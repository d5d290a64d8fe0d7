"""Text prompts in the GIMP plug-in (issue 12), without GIMP: what is sent, the messages, instance names and windows."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "gimp" / "mam_gimp"
sys.path.insert(0, str(PLUGIN))
from gimp_prompt import LayerRect, PromptError, build_prompt  # noqa: E402
from gimp_text import (  # noqa: E402
    TextPromptError,
    TextRequest,
    cut_window,
    group_name,
    instance_names,
    nothing_found,
    text_not_offered,
    text_offered,
    text_request,
)

LAYER = LayerRect(x=10, y=20, width=100, height=50)


def test_blank_text_is_no_text_prompt_and_sends_nothing():
    for blank in ("", "   ", "\n\t", None):
        request = text_request(blank, all_instances=True)
        assert request == TextRequest() and request.client_kwargs() == {}
    assert text_request("", True, refine_selection=True) == TextRequest(), "no text: refine the selection as before"


def test_text_is_trimmed_and_instances_follow_the_toggle():
    assert text_request("  the dog ", False).client_kwargs() == {"text": "the dog", "instances": "best"}
    assert text_request("a cat. a dog.", True).client_kwargs() == {"text": "a cat. a dog.", "instances": "all"}


def test_text_with_refine_the_selection_is_refused_with_the_way_out():
    with pytest.raises(TextPromptError) as raised:
        text_request("the dog", False, refine_selection=True)
    assert "cannot be combined with a text prompt" in str(raised.value) and "untick it" in str(raised.value)


@pytest.mark.parametrize("hello,offered", [
    ({"features": ["refine:classic", "foreground", "text"]}, True), ({"features": ["foreground"]}, False),
    ({}, False), ({"features": "text"}, False), (None, False)])
def test_text_is_offered_only_when_hello_lists_it(hello, offered):
    assert text_offered(hello) is offered


def test_no_detector_message_names_the_command_and_the_daemon():
    text = text_not_offered("tcp://127.0.0.1:5757")
    assert "mam-weights download grounding-dino-tiny" in text and "tcp://127.0.0.1:5757" in text
    assert "text prompts are not available" in text and "clear the \"Select\" text" in text


def test_nothing_found_says_the_image_is_unchanged_and_passes_the_daemons_reason():
    text = nothing_found("the dog", ["30 detection(s), but none lies mostly inside the box."])
    assert text.startswith("Matting Anything: nothing matching \"the dog\" was found; the image is unchanged.")
    assert "The daemon says: 30 detection(s), but none lies mostly inside the box." in text
    assert "The daemon says" not in nothing_found("the dog")


def test_instance_layers_are_named_by_label_and_number():
    assert instance_names(["dog", "dog", "cat", "", "dog"], "a cat. a dog.") == \
        ["dog 1", "dog 2", "cat 1", "a cat. a dog. 1", "dog 3"]
    assert instance_names(["  the  dog "], "x") == ["the dog 1"]
    assert instance_names([], "dog") == []
    assert group_name(" the   dog ") == "\"the dog\" (Matting Anything)"


def test_cut_window_is_the_frames_rectangle():
    frame = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    data = frame.tobytes()
    assert cut_window(data, 9, 7, 3, 0, 0, 9, 7) == data
    assert cut_window(data, 9, 7, 3, 2, 1, 4, 5) == frame[1:6, 2:6].tobytes()
    assert cut_window(data, 9, 7, 3, 8, 6, 1, 1) == frame[6:7, 8:9].tobytes()
    assert cut_window(data, 9, 7, 3, 3, 3, 0, 0) == b""


@pytest.mark.parametrize("window,match", [((0, 0, 10, 7), "not inside"), ((-1, 0, 2, 2), "not inside"),
                                          ((5, 5, 5, 5), "not inside")])
def test_cut_window_refuses_a_window_outside(window, match):
    with pytest.raises(ValueError, match=match):
        cut_window(bytes(9 * 7 * 3), 9, 7, 3, *window)
    with pytest.raises(ValueError, match="frame is 5 bytes"):
        cut_window(bytes(5), 9, 7, 3, 0, 0, 1, 1)


def test_text_alone_is_a_prompt_and_the_selection_and_points_still_narrow():
    prompt = build_prompt(LAYER, None, with_text=True)
    assert prompt.box is None and prompt.points == []
    narrowed = build_prompt(LAYER, (0, 30, 60, 200), foreground=[(15.0, 25.0)], with_text=True)
    assert narrowed.box == (0, 10, 50, 50) and narrowed.points == [(5.0, 5.0, 1)]
    with pytest.raises(PromptError, match="type what to select"):
        build_prompt(LAYER, None)


def _arguments() -> dict:
    """name -> (call, label, default) of the add_*_argument calls whose default is a literal."""
    tree = ast.parse((PLUGIN / "mam_gimp.py").read_text())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr.startswith("add_") and node.func.attr.endswith("_argument") and \
                isinstance(node.args[-2], ast.Constant):
            found[node.args[0].value] = (node.func.attr, node.args[1].value, node.args[-2].value)
    return found


def test_every_procedure_takes_text_and_all_instances_off_by_default():
    args = _arguments()
    assert args["text"] == ("add_string_argument", "_Select", "")
    assert args["all-instances"] == ("add_boolean_argument", "_All instances", False)
