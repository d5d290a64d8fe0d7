"""Wire protocol v1: constants, request validation and reply headers (see docs/PROTOCOL.md).

Validation lives here, apart from the socket loop, so every malformed message is turned into a
`ProtocolError` with a code and a message naming the problem before anything touches the model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import msgpack
import numpy as np

from mam_engine.request import (
    REFINE_METHODS,
    Limits,
    MatteRequest,
    RequestError,
    check_image_size,
    check_prepare,
    check_request,
    echo,
)

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)

# name -> (bytes per pixel, sample dtype); the one table both validation and conversion read.
PIXEL_FORMATS: dict[str, tuple[int, str]] = {
    "RGBA8": (4, "u1"),
    "BGRA8": (4, "u1"),
    "RGB8": (3, "u1"),
    "GRAY8": (1, "u1"),
    "RGBA16": (8, "<u2"),
    "BGRA16": (8, "<u2"),
    "RGBAF16": (8, "<f2"),
    "RGBAF32": (16, "<f4"),
}

ERROR_CODES = (
    "bad_message",          # not a msgpack map, missing/ill-typed id or type, wrong frame count
    "unsupported_version",  # header "v" is not a version this daemon speaks
    "unknown_type",         # header "type" is not a request this daemon knows
    "bad_request",          # a field is missing, ill-typed or out of range; digest mismatch; frame sizes
    "unknown_image",        # digest-only matte for an image the daemon does not hold: re-send pixels
    "too_large",            # image over max_pixels, or message over max_message_bytes
    "too_many_points",      # more than max_points prompt points
    "missing_weights",      # a text prompt on a daemon without detector weights: the message names the command
    "queue_full",           # max_queue requests (or max_queued_bytes of frames) already wait
    "cancelled",            # the request was cancelled by a `cancel`
    "superseded",           # a newer `matte` (or `prepare`) from the same client replaced this queued one
    "shutting_down",        # the daemon is stopping; the request was not (fully) run
    "replica_lost",         # (--ray pools) the replica running the request died; send it again
    "internal",             # a bug in the daemon or the model; every bad input gets one of the codes above
)

MAX_ID_CHARS = 64
MAX_HEADER_BYTES = 1 << 20
DIGEST_RE = re.compile(r"^[0-9a-f]{32}$")
DEPTHS = (8, 16)
MIN_PREVIEW_SIDE = 16  # options.preview: the smallest long side a preview may be asked for
# Optional requests and matte options a client may look for in hello before using them (all within version 1).
# "text" is added per hello when the engine has detector weights (`features`).
FEATURES = tuple(f"refine:{m}" for m in REFINE_METHODS) + ("foreground", "prepare", "preview")
TEXT_FEATURE = "text"


def text_available(engine: Any) -> bool:
    """The engine can run text prompts now (its detector files are present); engines without the notion cannot."""
    check = getattr(engine, "text_available", None)
    return bool(check()) if check is not None else False


def features(engine: Any) -> list[str]:
    """hello's `features` for this engine: `text` only while detector weights are present."""
    return list(FEATURES) + ([TEXT_FEATURE] if text_available(engine) else [])


class ProtocolError(Exception):
    """A request the daemon answers with `error` {code, message}; `request_id` is None when unknown."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True)
class ImageSpec:
    """Geometry and identity of the pixel frame; `key` names the converted image in the daemon's caches."""

    width: int
    height: int
    format: str
    stride: int
    digest: str

    @property
    def key(self) -> str:
        # The digest covers the bytes only; the same bytes read as another format are another image.
        return f"{self.digest}:{self.format}:{self.width}x{self.height}:{self.stride}"

    @property
    def frame_bytes(self) -> int:
        return self.stride * self.height


@dataclass
class HelloMessage:
    id: str
    client: str


@dataclass
class StatusMessage:
    id: str


@dataclass
class CancelMessage:
    id: str
    target: str


@dataclass
class MatteMessage:
    """A `matte` whose prompt and options passed the engine's validator (`request`), ready to queue.
    `preview`: the long-side bound of a preview alpha (None: the full alpha)."""

    id: str
    image: ImageSpec
    request: MatteRequest
    depth: int = 8
    crop: bool = False
    pixels: memoryview | None = field(default=None, repr=False)
    preview: int | None = None

    @property
    def mask_bytes(self) -> int:
        mask = self.request.prompt.mask
        return 0 if mask is None else mask.nbytes


@dataclass
class PrepareMessage:
    """A `prepare`: encode this image ahead of its first prompt, at low priority (docs/PROTOCOL.md 4.7)."""

    id: str
    image: ImageSpec
    pixels: memoryview | None = field(default=None, repr=False)
    mask_bytes = 0  # a prepare carries no mask; read like MatteMessage's by the queue's byte bound


Message = HelloMessage | StatusMessage | CancelMessage | MatteMessage | PrepareMessage


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def decode_header(data: bytes | memoryview) -> dict:
    """Frame 0 → dict, or bad_message. Size-capped so a huge header cannot cost time or memory."""
    if len(data) > MAX_HEADER_BYTES:
        raise ProtocolError("bad_message", f"header frame is {len(data)} bytes; at most {MAX_HEADER_BYTES}")
    try:
        header = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise ProtocolError("bad_message", f"frame 0 is not valid msgpack ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise ProtocolError("bad_message", f"frame 0 must be a msgpack map, got {type(header).__name__}")
    return header


def parse_request(frames: Sequence[memoryview | bytes], limits: Limits, always_refines: bool = False,
                  text_available: Callable[[], bool] = lambda: False) -> Message:
    """Validate one client message (without the ROUTER identity) into a typed message.

    `always_refines`: the daemon's pipeline refines every matte (classic), which the option rules depend on.
    `text_available()`: detector weights are present, so a text prompt is accepted (else `missing_weights`); asked
    only for a text prompt, so other messages cost no file-system look-up.
    """
    if not frames:
        raise ProtocolError("bad_message", "empty message")
    header = decode_header(frames[0])
    rid = header.get("id")
    if not isinstance(rid, str) or not 0 < len(rid) <= MAX_ID_CHARS:
        raise ProtocolError("bad_message", f"'id' must be a string of 1..{MAX_ID_CHARS} characters, got {echo(rid)}")
    version = header.get("v")
    if not _is_int(version) or version not in SUPPORTED_VERSIONS:
        raise ProtocolError("unsupported_version",
                            f"protocol version {echo(version)} is not supported; this daemon speaks "
                            f"{list(SUPPORTED_VERSIONS)}", rid)
    rtype = header.get("type")
    if not isinstance(rtype, str) or rtype not in _PARSERS:
        raise ProtocolError("unknown_type", f"unknown request type {echo(rtype)}; known: {sorted(_PARSERS)}", rid)
    names = header.get("frames", [])
    binary = list(frames[1:])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ProtocolError("bad_message", f"'frames' must be a list of frame names, got {echo(names)}", rid)
    if len(set(names)) != len(names):
        raise ProtocolError("bad_message", f"frame names repeat: {echo(names)}", rid)
    if len(names) != len(binary):
        raise ProtocolError("bad_message",
                            f"header lists {len(names)} binary frame(s) {echo(names)} but {len(binary)} arrived", rid)
    total = sum(len(f) for f in frames)
    if total > limits.max_message_bytes:
        raise ProtocolError("too_large", f"message is {total} bytes; max_message_bytes is "
                                         f"{limits.max_message_bytes}", rid)
    try:
        return _PARSERS[rtype](rid, header, dict(zip(names, binary)), limits, always_refines, text_available)
    except RequestError as exc:
        raise ProtocolError(exc.code, exc.message, rid) from None
    except ProtocolError as exc:
        exc.request_id = rid
        raise


def _no_frames(rtype: str, frames: dict) -> None:
    if frames:
        raise ProtocolError("bad_message", f"'{rtype}' takes no binary frames, got {echo(sorted(frames))}")


def _parse_hello(rid: str, header: dict, frames: dict, limits: Limits, always_refines: bool,
                 text_available: Callable[[], bool]) -> HelloMessage:
    _no_frames("hello", frames)
    client = header.get("client", "")
    if not isinstance(client, str) or len(client) > 200:
        raise ProtocolError("bad_request", f"'client' must be a string of at most 200 characters, got {echo(client)}")
    return HelloMessage(rid, client)


def _parse_status(rid: str, header: dict, frames: dict, limits: Limits, always_refines: bool,
                  text_available: Callable[[], bool]) -> StatusMessage:
    _no_frames("status", frames)
    return StatusMessage(rid)


def _parse_cancel(rid: str, header: dict, frames: dict, limits: Limits, always_refines: bool,
                  text_available: Callable[[], bool]) -> CancelMessage:
    _no_frames("cancel", frames)
    target = header.get("target")
    if not isinstance(target, str) or not 0 < len(target) <= MAX_ID_CHARS:
        raise ProtocolError("bad_request", f"'target' must be the id (string) of an earlier matte request, "
                                           f"got {echo(target)}")
    return CancelMessage(rid, target)


def _map(header: dict, key: str, required: bool = True) -> dict:
    value = header.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError("bad_request", f"'{key}' must be a map, got {echo(value)}")
    return value


def _parse_image(image: dict, limits: Limits) -> ImageSpec:
    width, height = check_image_size(image.get("width"), image.get("height"), limits)
    fmt = image.get("format")
    if not isinstance(fmt, str) or fmt not in PIXEL_FORMATS:
        raise ProtocolError("bad_request", f"image.format: {echo(fmt)} is not one of {list(PIXEL_FORMATS)}")
    row = width * PIXEL_FORMATS[fmt][0]
    stride = image.get("stride", row)
    if not _is_int(stride) or not row <= stride <= row + 4096:
        raise ProtocolError("bad_request", f"image.stride: {echo(stride)} must be an integer from "
                                           f"width*{PIXEL_FORMATS[fmt][0]} = {row} to {row + 4096} bytes")
    digest = image.get("digest")
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise ProtocolError("bad_request", "image.digest must be 32 lowercase hex characters "
                                           f"(BLAKE2b, 16-byte digest, of the pixel frame), got {echo(digest)}")
    return ImageSpec(width, height, fmt, stride, digest)


def _parse_mask(prompt: dict, frame: Any, spec: ImageSpec) -> np.ndarray | None:
    header = prompt.get("mask")
    if (frame is None) != (header is None):
        raise ProtocolError("bad_request", "prompt.mask and a frame named 'mask' must come together")
    if frame is None:
        return None
    if not (isinstance(header, dict) and header.get("width") == spec.width and header.get("height") == spec.height):
        raise ProtocolError("bad_request", f"prompt.mask must be {{width: {spec.width}, height: {spec.height}}}, "
                                           f"the image size, got {echo(header)}")
    if len(frame) != spec.width * spec.height:
        raise ProtocolError("bad_request", f"mask frame is {len(frame)} bytes; {spec.width}x{spec.height} = "
                                           f"{spec.width * spec.height} expected (GRAY8)")
    return mask_to_bool(frame, spec.width, spec.height)


def mask_to_bool(frame: memoryview | bytes, width: int, height: int) -> np.ndarray:
    """GRAY8 selection frame → H×W bool (>= 128 is inside, as documented in PROTOCOL.md)."""
    return np.frombuffer(frame, dtype=np.uint8).reshape(height, width) >= 128


def _pixel_frame(frames: dict, spec: ImageSpec) -> Any:
    pixels = frames.get("pixels")
    if pixels is not None and len(pixels) != spec.frame_bytes:
        raise ProtocolError("bad_request", f"pixel frame is {len(pixels)} bytes; {spec.height} rows x stride "
                                           f"{spec.stride} = {spec.frame_bytes} expected")
    return pixels


def _parse_matte(rid: str, header: dict, frames: dict, limits: Limits, always_refines: bool,
                 text_available: Callable[[], bool]) -> MatteMessage:
    unknown = set(frames) - {"pixels", "mask"}
    if unknown:
        raise ProtocolError("bad_message", f"unknown frame name(s) {echo(sorted(unknown))}; matte takes 'pixels', "
                                           "'mask'")
    spec = _parse_image(_map(header, "image"), limits)
    prompt = _map(header, "prompt")
    options = _map(header, "options", required=False)
    pixels = _pixel_frame(frames, spec)
    mask = _parse_mask(prompt, frames.get("mask"), spec)
    request = check_request(spec.width, spec.height, box=prompt.get("box"), points=prompt.get("points"), mask=mask,
                            guidance=options.get("guidance", "alpha"), refine=options.get("refine"),
                            refine_band=options.get("refine_band"), foreground=options.get("foreground", False),
                            limits=limits, always_refines=always_refines, text=prompt.get("text"),
                            box_threshold=options.get("box_threshold"), text_threshold=options.get("text_threshold"),
                            instances=options.get("instances"),
                            text_available=prompt.get("text") is not None and text_available())
    depth = options.get("depth", 8)
    crop = options.get("crop", False)
    if not _is_int(depth) or depth not in DEPTHS:
        raise ProtocolError("bad_request", f"options.depth must be 8 or 16, got {echo(depth)}")
    if not isinstance(crop, bool):
        raise ProtocolError("bad_request", f"options.crop must be true or false, got {echo(crop)}")
    preview = _preview(options.get("preview"), request)
    return MatteMessage(rid, spec, request, depth, crop, pixels=_view(pixels), preview=preview)


def _preview(preview: Any, request: MatteRequest) -> int | None:
    """options.preview: null, or the long side (pixels) the returned alpha may have at most."""
    if preview is None:
        return None
    if not _is_int(preview) or preview < MIN_PREVIEW_SIDE:
        raise ProtocolError("bad_request", f"options.preview must be null or an integer of at least {MIN_PREVIEW_SIDE} "
                                           f"(the preview's long side in pixels), got {echo(preview)}")
    if request.options.foreground:
        raise ProtocolError("bad_request", "options.preview does not combine with options.foreground: ask for the "
                                           "foreground with the full matte")
    if request.text is not None and request.text.instances == "all":
        raise ProtocolError("bad_request", "options.preview does not combine with options.instances 'all'")
    return int(preview)


def _parse_prepare(rid: str, header: dict, frames: dict, limits: Limits, always_refines: bool,
                   text_available: Callable[[], bool]) -> PrepareMessage:
    unknown = set(frames) - {"pixels"}
    if unknown:
        raise ProtocolError("bad_message", f"unknown frame name(s) {echo(sorted(unknown))}; prepare takes 'pixels'")
    spec = _parse_image(_map(header, "image"), limits)
    check_prepare(spec.width, spec.height, limits, header.get("prompt"), header.get("options"))
    return PrepareMessage(rid, spec, pixels=_view(_pixel_frame(frames, spec)))


def _view(frame: Any) -> memoryview | None:
    return None if frame is None else memoryview(frame)


_PARSERS: dict[str, Any] = {"hello": _parse_hello, "status": _parse_status, "cancel": _parse_cancel,
                            "matte": _parse_matte, "prepare": _parse_prepare}


def instance_frames(instances: Sequence[Any], instances_mode: str, depth: int, crop: bool,
                    main: tuple[int, int, int, int]) -> tuple[list[dict], list[np.ndarray]]:
    """A text result's `instances` header entries and their alpha frames (`alpha_0`, ... with instances="all").

    With "best" the one instance's matte is the main `alpha` frame (named, not repeated). `main` is that frame's
    (x, y, width, height). Each "all" frame is cropped on its own with `crop`.
    """
    from .alpha_frame import encode_alpha

    entries: list[dict] = []
    frames: list[np.ndarray] = []
    for i, inst in enumerate(instances):
        entry = {"box": [float(v) for v in inst.box], "score": float(inst.score), "label": str(inst.label),
                 "mask_score": float(inst.mask_score)}
        if instances_mode == "all":
            samples, x, y = encode_alpha(inst.alpha, depth, crop)
            frames.append(samples)
            entry.update(frame=f"alpha_{i}", x=x, y=y, width=int(samples.shape[1]), height=int(samples.shape[0]))
        else:
            entry.update(frame="alpha", x=main[0], y=main[1], width=main[2], height=main[3])
        entries.append(entry)
    return entries, frames


def text_result(message: MatteMessage, result: Any, main: tuple[int, int, int, int]
                ) -> tuple[dict, list[str], list[np.ndarray]]:
    """For the worker's result: ({"instances": [...]} or {}, the extra frame names, their frames), in frame order
    after `alpha`. Empty for a request without text."""
    query = message.request.text
    if query is None:
        return {}, [], []
    entries, frames = instance_frames(result.instances, query.instances, message.depth, message.crop, main)
    return {"instances": entries}, [e["frame"] for e in entries if e["frame"] != "alpha"], frames


def reply_header(rtype: str, request_id: str | None, **fields: Any) -> bytes:
    """Encode one reply header; every reply carries the protocol version and the request id."""
    return msgpack.packb({"v": PROTOCOL_VERSION, "id": request_id, "type": rtype, **fields}, use_bin_type=True)


def error_header(code: str, message: str, request_id: str | None) -> bytes:
    return reply_header("error", request_id, code=code, message=message)
