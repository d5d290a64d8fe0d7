"""Text prompts in the Krita plugin (issue 12), without Krita: the docker's field and its tooltip from hello, the
prompt with a text, instance names, the instance window cut from the union's colours, the stored "All instances"
choice, and how the instances go into the document (apply.py against a recording stand-in for Krita's Document and
Node API: the group is built detached and added with exactly one addChildNode, Krita's one undo step)."""
from __future__ import annotations

import importlib
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest

from plugins.krita.mam_krita.prompts import PromptError, ShapeInfo, build_prompt
from plugins.krita.mam_krita.settings import Settings, load, save
from plugins.krita.mam_krita.text_prompt import (
    WEIGHTS_COMMAND,
    clean_text,
    crop_window,
    group_name,
    instance_names,
    not_found_text,
    offers_text,
    text_control,
)


def test_text_field_follows_the_daemons_features():
    assert offers_text({"features": ["refine:classic", "foreground", "text"]})
    for hello in ({"features": ["refine:classic", "foreground"]}, {}, {"features": "text"}, None):
        assert not offers_text(hello)
        enabled, tip = text_control(hello)
        assert not enabled and WEIGHTS_COMMAND in tip and "Check" in tip
    enabled, tip = text_control({"features": ["text"]})
    assert enabled and "Enter" in tip


@pytest.mark.parametrize("typed,sent", [("  the   dog ", "the dog"), ("", None), ("  \t ", None), (None, None),
                                        ("a cat. a dog.", "a cat. a dog.")])
def test_the_typed_text_is_trimmed_and_empty_is_none(typed, sent):
    assert clean_text(typed) == sent


def _sel(width, height, box):
    a = np.zeros((height, width), np.uint8)
    x0, y0, x1, y1 = box
    a[y0:y1, x0:x1] = 255
    return a.tobytes()


def test_a_text_alone_is_a_prompt_and_a_selection_narrows_it():
    alone = build_prompt(None, [], 40, 30, 72, 72, refine_selection=False, text="the dog")
    assert (alone.text, alone.box, alone.points, alone.mask) == ("the dog", None, [], None)
    narrowed = build_prompt(_sel(40, 30, (5, 6, 20, 25)), [ShapeInfo("MAM points", 10, 10, 12, 12)], 40, 30, 72, 72,
                            refine_selection=False, text="the dog")
    assert narrowed.box == (5, 6, 20, 25) and narrowed.points == [(11.0, 11.0, 1)] and narrowed.text == "the dog"
    assert build_prompt(_sel(40, 30, (5, 6, 20, 25)), [], 40, 30, 72, 72, refine_selection=False).text is None


def test_refine_the_selection_is_not_sent_with_a_text():
    """The daemon refuses a mask with a text: the selection's box still narrows, a note says the mask was not sent."""
    sel = _sel(40, 30, (5, 6, 20, 25))
    p = build_prompt(sel, [], 40, 30, 72, 72, refine_selection=True, text="the dog")
    assert p.mask is None and p.box == (5, 6, 20, 25)
    assert len(p.notes) == 1 and "Refine the selection" in p.notes[0]
    assert build_prompt(sel, [], 40, 30, 72, 72, refine_selection=True).mask == sel


def test_no_text_no_selection_no_points_names_the_text_field():
    with pytest.raises(PromptError, match="Nothing to matte.*type what to select"):
        build_prompt(None, [], 40, 30, 72, 72, refine_selection=False, text=None)


def test_instance_names_label_and_number():
    assert instance_names(["dog", "dog", "cat"], "Matte") == [
        "dog 1 (Matting Anything)", "dog 2 (Matting Anything)", "cat 3 (Matting Anything)"]
    assert instance_names(["", "  "], "Subject") == ["Subject 1 (Matting Anything)", "Subject 2 (Matting Anything)"]
    long = instance_names(["x" * 100], "Matte")[0]
    assert long.endswith("… 1 (Matting Anything)") and len(long) < 70
    assert group_name("the dog.") == "the dog (Matting Anything)"
    assert group_name("a cat. a dog.") == "a cat. a dog (Matting Anything)"


def test_nothing_found_says_so_and_passes_the_daemons_note():
    text = not_found_text("the dog", ["no detection above box_threshold 0.25 (best score 0.12)"])
    assert "Nothing matching \"the dog\" was found" in text and "not changed" in text and "0.12" in text


@pytest.mark.parametrize("bpp", [1, 3])
def test_crop_window_equals_slicing(bpp):
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (7, 9, bpp), np.uint8)
    x, y = 10, 20
    got = crop_window(frame.tobytes(), bpp, 9, 7, x, y, 12, 23, 5, 3)
    assert got == frame[3:6, 2:7].tobytes()
    assert crop_window(frame.tobytes(), bpp, 9, 7, x, y, x, y, 9, 7) == frame.tobytes()
    assert crop_window(frame.tobytes(), bpp, 9, 7, x, y, 12, 23, 0, 0) == b""
    with pytest.raises(ValueError, match="not inside"):
        crop_window(frame.tobytes(), bpp, 9, 7, x, y, 15, 23, 5, 3)
    with pytest.raises(ValueError, match="bytes"):
        crop_window(frame.tobytes()[:-1], bpp, 9, 7, x, y, 12, 23, 5, 3)


def test_all_instances_is_stored():
    values: dict = {}
    save(Settings(all_instances=True), lambda group, name, value: values.__setitem__((group, name), value))
    assert values[("mam_krita", "all_instances")] == "true"
    loaded, notes = load(lambda group, name, default: values.get((group, name), default))
    assert loaded.all_instances is True and notes == []
    assert Settings().all_instances is False


# --- apply.py against a recording stand-in for Krita's scripting API ------------------------------------------------

class FakeSelection:
    def __init__(self):
        self.data = None

    def setPixelData(self, data, x, y, w, h):
        self.data = (bytes(data), x, y, w, h)


class FakeNode:
    def __init__(self, log, name, kind, source=None):
        self.log, self._name, self.kind, self.source = log, name, kind, source
        self.children: list = []
        self.parent = None
        self.selection = None
        self.pixels = None

    def name(self):
        return self._name

    def type(self):
        return self.kind

    def childNodes(self):
        return list(self.children)

    def parentNode(self):
        return self.parent

    def colorModel(self):
        return "RGBA"

    def colorDepth(self):
        return "U8"

    def setSelection(self, sel):
        self.selection = sel

    def setPixelData(self, data, x, y, w, h):
        self.pixels = (bytes(data), x, y, w, h)

    def setChildNodes(self, nodes):
        self.log.append(("setChildNodes", self._name, [n.name() for n in nodes], self.parent is not None))
        self.children = list(nodes)
        for n in nodes:
            n.parent = self

    def addChildNode(self, child, above):
        self.log.append(("addChildNode", self._name, child.name(), above.name() if above else None))
        child.parent = self
        self.children.insert(self.children.index(above) + 1 if above else len(self.children), child)
        return True


class FakeDoc:
    def __init__(self):
        self.log: list = []
        self.root = FakeNode(self.log, "root", "grouplayer")
        self.layer = FakeNode(self.log, "Background", "paintlayer")
        self.layer.parent = self.root
        self.root.children = [self.layer]

    def rootNode(self):
        return self.root

    def createGroupLayer(self, name):
        return FakeNode(self.log, name, "grouplayer")

    def createCloneLayer(self, name, source):
        return FakeNode(self.log, name, "clonelayer", source)

    def createTransparencyMask(self, name):
        return FakeNode(self.log, name, "transparencymask")

    def createNode(self, name, kind):
        return FakeNode(self.log, name, kind)

    def refreshProjection(self):
        pass

    def waitForDone(self):
        pass


@dataclass
class Instance:
    label: str
    x: int
    y: int
    width: int
    height: int
    alpha: bytes


@pytest.fixture
def applying(monkeypatch):
    """mam_krita.apply imported with the stand-in `krita` module (only Selection is used at import)."""
    fake = types.ModuleType("krita")
    fake.Selection = FakeSelection
    fake.Krita = None   # apply_selection only (not exercised here) uses Krita.instance()
    monkeypatch.setitem(sys.modules, "krita", fake)
    monkeypatch.delitem(sys.modules, "plugins.krita.mam_krita.apply", raising=False)
    yield importlib.import_module("plugins.krita.mam_krita.apply")
    sys.modules.pop("plugins.krita.mam_krita.apply", None)


def _instances():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (4, 5), np.uint8)
    b = rng.integers(0, 256, (3, 2), np.uint8)
    return [Instance("dog", 10, 20, 5, 4, a.tobytes()), Instance("", 16, 21, 2, 3, b.tobytes())], (a, b)


def test_instance_masks_go_in_with_one_add(applying):
    doc = FakeDoc()
    instances, (a, b) = _instances()
    names = instance_names([i.label for i in instances], "Matte")
    group = applying.apply_instance_masks(doc, doc.layer, instances, names, "dog (Matting Anything)")
    adds = [entry for entry in doc.log if entry[0] == "addChildNode"]
    assert adds == [("addChildNode", "root", "dog (Matting Anything)", "Background")], "not one undo step"
    assert not [e for e in doc.log if e[0] == "setChildNodes" and e[3]], "children set on an attached node"
    assert doc.root.children == [doc.layer, group]
    assert [(c.name(), c.kind, c.source) for c in group.children] == [
        ("dog 1 (Matting Anything)", "clonelayer", doc.layer), ("Matte 2 (Matting Anything)", "clonelayer", doc.layer)]
    for clone, inst, alpha in zip(group.children, instances, (a, b)):
        (mask,) = clone.children
        assert mask.kind == "transparencymask" and mask.name() == clone.name()
        assert mask.selection.data == (alpha.tobytes(), inst.x, inst.y, inst.width, inst.height)
    assert doc.layer.children == [] and doc.layer.pixels is None, "the active layer itself must be left alone"


def test_instance_layers_take_the_union_colours_over_their_own_window(applying):
    doc = FakeDoc()
    instances, (a, b) = _instances()
    rng = np.random.default_rng(3)
    union = (10, 20, 8, 4)   # x, y, width, height of the foreground frame: holds both instance windows
    colours = rng.integers(0, 256, (4, 8, 3), np.uint8)
    names = instance_names([i.label for i in instances], "Subject")
    group = applying.apply_instance_layers(doc, doc.layer, colours.tobytes(), union, instances, names, "dog (MA)")
    assert [entry for entry in doc.log if entry[0] == "addChildNode"] == [
        ("addChildNode", "root", "dog (MA)", "Background")]
    assert not [e for e in doc.log if e[0] == "setChildNodes" and e[3]], "children set on an attached node"
    for layer, inst, alpha in zip(group.children, instances, (a, b)):
        left, top = inst.x - union[0], inst.y - union[1]
        rgb = colours[top:top + inst.height, left:left + inst.width]
        bgra = np.dstack([rgb[..., 2], rgb[..., 1], rgb[..., 0], alpha])
        assert layer.kind == "paintlayer"
        assert layer.pixels == (bgra.tobytes(), inst.x, inst.y, inst.width, inst.height)
    assert [c.name() for c in group.children] == ["dog 1 (Matting Anything)", "Subject 2 (Matting Anything)"]


# --- Select Subject through Krita's Select Opaque (issue 11) -------------------------------------------------------

class FakeAction:
    def __init__(self, name, krita):
        self.name, self.krita = name, krita

    def isEnabled(self):
        return True

    def trigger(self):
        self.krita.triggered.append(self.name)
        doc = self.krita.doc
        if self.name == "selectopaque":   # Krita selects the active layer's alpha: here the hung mask's matte
            (mask,) = doc.layer.children
            doc.selection_data = mask.selection.data if self.krita.layer_opaque else (b"not the matte",)
        elif self.name == "edit_undo":
            doc.selection_data = None


class FakeKrita:
    def __init__(self, doc, layer_opaque=True):
        self.doc, self.layer_opaque, self.triggered = doc, layer_opaque, []

    def action(self, name):
        return FakeAction(name, self)

    def activeWindow(self):
        doc = self.doc
        return types.SimpleNamespace(activeView=lambda: types.SimpleNamespace(document=lambda: doc))


class SelectionDoc(FakeDoc):
    def __init__(self):
        super().__init__()
        self.selection_data = None
        self.direct = None

    def activeNode(self):
        return self.layer

    def selection(self):
        data = self.selection_data
        return None if data is None else types.SimpleNamespace(pixelData=lambda x, y, w, h: data[0])

    def setSelection(self, sel):
        self.direct = sel.data


def _fake_krita(monkeypatch, applying, doc, **kwargs):
    krita = FakeKrita(doc, **kwargs)
    monkeypatch.setattr(applying, "Krita", types.SimpleNamespace(instance=lambda: krita))
    return krita


def test_select_subject_goes_through_select_opaque_with_the_mask_hung_outside_undo(applying, monkeypatch):
    doc = SelectionDoc()
    krita = _fake_krita(monkeypatch, applying, doc)
    alpha = bytes(range(12))
    assert applying.apply_selection(doc, alpha, 3, 4, 4, 3) is True
    assert krita.triggered == ["selectopaque"] and doc.direct is None
    assert [e[:3] for e in doc.log if e[0] == "setChildNodes"] == [
        ("setChildNodes", "Background", ["Matte (Matting Anything, temporary)"]), ("setChildNodes", "Background", [])]
    assert not [e for e in doc.log if e[0] == "addChildNode"], "the temporary mask must not be an undo step"
    assert doc.layer.children == []


def test_a_layer_that_is_not_opaque_falls_back_and_undoes_its_step(applying, monkeypatch):
    doc = SelectionDoc()
    krita = _fake_krita(monkeypatch, applying, doc, layer_opaque=False)
    assert applying.apply_selection(doc, bytes(range(12)), 3, 4, 4, 3) is False
    assert krita.triggered == ["selectopaque", "edit_undo"]
    assert doc.direct == (bytes(range(12)), 3, 4, 4, 3) and doc.layer.children == []
    assert "not opaque" in applying.last_selection_route


def test_a_layer_with_masks_or_an_empty_matte(applying, monkeypatch):
    doc = SelectionDoc()
    doc.layer.children = [FakeNode(doc.log, "old mask", "transparencymask")]
    krita = _fake_krita(monkeypatch, applying, doc)
    assert applying.apply_selection(doc, b"\x01", 0, 0, 1, 1) is False and krita.triggered == []
    assert doc.direct == (b"\x01", 0, 0, 1, 1)
    assert applying.apply_selection(doc, bytes(4), 0, 0, 2, 2) is True and krita.triggered == ["deselect"]
