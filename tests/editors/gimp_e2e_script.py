"""Runs inside real GIMP 3 (python-fu-eval batch interpreter) for tests/test_gimp_e2e.py.

Reads a job (JSON, path in $MAM_E2E_JOB), drives the installed plug-in through the PDB exactly as
a batch user would, and writes what GIMP ended up holding (raw GEGL bytes, statuses, messages) to
the job's output folder for the pytest side to check. Mode "batch" runs in gimp-console; mode
"gui" runs in GIMP's GUI under Xvfb, because GIMP's PDB has no undo procedure (it presses Ctrl+Z)
and the interactive run mode shows dialogs (it answers them with keys).
"""
import json
import os
import subprocess
import threading
import time

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

job = json.load(open(os.environ["MAM_E2E_JOB"]))
out = job["out_dir"]
report = {}


def save(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes(data))


def read(drawable, x, y, w, h, babl):
    return bytes(drawable.get_buffer().get(Gegl.Rectangle.new(x, y, w, h), 1.0, babl, Gegl.AbyssPolicy.NONE))


def add_path(image, name, x, y):
    path = Gimp.Path.new(image, name)
    path.bezier_stroke_new_moveto(float(x), float(y))
    image.insert_path(path, None, 0)
    return path


def run_procedure(name, image, layer, run_mode=Gimp.RunMode.NONINTERACTIVE, **options):
    proc = Gimp.get_pdb().lookup_procedure(name)
    config = proc.create_config()
    config.set_property("run-mode", run_mode)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    for key, value in options.items():
        config.set_property(key.replace("_", "-"), value)
    result = proc.run(config)
    status = result.index(0)
    message = result.index(1) if status != Gimp.PDBStatusType.SUCCESS and result.length() > 1 else ""
    return {"status": status.value_nick, "message": message or ""}


def selection_bytes(image):
    return read(image.get_selection(), 0, 0, image.get_width(), image.get_height(), "Y u8")


def press(window_title, keys):
    """Focuses the newest visible window whose title matches, waiting for it, and types `keys`."""
    found = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", window_title],
                           capture_output=True, text=True, check=True, timeout=60).stdout.split()
    subprocess.run(["xdotool", "windowfocus", "--sync", found[-1]], check=True)
    time.sleep(0.5)
    subprocess.run(["xdotool", "key", keys], check=True)


def run_interactive(name, image, layer, answers, **options):
    """Runs the procedure in interactive mode, its dialog prefilled with `options`; a helper thread
    answers its dialogs in turn, each (window title, keys)."""
    helper = threading.Thread(target=lambda: [press(title, keys) for title, keys in answers], daemon=True)
    helper.start()
    result = run_procedure(name, image, layer, run_mode=Gimp.RunMode.INTERACTIVE, **options)
    helper.join(5)
    return result


def xdotool(*args):
    subprocess.run(["xdotool", *[str(a) for a in args]], check=True, timeout=60)


def drive_click_dialog(actions):
    """Waits for the Click to Select dialog and plays `actions` on it with real X input events: ("click", x, y),
    ("shift-click", x, y), ("drag", x0, y0, x1, y1) in the dialog's window coordinates, or ("key", name)."""
    found = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "Click to Select"],
                           capture_output=True, text=True, check=True, timeout=60).stdout.split()
    window = found[-1]
    xdotool("windowfocus", "--sync", window)
    time.sleep(1.0)
    for kind, *args in actions:
        if kind == "click":
            xdotool("mousemove", "--window", window, args[0], args[1], "click", 1)
        elif kind == "shift-click":
            xdotool("mousemove", "--window", window, args[0], args[1], "keydown", "shift", "click", 1, "keyup", "shift")
        elif kind == "drag":
            x0, y0, x1, y1 = args
            xdotool("mousemove", "--window", window, x0, y0, "mousedown", 1)
            xdotool("mousemove", "--window", window, (x0 + x1) // 2, (y0 + y1) // 2)
            xdotool("mousemove", "--window", window, x1, y1, "mouseup", 1)
        else:
            xdotool("key", args[0])
        time.sleep(0.5)


def run_click_dialog(image, layer, actions, **options):
    helper = threading.Thread(target=drive_click_dialog, args=(actions,), daemon=True)
    helper.start()
    result = run_procedure("plug-in-mam-click-select", image, layer, run_mode=Gimp.RunMode.INTERACTIVE, **options)
    helper.join(5)
    return result


def press_undo(image, undone):
    """Ctrl+Z in the image window (its title ends with the image size); waits until `undone()`
    holds or 30 s pass, and returns whether it held."""
    press(f"{image.get_width()}x{image.get_height()}", "ctrl+z")
    deadline = time.monotonic() + 30
    while not undone() and time.monotonic() < deadline:
        time.sleep(0.2)
    return undone()


def layer_names(image):
    return [item.get_name() for item in image.get_layers()]


def mask_bytes(layer):
    mask = layer.get_mask()
    return b"" if mask is None else read(mask, 0, 0, layer.get_width(), layer.get_height(), "Y u8")


image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(job["photo"]))
layer = image.get_layers()[0]
w, h = layer.get_width(), layer.get_height()
x0, y0, x1, y1 = job["box"]
common = {"endpoint": job["endpoint"], "guidance": "alpha", "replace_mask": False, "refine_selection": False}
select_common = {key: value for key, value in common.items() if key != "replace_mask"}   # Select Subject: no mask
report["size"] = [w, h]
report["precision"] = image.get_precision().value_name
save("layer_rgba.raw", read(layer, 0, 0, w, h, "R'G'B'A u8"))
if job["mode"] != "text":
    Gimp.Image.select_rectangle(image, Gimp.ChannelOps.REPLACE, x0, y0, x1 - x0, y1 - y0)
    add_path(image, "MAM background", *job["background"])
    image.set_selected_paths([add_path(image, "Subject", *job["foreground"])])
selection_before = selection_bytes(image)


def image_state(image):
    """Everything a failed run must leave as it was: layers, each layer's pixels and mask, the selection."""
    return (layer_names(image), [read(item, 0, 0, item.get_width(), item.get_height(), "R'G'B'A u8") + mask_bytes(item)
                                 for item in image.get_layers()], selection_bytes(image), len(image.get_channels()))


def select_box(image, box):
    if box is None:
        Gimp.Selection.none(image)
    else:
        Gimp.Image.select_rectangle(image, Gimp.ChannelOps.REPLACE, box[0], box[1], box[2] - box[0], box[3] - box[1])


if job["mode"] == "text":
    # Text prompts (issue 12) against a daemon with the tiny random detector: no paths, no selection unless said.
    text = {"endpoint": job["endpoint"], "guidance": "alpha", "refine_selection": False, "text": job["text"]}
    select_box(image, None)
    report["best_mask_run"] = run_procedure("plug-in-mam-add-layer-mask", image, layer, output="mask",
                                            all_instances=False, **text)
    save("text_best_mask.raw", mask_bytes(layer))
    # a path's anchor picks which detection (the one containing it)
    image.set_selected_paths([add_path(image, "Subject", *job["text_point"])])
    report["point_mask_run"] = run_procedure("plug-in-mam-add-layer-mask", image, layer, output="mask",
                                             replace_mask=True, all_instances=False, **text)
    save("text_point_mask.raw", mask_bytes(layer))
    for path in image.get_paths():
        image.remove_path(path)
    # every detection mostly inside the selection: the mask and the selection get their union
    select_box(image, job["text_box"])
    report["all_mask_run"] = run_procedure("plug-in-mam-add-layer-mask", image, layer, output="mask",
                                           replace_mask=True, all_instances=True, **text)
    save("text_all_mask.raw", mask_bytes(layer))
    report["all_select_run"] = run_procedure("plug-in-mam-select-subject", image, layer, all_instances=True, **text)
    save("text_all_selection.raw", selection_bytes(image))
    layer.remove_mask(Gimp.MaskApplyMode.DISCARD)
    # Extract Subject with all instances: one layer per instance in a new layer group above the layer
    select_box(image, job["text_box"])
    report["layers_before_group"] = layer_names(image)
    report["extract_all_run"] = run_procedure("plug-in-mam-extract-subject", image, layer, all_instances=True,
                                              **text)
    report["layers_after_group"] = layer_names(image)
    group = image.get_layers()[0]
    report["group_is_group"] = group.is_group()
    children = group.get_children() if group.is_group() else []
    report["group_children"] = [child.get_name() for child in children]
    report["group_children_geometry"] = [[*c.get_offsets()[1:], c.get_width(), c.get_height()] for c in children]
    for index, child in enumerate(children):
        save(f"text_instance_{index}.raw", read(child, 0, 0, w, h, "R'G'B'A u8"))
    report["layer_unchanged_by_group"] = read(layer, 0, 0, w, h, "R'G'B'A u8") == \
        open(os.path.join(out, "layer_rgba.raw"), "rb").read()
    if group.is_group():
        image.remove_layer(group)
    # refusals: each leaves the image exactly as it was
    select_box(image, job["nothing_box"])
    refusals = {"nothing_run": ("plug-in-mam-add-layer-mask", dict(text, output="mask")),
                "nothing_extract_run": ("plug-in-mam-extract-subject", dict(text, all_instances=True)),
                "no_weights_run": ("plug-in-mam-add-layer-mask", dict(text, output="mask",
                                                                      endpoint=job["textless_endpoint"])),
                "refine_selection_run": ("plug-in-mam-select-subject", dict(text, refine_selection=True))}
    for key, (procedure, options) in refusals.items():
        before = image_state(image)
        report[key] = run_procedure(procedure, image, layer, **options)
        report[key]["unchanged"] = image_state(image) == before
elif job["mode"] == "clicks":
    # Click to Select (issue 11) in GIMP's GUI, driven by real X events: a drag (box), a click, a Shift+click, a
    # click taken back with Backspace, Enter. Then one Ctrl+Z; then a run closed with Esc.
    Gimp.Display.new(image)
    Gimp.displays_flush()
    state_before = image_state(image)
    actions = [tuple(a) for a in job["click_actions"]]
    report["click_run"] = run_click_dialog(image, layer, actions, endpoint=job["endpoint"], output="mask")
    save("click_mask.raw", mask_bytes(layer))
    report["click_layers"] = layer_names(image)
    report["click_selection_kept"] = selection_bytes(image) == selection_before
    report["click_undone"] = press_undo(image, lambda: layer.get_mask() is None)
    report["click_undo_restores_all"] = image_state(image) == state_before
    report["esc_run"] = run_click_dialog(image, layer, [("click", *job["click_actions"][1][1:]), ("key", "Escape")],
                                         endpoint=job["endpoint"], output="mask")
    report["esc_unchanged"] = image_state(image) == state_before
    report["batch_click_run"] = run_procedure("plug-in-mam-click-select", image, layer, endpoint=job["endpoint"])
elif job["mode"] == "batch":
    report["mask_run"] = run_procedure("plug-in-mam-add-layer-mask", image, layer, output="mask", **common)
    save("mask.raw", read(layer.get_mask(), 0, 0, w, h, "Y u8"))
    report["second_run"] = run_procedure("plug-in-mam-add-layer-mask", image, layer, output="mask", **common)
    report["replace_run"] = run_procedure("plug-in-mam-add-layer-mask", image, layer, output="mask",
                                          **dict(common, replace_mask=True))
    save("mask_replaced.raw", read(layer.get_mask(), 0, 0, w, h, "Y u8"))
    report["refine_run"] = run_procedure("plug-in-mam-add-layer-mask", image, layer, output="mask",
                                         **dict(common, replace_mask=True, refine_selection=True))
    save("mask_refined.raw", read(layer.get_mask(), 0, 0, w, h, "Y u8"))
    report["select_run"] = run_procedure("plug-in-mam-select-subject", image, layer, **select_common)
    save("selection.raw", selection_bytes(image))
    report["channels_after_select"] = len(image.get_channels())
    report["down_run"] = run_procedure("plug-in-mam-select-subject", image, layer,
                                       **dict(select_common, endpoint=job["dead_endpoint"]))
    # High bit depth and a layer that is not at the canvas origin: a float copy of the image on a
    # larger canvas, so the layer sits at PAD; the prompt moves with it.
    deep = image.duplicate()
    deep.convert_precision(Gimp.Precision.FLOAT_NON_LINEAR)
    pad_x, pad_y = job["pad"]
    deep.resize(w + 2 * pad_x, h + 2 * pad_y, pad_x, pad_y)
    Gimp.Image.select_rectangle(deep, Gimp.ChannelOps.REPLACE, x0 + pad_x, y0 + pad_y, x1 - x0, y1 - y0)
    deep.set_selected_paths([p for p in deep.get_paths() if p.get_name() == "Subject"])
    deep_layer = deep.get_layers()[0]
    report["deep"] = {"precision": deep.get_precision().value_name, "offsets": list(deep_layer.get_offsets()[1:]),
                      "canvas": [deep.get_width(), deep.get_height()]}
    save("deep_layer_rgbaf32.raw", read(deep_layer, 0, 0, w, h, "R'G'B'A float"))
    report["deep"]["mask_run"] = run_procedure("plug-in-mam-add-layer-mask", deep, deep_layer, output="mask",
                                               **dict(common, replace_mask=True))
    save("deep_mask_u16.raw", read(deep_layer.get_mask(), 0, 0, w, h, "Y u16"))
    report["deep"]["select_run"] = run_procedure("plug-in-mam-select-subject", deep, deep_layer,
                                                 **select_common)
    save("deep_selection_u16.raw", read(deep.get_selection(), 0, 0, deep.get_width(), deep.get_height(), "Y u16"))
    # Extract Subject (last: the image gains a layer), prompted by the rectangle again.
    Gimp.Image.select_rectangle(image, Gimp.ChannelOps.REPLACE, x0, y0, x1 - x0, y1 - y0)
    layer_pixels = read(layer, 0, 0, w, h, "R'G'B'A u8")
    report["layers_before_subject"] = layer_names(image)
    report["subject_run"] = run_procedure("plug-in-mam-extract-subject", image, layer, endpoint=job["endpoint"],
                                          guidance="alpha", refine_selection=False)
    report["layers_after_subject"] = layer_names(image)
    subject = image.get_layers()[0]
    report["subject_geometry"] = [*subject.get_offsets()[1:], subject.get_width(), subject.get_height()]
    save("subject_rgba.raw", read(subject, 0, 0, w, h, "R'G'B'A u8"))
    report["layer_unchanged_by_subject"] = read(layer, 0, 0, w, h, "R'G'B'A u8") == layer_pixels
    # the same against a daemon without weights (--backend classic): the new layer goes right above `layer`
    report["classic_subject_run"] = run_procedure("plug-in-mam-extract-subject", image, layer,
                                                  endpoint=job["classic_endpoint"], guidance="alpha",
                                                  refine_selection=False)
    classic_subject = image.get_layers()[image.get_item_position(layer) - 1]
    save("subject_classic_rgba.raw", read(classic_subject, 0, 0, w, h, "R'G'B'A u8"))
    # "Refine edges (classic)" with "SAM mask" guidance, on a small copy of the photo (the solve is slower)
    small = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(job["small_photo"]))
    small_layer = small.get_layers()[0]
    sw, sh = small_layer.get_width(), small_layer.get_height()
    sx0, sy0, sx1, sy1 = job["small_box"]
    Gimp.Image.select_rectangle(small, Gimp.ChannelOps.REPLACE, sx0, sy0, sx1 - sx0, sy1 - sy0)
    report["small_size"] = [sw, sh]
    save("small_layer_rgba.raw", read(small_layer, 0, 0, sw, sh, "R'G'B'A u8"))
    report["refine_edges_run"] = run_procedure("plug-in-mam-add-layer-mask", small, small_layer, output="mask",
                                               **dict(common, guidance="mask", refine_edges=True))
    save("mask_refined_edges.raw", mask_bytes(small_layer))
else:
    Gimp.Display.new(image)
    Gimp.displays_flush()
    # 1. A new mask: one Ctrl+Z removes it and leaves the earlier rectangle selection alone.
    report["mask_run"] = run_procedure("plug-in-mam-add-layer-mask", image, layer, output="mask", **common)
    report["mask_before_undo"] = layer.get_mask() is not None
    report["mask_undone"] = press_undo(image, lambda: layer.get_mask() is None)
    report["selection_kept_by_mask_undo"] = selection_bytes(image) == selection_before
    # 2. From the menu, on a layer with the artist's own mask: the dialog's OK, then the question
    #    whether to replace the mask. "No" (the default) leaves everything alone; "Yes" replaces it,
    #    and one Ctrl+Z brings the artist's mask back.
    layer.add_mask(layer.create_mask(Gimp.AddMaskType.WHITE))
    own_mask = mask_bytes(layer)
    dialog, question = "Add Layer Mask from Subject", "Matting Anything"
    report["declined_run"] = run_interactive("plug-in-mam-add-layer-mask", image, layer,
                                             [(dialog, "Return"), (question, "Return")],
                                             endpoint=job["endpoint"])
    report["own_mask_kept_when_declined"] = mask_bytes(layer) == own_mask
    report["interactive_run"] = run_interactive("plug-in-mam-add-layer-mask", image, layer,
                                                [(dialog, "Return"), (question, "alt+y")],
                                                endpoint=job["endpoint"])
    save("interactive_mask.raw", mask_bytes(layer))
    report["own_mask_restored"] = press_undo(image, lambda: mask_bytes(layer) == own_mask)
    # 3. Select Subject: one Ctrl+Z gives the rectangle back and leaves no scratch channel.
    report["select_run"] = run_procedure("plug-in-mam-select-subject", image, layer, **select_common)
    report["selection_changed"] = selection_bytes(image) != selection_before
    report["selection_restored"] = press_undo(image, lambda: selection_bytes(image) == selection_before)
    report["channels_after_undo"] = len(image.get_channels())
    report["own_mask_kept_by_selection_undo"] = mask_bytes(layer) == own_mask
    # 4. Extract Subject: a new layer; one Ctrl+Z removes it and leaves the layer and its mask alone.
    layers_before = layer_names(image)
    report["subject_run"] = run_procedure("plug-in-mam-extract-subject", image, layer, endpoint=job["endpoint"],
                                          guidance="alpha", refine_selection=False)
    report["subject_layer_added"] = len(layer_names(image)) == len(layers_before) + 1
    report["subject_undone"] = press_undo(image, lambda: layer_names(image) == layers_before)
    report["own_mask_kept_by_subject_undo"] = mask_bytes(layer) == own_mask

with open(os.path.join(out, "report.json"), "w") as f:
    json.dump(report, f)
