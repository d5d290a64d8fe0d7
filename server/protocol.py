"""Wire protocol v1: constants, request validation and reply headers (see docs/PROTOCOL.md).

Validation lives here, apart from the socket loop, so every malformed message is turned into a
`ProtocolError` with a code and a message naming the problem before anything touches the model.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import msgpack

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
    "queue_full",           # max_queue requests (or max_queued_bytes of frames) already wait
    "cancelled",            # the request was cancelled by a `cancel`
    "superseded",           # a newer `matte` from the same client replaced this queued one
    "shutting_down",        # the daemon is stopping; the request was not (fully) run
    "internal",             # the model failed; the message says how
)

MAX_ID_CHARS = 64
MAX_HEADER_BYTES = 1 << 20
DIGEST_RE = re.compile(r"^[0-9a-f]{32}$")
GUIDANCES = ("alpha", "mask")
DEPTHS = (8, 16)
REFINE_METHODS = ("classic",)  # options.refine values besides null
# Optional matte options a client may look for in hello before using them (all within version 1).
FEATURES = tuple(f"refine:{m}" for m in REFINE_METHODS) + ("foreground",)


@dataclass(frozen=True)
class Limits:
    """Per-daemon limits, announced in `hello` so clients can check before sending."""

    max_pixels: int = 100_000_000
    max_message_bytes: int = 2 << 30
    max_points: int = 256
    max_queue: int = 32
    max_queued_bytes: int = 4 << 30

    def as_dict(self) -> dict[str, int]:
        return {"max_pixels": self.max_pixels, "max_message_bytes": self.max_message_bytes,
                "max_points": self.max_points, "max_queue": self.max_queue,
                "max_queued_bytes": self.max_queued_bytes}


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
    """Geometry and identity of the pixel frame; `key` names the converted image in caches."""

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
class HelloRequest:
    id: str
    client: str


@dataclass
class StatusRequest:
    id: str


@dataclass
class CancelRequest:
    id: str
    target: str


@dataclass
class MatteRequest:
    id: str
    image: ImageSpec
    box: tuple[float, float, float, float] | None
    points: list[tuple[float, float, int]] | None
    guidance: str
    depth: int
    crop: bool
    refine: str | None = None
    refine_band: int | None = None  # its range is the engine's to check (it depends on the solver)
    foreground: bool = False
    pixels: memoryview | None = field(default=None, repr=False)
    mask: memoryview | None = field(default=None, repr=False)


Request = HelloRequest | StatusRequest | CancelRequest | MatteRequest


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


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


def parse_request(frames: Sequence[memoryview | bytes], limits: Limits) -> Request:
    """Validate one client message (without the ROUTER identity) into a typed request."""
    if not frames:
        raise ProtocolError("bad_message", "empty message")
    header = decode_header(frames[0])
    rid = header.get("id")
    if not isinstance(rid, str) or not 0 < len(rid) <= MAX_ID_CHARS:
        raise ProtocolError("bad_message", f"'id' must be a string of 1..{MAX_ID_CHARS} characters")
    version = header.get("v")
    if version not in SUPPORTED_VERSIONS or not _is_int(version):
        raise ProtocolError("unsupported_version",
                            f"protocol version {version!r} is not supported; this daemon speaks "
                            f"{list(SUPPORTED_VERSIONS)}", rid)
    rtype = header.get("type")
    if rtype not in _PARSERS:
        raise ProtocolError("unknown_type", f"unknown request type {rtype!r}; known: {sorted(_PARSERS)}", rid)
    names = header.get("frames", [])
    binary = list(frames[1:])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ProtocolError("bad_message", "'frames' must be a list of frame names", rid)
    if len(set(names)) != len(names):
        raise ProtocolError("bad_message", f"frame names repeat: {names}", rid)
    if len(names) != len(binary):
        raise ProtocolError("bad_message",
                            f"header lists {len(names)} binary frame(s) {names} but {len(binary)} arrived", rid)
    total = sum(len(f) for f in frames)
    if total > limits.max_message_bytes:
        raise ProtocolError("too_large", f"message is {total} bytes; max_message_bytes is "
                                         f"{limits.max_message_bytes}", rid)
    try:
        return _PARSERS[rtype](rid, header, dict(zip(names, binary)), limits)
    except ProtocolError as exc:
        exc.request_id = rid
        raise


def _no_frames(rtype: str, frames: dict) -> None:
    if frames:
        raise ProtocolError("bad_message", f"'{rtype}' takes no binary frames, got {sorted(frames)}")


def _parse_hello(rid: str, header: dict, frames: dict, limits: Limits) -> HelloRequest:
    _no_frames("hello", frames)
    client = header.get("client", "")
    if not isinstance(client, str) or len(client) > 200:
        raise ProtocolError("bad_request", "'client' must be a string of at most 200 characters")
    return HelloRequest(rid, client)


def _parse_status(rid: str, header: dict, frames: dict, limits: Limits) -> StatusRequest:
    _no_frames("status", frames)
    return StatusRequest(rid)


def _parse_cancel(rid: str, header: dict, frames: dict, limits: Limits) -> CancelRequest:
    _no_frames("cancel", frames)
    target = header.get("target")
    if not isinstance(target, str) or not 0 < len(target) <= MAX_ID_CHARS:
        raise ProtocolError("bad_request", "'target' must be the id (string) of an earlier matte request")
    return CancelRequest(rid, target)


def _require_map(header: dict, key: str, required: bool = True) -> dict:
    value = header.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError("bad_request", f"'{key}' must be a map")
    return value


def _parse_image(image: dict, limits: Limits) -> ImageSpec:
    width, height, fmt = image.get("width"), image.get("height"), image.get("format")
    if not (_is_int(width) and _is_int(height) and width > 0 and height > 0):
        raise ProtocolError("bad_request", f"image width and height must be positive integers, "
                                           f"got {width!r} x {height!r}")
    if width * height > limits.max_pixels:
        raise ProtocolError("too_large", f"image is {width}x{height} = {width * height} pixels; "
                                         f"max_pixels is {limits.max_pixels}")
    if fmt not in PIXEL_FORMATS:
        raise ProtocolError("bad_request", f"pixel format {fmt!r} is not one of {list(PIXEL_FORMATS)}")
    row = width * PIXEL_FORMATS[fmt][0]
    stride = image.get("stride", row)
    if not _is_int(stride) or not row <= stride <= row + 4096:
        raise ProtocolError("bad_request", f"stride {stride!r} must be an integer from width*{PIXEL_FORMATS[fmt][0]}"
                                           f" = {row} to {row + 4096} bytes")
    digest = image.get("digest")
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise ProtocolError("bad_request", "image 'digest' must be 32 lowercase hex characters "
                                           "(BLAKE2b, 16-byte digest, of the pixel frame)")
    return ImageSpec(width, height, fmt, stride, digest)


def _parse_box(box: Any, spec: ImageSpec) -> tuple[float, float, float, float] | None:
    if box is None:
        return None
    if not (isinstance(box, list) and len(box) == 4 and all(_is_num(v) for v in box)):
        raise ProtocolError("bad_request", f"'box' must be 4 finite numbers [x0, y0, x1, y1], got {box!r}"[:300])
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (0 <= x0 < x1 <= spec.width and 0 <= y0 < y1 <= spec.height):
        raise ProtocolError("bad_request", f"box {box} must satisfy 0 <= x0 < x1 <= {spec.width} and "
                                           f"0 <= y0 < y1 <= {spec.height}")
    return x0, y0, x1, y1


def _parse_points(points: Any, spec: ImageSpec, limits: Limits) -> list[tuple[float, float, int]] | None:
    if points is None:
        return None
    if not isinstance(points, list):
        raise ProtocolError("bad_request", "'points' must be a list of [x, y, label]")
    if len(points) > limits.max_points:
        raise ProtocolError("too_many_points", f"{len(points)} points; max_points is {limits.max_points}")
    parsed = []
    for i, p in enumerate(points):
        if not (isinstance(p, list) and len(p) == 3 and _is_num(p[0]) and _is_num(p[1])
                and p[2] in (0, 1) and _is_int(p[2])):
            raise ProtocolError("bad_request", f"point {i} must be [x, y, label] with finite x, y and label 0 or 1,"
                                               f" got {p!r}"[:300])
        if not (0 <= p[0] <= spec.width and 0 <= p[1] <= spec.height):
            raise ProtocolError("bad_request", f"point {i} ({p[0]}, {p[1]}) lies outside the "
                                               f"{spec.width}x{spec.height} image")
        parsed.append((float(p[0]), float(p[1]), int(p[2])))
    return parsed or None


def _parse_matte(rid: str, header: dict, frames: dict, limits: Limits) -> MatteRequest:
    unknown = set(frames) - {"pixels", "mask"}
    if unknown:
        raise ProtocolError("bad_message", f"unknown frame name(s) {sorted(unknown)}; matte takes 'pixels', 'mask'")
    spec = _parse_image(_require_map(header, "image"), limits)
    prompt = _require_map(header, "prompt")
    options = _require_map(header, "options", required=False)
    box = _parse_box(prompt.get("box"), spec)
    points = _parse_points(prompt.get("points"), spec, limits)
    pixels = frames.get("pixels")
    if pixels is not None and len(pixels) != spec.frame_bytes:
        raise ProtocolError("bad_request", f"pixel frame is {len(pixels)} bytes; {spec.height} rows x stride "
                                           f"{spec.stride} = {spec.frame_bytes} expected")
    mask = frames.get("mask")
    mask_header = prompt.get("mask")
    if (mask is None) != (mask_header is None):
        raise ProtocolError("bad_request", "prompt 'mask' and a frame named 'mask' must come together")
    if mask is not None:
        if not (isinstance(mask_header, dict) and mask_header.get("width") == spec.width
                and mask_header.get("height") == spec.height):
            raise ProtocolError("bad_request", f"prompt mask must be {{width: {spec.width}, height: {spec.height}}}, "
                                               f"the image size, got {mask_header!r}"[:300])
        if len(mask) != spec.width * spec.height:
            raise ProtocolError("bad_request", f"mask frame is {len(mask)} bytes; {spec.width}x{spec.height} = "
                                               f"{spec.width * spec.height} expected (GRAY8)")
    if box is None and points is None and mask is None:
        raise ProtocolError("bad_request", "prompt needs a box, points or a mask")
    guidance = options.get("guidance", "alpha")
    depth = options.get("depth", 8)
    crop = options.get("crop", False)
    if guidance not in GUIDANCES:
        raise ProtocolError("bad_request", f"options.guidance must be one of {list(GUIDANCES)}, got {guidance!r}")
    if depth not in DEPTHS or not _is_int(depth):
        raise ProtocolError("bad_request", f"options.depth must be 8 or 16, got {depth!r}")
    if not isinstance(crop, bool):
        raise ProtocolError("bad_request", f"options.crop must be true or false, got {crop!r}")
    refine, band, foreground = _parse_quality(options)
    return MatteRequest(rid, spec, box, points, guidance, depth, crop, refine, band, foreground,
                        pixels=_view(pixels), mask=_view(mask))


def _parse_quality(options: dict) -> tuple[str | None, int | None, bool]:
    """options.refine / refine_band / foreground (protocol 1.1); absent means the 1.0 behaviour."""
    refine = options.get("refine")
    band = options.get("refine_band")
    foreground = options.get("foreground", False)
    if refine is not None and refine not in REFINE_METHODS:
        raise ProtocolError("bad_request", f"options.refine must be null or one of {list(REFINE_METHODS)}, "
                                           f"got {refine!r}"[:300])
    if band is not None and not _is_int(band):
        raise ProtocolError("bad_request", f"options.refine_band must be an integer number of pixels or null, "
                                           f"got {band!r}"[:300])
    if not isinstance(foreground, bool):
        raise ProtocolError("bad_request", f"options.foreground must be true or false, got {foreground!r}"[:300])
    return refine, band, foreground


def _view(frame: Any) -> memoryview | None:
    return None if frame is None else memoryview(frame)


_PARSERS = {"hello": _parse_hello, "status": _parse_status, "cancel": _parse_cancel, "matte": _parse_matte}


def reply_header(rtype: str, request_id: str | None, **fields: Any) -> bytes:
    """Encode one reply header; every reply carries the protocol version and the request id."""
    return msgpack.packb({"v": PROTOCOL_VERSION, "id": request_id, "type": rtype, **fields}, use_bin_type=True)


def error_header(code: str, message: str, request_id: str | None) -> bytes:
    return reply_header("error", request_id, code=code, message=message)
