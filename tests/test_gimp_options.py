"""The GIMP plug-in's matte options, without GIMP: the guidance labels and "Refine edges (classic)"."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "gimp" / "mam_gimp"
sys.path.insert(0, str(PLUGIN))
from gimp_messages import GUIDANCE_CHOICES, RefineEdgesUnavailable, refine_edges_offered, refine_edges_option  # noqa: E402


def test_guidance_labels_say_what_guides_the_fusion():
    """guidance="mask" is not a hard mask: SAM's mask guides the fusion and the result is still a soft matte."""
    labels = {value: (label, help_text) for value, _index, label, help_text in GUIDANCE_CHOICES}
    assert labels["alpha"][0] == "M2M alpha" and labels["mask"][0] == "SAM mask"
    for label, help_text in labels.values():
        assert "hard" not in (label + help_text).lower() and "without matting" not in help_text
    assert "soft matte" in labels["mask"][1]
    assert [index for _v, index, _l, _h in GUIDANCE_CHOICES] == [0, 1]


def test_refine_edges_is_sent_only_to_a_daemon_that_offers_it():
    assert refine_edges_option({"features": ["refine:classic", "foreground"]}, True, "tcp://h:1") == "classic"
    assert refine_edges_option({"features": ["refine:classic"]}, False, "tcp://h:1") is None
    assert refine_edges_option({}, False, "tcp://h:1") is None, "not asked for: no check, nothing sent"


@pytest.mark.parametrize("hello", [{}, {"features": ["foreground"]}, {"features": "refine:classic"}, None])
def test_refine_edges_asked_of_a_daemon_without_it_says_so(hello):
    assert not refine_edges_offered(hello)
    with pytest.raises(RefineEdgesUnavailable) as raised:
        refine_edges_option(hello, True, "tcp://127.0.0.1:5757")
    text = str(raised.value)
    assert "Refine edges (classic)" in text and "tcp://127.0.0.1:5757" in text
    assert "refine:classic" in text and "Update mam-server" in text


def _arguments() -> dict:
    """name -> (call, label) of every add_*_argument call in the plug-in's source."""
    tree = ast.parse((PLUGIN / "mam_gimp.py").read_text())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr.startswith("add_") and node.func.attr.endswith("_argument"):
            name, label = (a.value for a in node.args[:2])
            found[name] = (node.func.attr, label)
    return found


def test_procedures_take_refine_selection_and_refine_edges_apart():
    """"refine" means the classic edge refinement in the protocol; sending the selection is "refine the selection"."""
    args = _arguments()
    assert args["refine-selection"] == ("add_boolean_argument", "Re_fine the selection")
    assert args["refine-edges"] == ("add_boolean_argument", "Refine _edges (classic)")
    assert args["guidance"] == ("add_choice_argument", "_Guide the matte by")
    assert "refine" not in args
