#!/usr/bin/env python3
"""GIMP 3 plug-in: a soft layer mask or selection of the subject, or the subject extracted to a new
layer, computed by the Matting Anything daemon.

Only GIMP glue lives here; the prompt rules (gimp_prompt), the pixel formats (gimp_formats), the
subject layer's pixels (gimp_cutout), the wording (gimp_messages) and the network (mam_client,
bundled by install.py) are separate modules.
"""
from __future__ import annotations

import sys

import gi

gi.require_version("Babl", "0.1")
gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Babl, Gegl, Gimp, GLib, GObject  # noqa: E402
from gimp_clicks import view_size_for  # noqa: E402
from gimp_cutout import rgba_from_matte  # noqa: E402
from gimp_daemon import daemon_log, describe, installed_command, is_local, start, wait_until_answering  # noqa: E402
from gimp_formats import PrecisionPlan, gray_format_like, precision_plan_for  # noqa: E402
from gimp_messages import (  # noqa: E402
    GUIDANCE_CHOICES,
    RefineEdgesUnavailable,
    click_needs_a_person,
    mask_exists_in_batch,
    needs_rgb_image,
    progress_label,
    refine_edges_not_offered,
    refine_edges_offered,
    refine_edges_option,
    replace_mask_question,
)
from gimp_prompt import (  # noqa: E402
    CanvasPrompt,
    LayerRect,
    PromptError,
    bezier_anchors,
    build_prompt,
    describe_prompt,
    is_background_path,
)
from gimp_text import (  # noqa: E402
    DETECTOR_COMMAND,
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
from mam_client import DaemonTimeout, DaemonUnavailable, MamClient, MamError  # noqa: E402

PROC_MASK = "plug-in-mam-add-layer-mask"
PROC_SELECT = "plug-in-mam-select-subject"
PROC_EXTRACT = "plug-in-mam-extract-subject"
PROC_CLICK = "plug-in-mam-click-select"
SUBJECT_LAYER_NAME = "Subject (Matting Anything)"
MENU_PATH = "<Image>/Filters/Matting Anything"
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5757"
TIMEOUT_S = 300.0


class UserFacingError(Exception):
    """Stops the run with a message for the artist (returned as the procedure's error)."""


class Cancelled(Exception):
    """The artist declined to go on."""


def _layer_of(image: Gimp.Image, drawables: list) -> Gimp.Layer:
    """The one layer to work on: the drawable passed, or the image's selected layer."""
    candidates = list(drawables) or list(image.get_selected_layers())
    if len(candidates) != 1:
        raise UserFacingError("Select exactly one layer.")
    layer = candidates[0]
    if isinstance(layer, Gimp.LayerMask):
        layer = Gimp.Layer.from_mask(layer)
    if not isinstance(layer, Gimp.Layer) or layer.is_group():
        raise UserFacingError("Select a pixel layer (not a channel or a layer group).")
    return layer


def _layer_rect(layer: Gimp.Layer) -> LayerRect:
    _, x, y = layer.get_offsets()
    return LayerRect(x, y, layer.get_width(), layer.get_height())


def _path_anchors(paths: list) -> list[tuple[float, float]]:
    anchors = []
    for path in paths:
        for stroke in path.get_strokes():
            kind, points, _closed = path.stroke_get_points(stroke)
            if kind == Gimp.PathStrokeType.BEZIER:
                anchors.extend(bezier_anchors(points))
    return anchors


def _canvas_inputs(image: Gimp.Image) -> tuple:
    """The selection's bounds (None when nothing is selected), the active paths' anchors and the background
    paths' anchors, in image coordinates."""
    _, non_empty, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
    foreground = [p for p in image.get_selected_paths() if not is_background_path(p.get_name())]
    background = [p for p in image.get_paths() if is_background_path(p.get_name())]
    return (x1, y1, x2, y2) if non_empty else None, _path_anchors(foreground), _path_anchors(background)


def _prompt_for(image: Gimp.Image, layer: Gimp.Layer, refine_selection: bool, with_text: bool) -> CanvasPrompt:
    bounds, foreground, background = _canvas_inputs(image)
    try:
        return build_prompt(_layer_rect(layer), bounds, foreground, background, refine_selection, with_text)
    except PromptError as exc:
        raise UserFacingError(str(exc)) from exc


def _read_inputs(image: Gimp.Image, layer: Gimp.Layer, fmt: PrecisionPlan,
                 prompt: CanvasPrompt) -> tuple[bytes, bytes | None]:
    """The layer's pixels in `fmt`, and the selection over the layer's rectangle with "Refine the selection"."""
    rect = _layer_rect(layer)
    pixels = layer.get_buffer().get(Gegl.Rectangle.new(0, 0, rect.width, rect.height), 1.0,
                                    fmt.read_babl, Gegl.AbyssPolicy.CLAMP)
    mask = None
    if prompt.use_mask:
        selection = image.get_selection()
        mask = selection.get_buffer().get(Gegl.Rectangle.new(rect.x, rect.y, rect.width, rect.height), 1.0,
                                          gray_format_like(Babl.get_name(selection.get_format()), 8),
                                          Gegl.AbyssPolicy.NONE)
    return bytes(pixels), (bytes(mask) if mask is not None else None)


def _request_matte(endpoint: str, guidance: str, layer: Gimp.Layer, fmt: PrecisionPlan, pixels: bytes,
                   mask: bytes | None, prompt: CanvasPrompt, foreground: bool, refine_edges: bool,
                   text: TextRequest):
    width, height = layer.get_width(), layer.get_height()
    Gimp.progress_init("Matting Anything: connecting")
    try:
        with MamClient(endpoint, matte_timeout=TIMEOUT_S, client_name="gimp") as client:
            hello = _connect_or_start(client, endpoint)
            refine = refine_edges_option(hello, refine_edges, endpoint)   # only sent when the daemon offers it
            if text.text is not None and not text_offered(hello):
                raise UserFacingError(text_not_offered(endpoint))
            label = progress_label(hello)
            Gimp.progress_set_text(f"{label}: sending the layer")

            def show_progress(stage: str, fraction: float) -> None:
                Gimp.progress_set_text(f"{label}: {stage}")
                Gimp.progress_update(min(max(float(fraction), 0.0), 1.0))

            return client.matte(width, height, fmt.wire, pixels, width * fmt.bytes_per_pixel,
                                box=prompt.box, points=prompt.points or None, mask=mask, guidance=guidance,
                                depth=fmt.alpha_depth, crop=False, foreground=foreground, refine=refine,
                                on_progress=show_progress, **text.client_kwargs())
    except RefineEdgesUnavailable as exc:
        raise UserFacingError(str(exc)) from exc
    except (DaemonUnavailable, DaemonTimeout) as exc:
        raise UserFacingError(f"Matting Anything: {exc}") from exc
    except MamError as exc:
        raise UserFacingError(f"Matting Anything: the daemon refused the request: {exc}") from exc
    finally:
        Gimp.progress_end()


def _connect_or_start(client: MamClient, endpoint: str, say=None, pulse=None) -> dict:
    """The daemon's hello; when none answers on this machine and mam-install recorded the daemon's command,
    start it (it keeps running for later mattes) and wait for it. Otherwise DaemonUnavailable, as before.
    `say(text)` / `pulse()` report the wait (default: GIMP's progress bar; the click dialog passes its own,
    since it calls this from its worker thread)."""
    say = say or Gimp.progress_set_text
    pulse = pulse or Gimp.progress_pulse
    try:
        return client.connect()
    except DaemonUnavailable:
        argv = installed_command(endpoint)
        if argv is None or not is_local(endpoint):
            raise
    log = daemon_log()
    say("Matting Anything: no daemon answers, starting it (loading the model can take a minute)")
    try:
        process = start(argv, log)
    except OSError as exc:
        raise UserFacingError(f"Matting Anything: no daemon answers at {endpoint}, and starting it failed ({exc}). "
                              f"Start it by hand:  {describe(argv)}") from exc
    hello: dict = {}
    problem = wait_until_answering(lambda: hello.update(client.connect()), process,
                                   on_wait=lambda _s: pulse())
    if problem:
        where = f" Its log: {log}." if log else ""
        raise UserFacingError(f"Matting Anything: no daemon answered at {endpoint}; {problem}.{where} "
                              f"Start it by hand to see why:  {describe(argv)}")
    return hello


def _write_alpha(drawable: Gimp.Drawable, x: int, y: int, result) -> None:
    """Writes the alpha at (x, y) straight into a drawable the undo step has just created (so no
    pixel undo is needed), verbatim in the drawable's own component model."""
    babl = gray_format_like(Babl.get_name(drawable.get_format()), result.depth)
    buffer = drawable.get_buffer()
    buffer.set(Gegl.Rectangle.new(x, y, result.width, result.height), babl, result.alpha)
    buffer.flush()
    drawable.update(x, y, result.width, result.height)


def _apply_as_mask(layer: Gimp.Layer, result) -> None:
    if layer.get_mask() is not None:
        layer.remove_mask(Gimp.MaskApplyMode.DISCARD)
    mask = layer.create_mask(Gimp.AddMaskType.BLACK)
    _write_alpha(mask, result.x, result.y, result)
    layer.add_mask(mask)


def _apply_as_selection(image: Gimp.Image, layer: Gimp.Layer, result) -> None:
    """Builds the matte in a scratch channel, then makes it the selection in one selection undo step."""
    rect = _layer_rect(layer)
    channel = Gimp.Channel.new(image, "Matting Anything", image.get_width(), image.get_height(), 100.0,
                               Gegl.Color.new("black"))
    image.insert_channel(channel, None, 0)
    _write_alpha(channel, rect.x + result.x, rect.y + result.y, result)
    image.select_item(Gimp.ChannelOps.REPLACE, channel)
    image.remove_channel(channel)


def _add_subject_layer(image: Gimp.Image, layer: Gimp.Layer, result) -> Gimp.Layer:
    """A new RGBA layer right above `layer`, at its offsets and size, holding the decontaminated
    colours with the matte as alpha; GEGL converts them to the image's precision."""
    return _new_rgba_layer(image, layer, SUBJECT_LAYER_NAME, layer.get_parent(), image.get_item_position(layer),
                           result.foreground, result.alpha, (result.x, result.y, result.width, result.height),
                           result.depth)


def _new_rgba_layer(image: Gimp.Image, layer: Gimp.Layer, name: str, parent, position: int, rgb: bytes,
                    alpha: bytes, window: tuple[int, int, int, int], depth: int) -> Gimp.Layer:
    """A new RGBA layer the size of `layer` at its offsets, inserted under `parent` at `position`, holding
    `rgb` with `alpha` over `window` (layer coordinates) and transparent elsewhere."""
    rect = _layer_rect(layer)
    new = Gimp.Layer.new(image, name, rect.width, rect.height, Gimp.ImageType.RGBA_IMAGE, 100.0,
                         Gimp.LayerMode.NORMAL)
    image.insert_layer(new, parent, position)
    new.set_offsets(rect.x, rect.y)
    x, y, width, height = window
    babl, pixels = rgba_from_matte(rgb, alpha, width, height, depth)
    buffer = new.get_buffer()
    buffer.set(Gegl.Rectangle.new(x, y, width, height), babl, pixels)
    buffer.flush()
    new.update(x, y, width, height)
    return new


def _add_instance_group(image: Gimp.Image, layer: Gimp.Layer, result, text: str) -> Gimp.Layer:
    """A new layer group right above `layer` holding one layer per instance, best first (on top), each the
    union's decontaminated colours under that instance's own alpha (the daemon estimates the colours once, on
    the union), named by its label and number ("dog 1")."""
    group = Gimp.GroupLayer.new(image, group_name(text))
    image.insert_layer(group, layer.get_parent(), image.get_item_position(layer))
    names = instance_names([inst.label for inst in result.instances], text)
    for position, (inst, name) in enumerate(zip(result.instances, names)):
        rgb = cut_window(result.foreground, result.width, result.height, 3,
                         inst.x - result.x, inst.y - result.y, inst.width, inst.height)
        _new_rgba_layer(image, layer, name, group, position, rgb, inst.alpha,
                        (inst.x, inst.y, inst.width, inst.height), result.depth)
    return group


def _confirm_replace(layer: Gimp.Layer) -> bool:
    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk

    dialog = Gtk.MessageDialog(title="Matting Anything", message_type=Gtk.MessageType.QUESTION,
                               buttons=Gtk.ButtonsType.YES_NO, text=replace_mask_question(layer.get_name()))
    answer = dialog.run()
    dialog.destroy()
    return answer == Gtk.ResponseType.YES


def _ask_options(procedure: Gimp.Procedure, config: Gimp.ProcedureConfig, title: str, prompt_text: str) -> bool:
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init("mam_gimp")
    dialog = GimpUi.ProcedureDialog.new(procedure, config, title)
    dialog.fill(None)
    _show_prompt(dialog, prompt_text)
    hello = _hello_or_none(config.get_property("endpoint"))
    if hello is not None:   # a daemon that does not answer now leaves the options as they are: the run checks
        _offer_refine_edges(dialog, config, hello)
        _offer_text(dialog, config, hello)
    accepted = dialog.run()
    dialog.destroy()
    return accepted


def _show_prompt(dialog, text: str) -> None:
    """A line at the top of the procedure dialog saying which prompt the run will send."""
    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk

    label = Gtk.Label(label=text, xalign=0.0)
    label.set_line_wrap(True)
    label.set_max_width_chars(60)
    label.set_margin_bottom(6)
    area = dialog.get_content_area()
    area.pack_start(label, False, False, 0)
    area.reorder_child(label, 0)
    label.show()


def _prompt_summary(image: Gimp.Image, drawables: list) -> str:
    """What the dialog says about the prompt, from the image as it is when the dialog opens."""
    try:
        layer = _layer_of(image, drawables)
    except UserFacingError as exc:
        return str(exc)
    bounds, foreground, background = _canvas_inputs(image)
    return describe_prompt(_layer_rect(layer), bounds, foreground, background)


def _hello_or_none(endpoint: str) -> dict | None:
    try:
        with MamClient(endpoint, timeout=2.0, connect_timeout=1.0, client_name="gimp") as c:
            return c.connect()
    except Exception:  # noqa: BLE001 (down, wrong endpoint, ...: the run itself reports it)
        return None


def _disable_option(dialog, config: Gimp.ProcedureConfig, name: str, value, label: str, why: str) -> None:
    """Greys out one option of the procedure dialog, resets it to `value`, and says why (label and tooltip)."""
    try:
        widget = dialog.get_widget(name, GObject.TYPE_NONE)
        config.set_property(name, value)
        widget.set_sensitive(False)
        widget.set_tooltip_text(why)
        if hasattr(widget, "set_label"):
            widget.set_label(label)
        elif hasattr(widget, "get_label") and hasattr(widget.get_label(), "set_text"):
            widget.get_label().set_text(label)      # GimpLabeled widgets (the text entry)
    except Exception:  # noqa: BLE001 (a GIMP without this widget API: the run still refuses clearly)
        pass


def _offer_refine_edges(dialog, config: Gimp.ProcedureConfig, hello: dict) -> None:
    """Greys out "Refine edges (classic)" (and unticks it, saying why) when the daemon does not offer it."""
    if not refine_edges_offered(hello):
        _disable_option(dialog, config, "refine-edges", False, "Refine edges (classic): not offered by this daemon",
                        refine_edges_not_offered(config.get_property("endpoint")))


def _offer_text(dialog, config: Gimp.ProcedureConfig, hello: dict) -> None:
    """Greys out the text field (emptied) and "All instances" when the daemon has no detector weights; the label
    names the command that installs them and the tooltip says the rest."""
    if text_offered(hello):
        return
    why = text_not_offered(config.get_property("endpoint"))
    _disable_option(dialog, config, "text", "", f"Select (text): needs detector weights ({DETECTOR_COMMAND})", why)
    _disable_option(dialog, config, "all-instances", False, "All instances (text prompts only)", why)


def _text_of(config: Gimp.ProcedureConfig) -> TextRequest:
    try:
        return text_request(config.get_property("text"), config.get_property("all-instances"),
                            config.get_property("refine-selection"))
    except TextPromptError as exc:
        raise UserFacingError(str(exc)) from exc


def _ask_daemon(image: Gimp.Image, layer: Gimp.Layer, config: Gimp.ProcedureConfig, foreground: bool,
                text: TextRequest):
    """Reads the layer and prompt and returns the daemon's answer (with the colours if `foreground`). A text
    prompt that found nothing stops here (UserFacingError), before anything in the image changes."""
    prompt = _prompt_for(image, layer, config.get_property("refine-selection"), text.text is not None)
    if prompt.dropped_points:
        Gimp.message(f"Matting Anything: {prompt.dropped_points} path anchor(s) outside the layer were left out.")
    fmt = precision_plan_for(image.get_precision().value_name)
    pixels, mask = _read_inputs(image, layer, fmt, prompt)
    result = _request_matte(config.get_property("endpoint"), config.get_property("guidance"),
                            layer, fmt, pixels, mask, prompt, foreground, config.get_property("refine-edges"), text)
    if text.text is not None and not result.instances:
        raise UserFacingError(nothing_found(text.text, result.notes))
    return result


def extract_subject(image: Gimp.Image, drawables: list, config: Gimp.ProcedureConfig) -> None:
    """The subject on a new layer above the active one, as one undo step; the layer itself is untouched."""
    layer = _layer_of(image, drawables)
    if image.get_base_type() != Gimp.ImageBaseType.RGB:
        raise UserFacingError(needs_rgb_image())
    text = _text_of(config)
    result = _ask_daemon(image, layer, config, foreground=True, text=text)
    image.undo_group_start()
    try:
        if text.text is not None and text.all_instances:
            _add_instance_group(image, layer, result, text.text)
        else:
            _add_subject_layer(image, layer, result)
    finally:
        image.undo_group_end()
    Gimp.displays_flush()


def matte_subject(image: Gimp.Image, drawables: list, config: Gimp.ProcedureConfig, interactive: bool,
                  output: str) -> None:
    """Reads the layer and prompt, asks the daemon, and applies the answer (`output`: "mask" or "selection") as
    one undo step."""
    layer = _layer_of(image, drawables)
    if output == "mask" and layer.get_mask() is not None and not config.get_property("replace-mask"):
        if not interactive:
            raise UserFacingError(mask_exists_in_batch(layer.get_name()))
        if not _confirm_replace(layer):
            raise Cancelled()
    result = _ask_daemon(image, layer, config, foreground=False, text=_text_of(config))
    image.undo_group_start()   # with all instances, `result.alpha` is their union: one mask, one selection
    try:
        if output == "mask":
            _apply_as_mask(layer, result)
        else:
            _apply_as_selection(image, layer, result)
    finally:
        image.undo_group_end()
    Gimp.displays_flush()


def _run(procedure, run_mode, image, drawables, config, _data):
    interactive = run_mode == Gimp.RunMode.INTERACTIVE
    name = procedure.get_name()
    if name == PROC_CLICK:
        return _run_click(procedure, interactive, image, drawables, config)
    if interactive and not _ask_options(procedure, config, procedure.get_menu_label().replace("_", ""),
                                        _prompt_summary(image, drawables)):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    try:
        if name == PROC_EXTRACT:
            extract_subject(image, drawables, config)
        else:
            matte_subject(image, drawables, config, interactive,
                          "selection" if name == PROC_SELECT else config.get_property("output"))
    except Cancelled:
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    except UserFacingError as exc:
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(str(exc)))
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


class _ClickMatter:
    """The click dialog's link to the daemon: one client, used only from the dialog's worker thread."""

    def __init__(self, endpoint: str, guidance: str, layer: Gimp.Layer, fmt: PrecisionPlan, pixels: bytes):
        self.endpoint, self.guidance, self.fmt, self.pixels = endpoint, guidance, fmt, pixels
        self.width, self.height = layer.get_width(), layer.get_height()
        self.client = MamClient(endpoint, matte_timeout=TIMEOUT_S, client_name="gimp-click")
        self.hello: dict = {}
        self.preview_side = max(view_size_for(self.width, self.height))

    def _features(self) -> list:
        if not self.hello:
            self.hello = self.client.connect()
        features = self.hello.get("features")
        return features if isinstance(features, list) else []

    def connect(self, say) -> str:
        """Hello (starting the installed daemon when none answers), then `prepare` when the daemon offers it, so
        the image encoder runs while the artist picks the first click."""
        self.hello = _connect_or_start(self.client, self.endpoint, say=say, pulse=lambda: None)
        label = progress_label(self.hello)
        if "prepare" in self._features():
            self.client.prepare(self.width, self.height, self.fmt.wire, self.pixels,
                                self.width * self.fmt.bytes_per_pixel)
            return f"{label}: ready (the image is being prepared). Click on the subject."
        return f"{label}: ready. Click on the subject."

    def _matte(self, request: dict, cancel, **options):
        return self.client.matte(self.width, self.height, self.fmt.wire, self.pixels,
                                 self.width * self.fmt.bytes_per_pixel, box=request["box"], points=request["points"],
                                 guidance=self.guidance, crop=False, cancel_event=cancel, **options)

    def preview(self, request: dict, cancel):
        """The matte to show: 8-bit, shrunk to the view's size when the daemon offers previews."""
        options = {"preview": self.preview_side} if "preview" in self._features() else {}
        return self._matte(request, cancel, depth=8, **options)

    def final(self, request: dict, colours: bool, cancel):
        """The matte to apply: full size at the image's depth (the colours too for a new layer)."""
        self._features()
        return self._matte(request, cancel, depth=self.fmt.alpha_depth, foreground=colours)

    def describe_error(self, exc: BaseException) -> str:
        if isinstance(exc, (DaemonUnavailable, DaemonTimeout, UserFacingError)):
            return str(exc) if str(exc).startswith("Matting Anything") else f"Matting Anything: {exc}"
        if isinstance(exc, MamError):
            return f"Matting Anything: the daemon refused the request: {exc}"
        return f"Matting Anything: {type(exc).__name__}: {exc}"

    def close(self) -> None:
        self.client.close()


def click_select(image: Gimp.Image, drawables: list, config: Gimp.ProcedureConfig) -> None:
    """The click dialog over the layer; on Enter its answer goes to the chosen output as one undo step."""
    from gimp_click_dialog import run_click_dialog

    layer = _layer_of(image, drawables)
    is_rgb = image.get_base_type() == Gimp.ImageBaseType.RGB
    fmt = precision_plan_for(image.get_precision().value_name)
    width, height = layer.get_width(), layer.get_height()
    rect = Gegl.Rectangle.new(0, 0, width, height)
    pixels = bytes(layer.get_buffer().get(rect, 1.0, fmt.read_babl, Gegl.AbyssPolicy.CLAMP))
    shown = pixels if fmt.read_babl == "R'G'B'A u8" else \
        bytes(layer.get_buffer().get(rect, 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.CLAMP))
    matter = _ClickMatter(config.get_property("endpoint"), config.get_property("guidance"), layer, fmt, pixels)
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init("mam_gimp")
    outcome = run_click_dialog(shown, width, height, matter, config.get_property("output"),
                               with_colours=lambda output: output == "layer")
    if outcome is None:
        raise Cancelled()
    output, result = outcome
    config.set_property("output", output)
    if output == "layer" and not is_rgb:
        raise UserFacingError(needs_rgb_image())
    if output == "mask" and layer.get_mask() is not None and not _confirm_replace(layer):
        raise Cancelled()
    image.undo_group_start()
    try:
        if output == "mask":
            _apply_as_mask(layer, result)
        elif output == "selection":
            _apply_as_selection(image, layer, result)
        else:
            _add_subject_layer(image, layer, result)
    finally:
        image.undo_group_end()
    Gimp.displays_flush()


def _run_click(procedure, interactive: bool, image, drawables, config):
    if not interactive:
        return procedure.new_return_values(Gimp.PDBStatusType.CALLING_ERROR, GLib.Error(click_needs_a_person()))
    try:
        click_select(image, drawables, config)
    except Cancelled:
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    except UserFacingError as exc:
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(str(exc)))
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def _add_click_arguments(procedure: Gimp.Procedure) -> None:
    rw = GObject.ParamFlags.READWRITE
    procedure.add_string_argument("endpoint", "_Daemon endpoint", "ZeroMQ endpoint of the Matting Anything daemon",
                                  DEFAULT_ENDPOINT, rw)
    guidance = Gimp.Choice.new()
    for value, index, label, help_text in GUIDANCE_CHOICES:
        guidance.add(value, index, label, help_text)
    procedure.add_choice_argument("guidance", "_Guide the matte by",
                                  "What guides the fusion of the matte (both give a soft matte)", guidance, "alpha", rw)
    output = Gimp.Choice.new()
    output.add("mask", 0, "Layer mask", "Add the matte as the active layer's mask")
    output.add("selection", 1, "Selection", "Replace the selection with the matte")
    output.add("layer", 2, "New layer", "Put the subject on a new layer above the active one")
    procedure.add_choice_argument("output", "Ou_tput", "Where the matte goes (also chosen in the dialog)", output,
                                  "mask", rw)


def _add_arguments(procedure: Gimp.Procedure, default_output: str | None) -> None:
    """The procedures' arguments; without `default_output` (Extract Subject, Select Subject) there is no output
    choice."""
    rw = GObject.ParamFlags.READWRITE
    procedure.add_string_argument("endpoint", "_Daemon endpoint", "ZeroMQ endpoint of the Matting Anything daemon",
                                  DEFAULT_ENDPOINT, rw)
    guidance = Gimp.Choice.new()
    for value, index, label, help_text in GUIDANCE_CHOICES:
        guidance.add(value, index, label, help_text)
    procedure.add_choice_argument("guidance", "_Guide the matte by",
                                  "What guides the fusion of the matte (both give a soft matte)", guidance, "alpha", rw)
    if default_output is not None:
        output = Gimp.Choice.new()
        output.add("mask", 0, "Layer mask", "Add the matte as the active layer's mask")
        output.add("selection", 1, "Selection", "Replace the selection with the matte")
        procedure.add_choice_argument("output", "Ou_tput", "Where the matte goes", output, default_output, rw)
        procedure.add_boolean_argument("replace-mask", "Re_place an existing layer mask",
                                       "Overwrite the layer's mask without asking", False, rw)
    procedure.add_boolean_argument("refine-selection", "Re_fine the selection",
                                   "Send the selection itself (not only its bounding box) as a mask to refine",
                                   False, rw)
    procedure.add_boolean_argument("refine-edges", "Refine _edges (classic)",
                                   "Re-solve the band around the matte's edge at full resolution with closed-form "
                                   "matting (needs a daemon that offers \"refine:classic\")", False, rw)
    procedure.add_string_argument("text", "_Select", "Find the subject by name (\"the dog\", \"a cat. a dog.\"); a "
                                  "selection or path points with it narrow where and which. Empty: no text prompt. "
                                  f"Needs the daemon's detector weights ({DETECTOR_COMMAND})", "", rw)
    procedure.add_boolean_argument("all-instances", "_All instances",
                                   "With a text prompt, every match instead of the best one: the layer mask and the "
                                   "selection get their union, Extract Subject one layer per match in a new layer "
                                   "group", False, rw)


class MattingAnything(Gimp.PlugIn):
    """Registers the three menu commands: two run matte_subject and differ in where the matte goes,
    the third runs extract_subject."""

    def do_query_procedures(self):
        return [PROC_MASK, PROC_SELECT, PROC_EXTRACT, PROC_CLICK]

    def do_set_i18n(self, _name):
        return False

    def do_create_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, _run, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_attribution("mam-backend", "Apache-2.0", "2026")
        if name == PROC_MASK:
            procedure.set_menu_label("Add Layer _Mask from Subject...")
            procedure.set_documentation(
                "Adds a soft layer mask of the subject to the active layer",
                "The selection's bounding box, the active path's anchors (foreground) and anchors of paths "
                "named \"MAM background\" prompt the Matting Anything daemon; its matte becomes the layer mask.",
                name)
            _add_arguments(procedure, "mask")
        elif name == PROC_EXTRACT:
            procedure.set_image_types("RGB*")
            procedure.set_menu_label("_Extract Subject to New Layer...")
            procedure.set_documentation(
                "Puts the subject on a new layer above the active one",
                "Same prompt as \"Add Layer Mask from Subject\"; a new RGBA layer gets the subject's colours, with "
                "the old background removed from its soft edges, and the matte as its transparency.",
                name)
            _add_arguments(procedure, None)
        elif name == PROC_CLICK:
            procedure.set_menu_label("_Click to Select...")
            procedure.set_documentation(
                "Click on the subject in a dialog: each click shows the matte, Enter applies it",
                "Shows the active layer in a dialog. Click: foreground point; Shift+click or right click: background "
                "point; drag: box. The matte is drawn over the layer after each change; Backspace removes the last "
                "prompt, Enter applies it as a layer mask, the selection or a new layer (one undo step), Esc closes "
                "without changes. Interactive only: in scripts, prompt the other procedures with a selection or "
                "path points.",
                name)
            _add_click_arguments(procedure)
        else:
            procedure.set_menu_label("_Select Subject...")
            procedure.set_documentation(
                "Replaces the selection with a soft selection of the subject",
                "Same prompt as \"Add Layer Mask from Subject\"; the matte becomes the selection.",
                name)
            _add_arguments(procedure, None)
        procedure.add_menu_path(MENU_PATH)
        return procedure


if __name__ == "__main__":
    Gimp.main(MattingAnything.__gtype__, sys.argv)
