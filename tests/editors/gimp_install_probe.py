"""Runs inside real GIMP 3 (gimp-console, python-fu-eval) for tests/test_install_editors.py: lists the
Matting Anything procedures GIMP registered from the plug-in mam-install put in the profile, then runs
plug-in-mam-add-layer-mask on the photo with a box selection against the daemon the installer configured and
dumps the mask. Job: JSON at $MAM_INSTALL_PROBE."""
import json
import os
import traceback

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

job = json.load(open(os.environ["MAM_INSTALL_PROBE"]))
report = {}
try:
    pdb = Gimp.get_pdb()
    report["procedures"] = [n for n in ("plug-in-mam-add-layer-mask", "plug-in-mam-select-subject",
                                        "plug-in-mam-extract-subject") if pdb.procedure_exists(n)]
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(job["photo"]))
    layer = image.get_layers()[0]
    x0, y0, x1, y1 = job["box"]
    image.select_rectangle(Gimp.ChannelOps.REPLACE, x0, y0, x1 - x0, y1 - y0)
    proc = pdb.lookup_procedure("plug-in-mam-add-layer-mask")
    config = proc.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    config.set_property("endpoint", job["endpoint"])
    config.set_property("replace-mask", True)
    result = proc.run(config)
    status = result.index(0)
    report["status"] = status.value_nick
    if status != Gimp.PDBStatusType.SUCCESS and result.length() > 1:
        report["message"] = result.index(1)
    mask = layer.get_mask()
    if mask is not None:
        w, h = image.get_width(), image.get_height()
        data = mask.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, "Y u8", Gegl.AbyssPolicy.NONE)
        with open(os.path.join(job["out"], "gimp_mask.bin"), "wb") as f:
            f.write(bytes(data))
        report["size"] = [w, h]
except Exception:
    report["error"] = traceback.format_exc()
with open(os.path.join(job["out"], "gimp.json"), "w") as f:
    json.dump(report, f)
