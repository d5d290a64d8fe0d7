"""The msgpack subset the MAM wire protocol uses, on the standard library alone.

Editor Pythons (Krita, GIMP 3) ship without the `msgpack` package, but protocol headers are
msgpack maps. Supported: nil, bool, int (every width, negative too), float32/float64, str, bin,
array and map. Encoding always picks the shortest form, like the reference implementation, so
both produce the same bytes. Decoding is strict: truncated input, trailing bytes, reserved or
ext type bytes, invalid UTF-8 and unhashable map keys raise `MsgpackError`.
"""
from __future__ import annotations

import struct
from typing import Any, Callable, Dict, List, Tuple

__all__ = ["MsgpackError", "pack", "unpack"]

MAX_DEPTH = 256  # nesting limit: deeper input is an attack or a bug, never a protocol header


class MsgpackError(ValueError):
    """Input that is not valid msgpack, or an object this subset cannot encode."""


_U8, _U16, _U32, _U64 = struct.Struct(">B"), struct.Struct(">H"), struct.Struct(">I"), struct.Struct(">Q")
_I8, _I16, _I32, _I64 = struct.Struct(">b"), struct.Struct(">h"), struct.Struct(">i"), struct.Struct(">q")
_F32, _F64 = struct.Struct(">f"), struct.Struct(">d")


def pack(obj: Any, single_float: bool = False) -> bytes:
    """Encode `obj`; floats become float64 unless `single_float` asks for float32."""
    out = bytearray()
    _pack_into(out, obj, single_float, 0)
    return bytes(out)


def _pack_into(out: bytearray, obj: Any, single_float: bool, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise MsgpackError(f"object nests deeper than {MAX_DEPTH} levels")
    if obj is None:
        out.append(0xC0)
    elif obj is True:
        out.append(0xC3)
    elif obj is False:
        out.append(0xC2)
    elif isinstance(obj, int):
        _pack_int(out, obj)
    elif isinstance(obj, float):
        if single_float:
            out.append(0xCA)
            out += _F32.pack(obj)
        else:
            out.append(0xCB)
            out += _F64.pack(obj)
    elif isinstance(obj, str):
        data = obj.encode("utf-8")
        _pack_length(out, len(data), 0xA0, 31, (0xD9, 0xDA, 0xDB), "str")
        out += data
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        data = memoryview(obj).cast("B") if isinstance(obj, memoryview) else obj
        _pack_length(out, len(data), None, 0, (0xC4, 0xC5, 0xC6), "bin")
        out += data
    elif isinstance(obj, (list, tuple)):
        _pack_length(out, len(obj), 0x90, 15, (None, 0xDC, 0xDD), "array")
        for item in obj:
            _pack_into(out, item, single_float, depth + 1)
    elif isinstance(obj, dict):
        _pack_length(out, len(obj), 0x80, 15, (None, 0xDE, 0xDF), "map")
        for key, value in obj.items():
            _pack_into(out, key, single_float, depth + 1)
            _pack_into(out, value, single_float, depth + 1)
    else:
        raise MsgpackError(f"cannot encode {type(obj).__name__} (supported: None, bool, int, float, "
                           "str, bytes, list/tuple, dict)")


def _pack_int(out: bytearray, n: int) -> None:
    if 0 <= n <= 0x7F:
        out.append(n)
    elif -32 <= n < 0:
        out.append(n & 0xFF)
    elif n > 0:
        for marker, fmt, top in ((0xCC, _U8, 0xFF), (0xCD, _U16, 0xFFFF), (0xCE, _U32, 0xFFFFFFFF),
                                 (0xCF, _U64, 0xFFFFFFFFFFFFFFFF)):
            if n <= top:
                out.append(marker)
                out += fmt.pack(n)
                return
        raise MsgpackError(f"integer {n} does not fit in 64 bits")
    else:
        for marker, fmt, bottom in ((0xD0, _I8, -0x80), (0xD1, _I16, -0x8000), (0xD2, _I32, -0x80000000),
                                    (0xD3, _I64, -0x8000000000000000)):
            if n >= bottom:
                out.append(marker)
                out += fmt.pack(n)
                return
        raise MsgpackError(f"integer {n} does not fit in 64 bits")


def _pack_length(out: bytearray, n: int, fix_base: Any, fix_max: int, markers: Tuple[Any, Any, Any],
                 kind: str) -> None:
    """Write a container/string header: fix form, then 8-, 16- and 32-bit length forms."""
    if fix_base is not None and n <= fix_max:
        out.append(fix_base | n)
        return
    for marker, fmt, top in zip(markers, (_U8, _U16, _U32), (0xFF, 0xFFFF, 0xFFFFFFFF)):
        if marker is not None and n <= top:
            out.append(marker)
            out += fmt.pack(n)
            return
    raise MsgpackError(f"{kind} of length {n} is longer than msgpack allows (2**32 - 1)")


def unpack(data: Any) -> Any:
    """Decode exactly one object that must fill `data` (bytes-like) completely."""
    try:
        view = memoryview(data).cast("B")
    except TypeError:
        raise MsgpackError(f"cannot decode {type(data).__name__}: not a bytes-like object") from None
    if len(view) == 0:
        raise MsgpackError("empty input: no msgpack object")
    reader = _Reader(view)
    obj = reader.read_object(0)
    if reader.pos != len(view):
        raise MsgpackError(f"{len(view) - reader.pos} trailing byte(s) after the msgpack object "
                           f"(ends at offset {reader.pos})")
    return obj


class _Reader:
    """Cursor over the input; every read checks the remaining length first."""

    def __init__(self, view: memoryview) -> None:
        self.view = view
        self.pos = 0

    def take(self, n: int, what: str) -> memoryview:
        end = self.pos + n
        if end > len(self.view):
            raise MsgpackError(f"truncated input: {what} needs {n} byte(s) at offset {self.pos}, "
                               f"only {len(self.view) - self.pos} left")
        chunk = self.view[self.pos:end]
        self.pos = end
        return chunk

    def unpack_struct(self, fmt: struct.Struct, what: str) -> Any:
        return fmt.unpack(self.take(fmt.size, what))[0]

    def read_object(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise MsgpackError(f"input nests deeper than {MAX_DEPTH} levels")
        offset = self.pos
        marker = self.take(1, "a type byte")[0]
        if marker <= 0x7F:
            return marker
        if marker >= 0xE0:
            return marker - 0x100
        if 0x80 <= marker <= 0x8F:
            return self.read_map(marker & 0x0F, depth)
        if 0x90 <= marker <= 0x9F:
            return self.read_array(marker & 0x0F, depth)
        if 0xA0 <= marker <= 0xBF:
            return self.read_str(marker & 0x1F)
        handler = _HANDLERS.get(marker)
        if handler is None:
            kind = "ext types are not used by the protocol" if marker in _EXT_MARKERS else "reserved type byte"
            raise MsgpackError(f"unsupported type byte 0x{marker:02x} at offset {offset} ({kind})")
        return handler(self, depth)

    def read_str(self, n: int) -> str:
        raw = self.take(n, "a str body")
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as exc:
            raise MsgpackError(f"str at offset {self.pos - n} is not valid UTF-8 ({exc.reason})") from None

    def read_bin(self, n: int) -> bytes:
        return bytes(self.take(n, "a bin body"))

    def check_count(self, n: int, what: str) -> None:
        # Every element takes at least one byte: refuse absurd counts before looping over them.
        if n > len(self.view) - self.pos:
            raise MsgpackError(f"truncated input: {what} of {n} element(s) at offset {self.pos} "
                               f"but only {len(self.view) - self.pos} byte(s) left")

    def read_array(self, n: int, depth: int) -> List[Any]:
        self.check_count(n, "array")
        return [self.read_object(depth + 1) for _ in range(n)]

    def read_map(self, n: int, depth: int) -> Dict[Any, Any]:
        self.check_count(2 * n, "map")
        result: Dict[Any, Any] = {}
        for _ in range(n):
            offset = self.pos
            key = self.read_object(depth + 1)
            try:
                result[key] = self.read_object(depth + 1)
            except TypeError:
                raise MsgpackError(f"map key at offset {offset} is a {type(key).__name__}, "
                                   "which cannot be a dict key") from None
        return result


def _sized(fmt: struct.Struct, read: Callable[[_Reader, int], Any], what: str) -> Callable[[_Reader, int], Any]:
    return lambda r, depth: read(r, r.unpack_struct(fmt, what))


def _container(fmt: struct.Struct, read: Callable[[_Reader, int, int], Any],
               what: str) -> Callable[[_Reader, int], Any]:
    return lambda r, depth: read(r, r.unpack_struct(fmt, what), depth)


def _scalar(fmt: struct.Struct, what: str) -> Callable[[_Reader, int], Any]:
    return lambda r, depth: r.unpack_struct(fmt, what)


def _constant(value: Any) -> Callable[[_Reader, int], Any]:
    return lambda r, depth: value


_HANDLERS: Dict[int, Callable[[_Reader, int], Any]] = {
    0xC0: _constant(None),
    0xC2: _constant(False),
    0xC3: _constant(True),
    0xC4: _sized(_U8, _Reader.read_bin, "a bin8 length"),
    0xC5: _sized(_U16, _Reader.read_bin, "a bin16 length"),
    0xC6: _sized(_U32, _Reader.read_bin, "a bin32 length"),
    0xCA: _scalar(_F32, "a float32"),
    0xCB: _scalar(_F64, "a float64"),
    0xCC: _scalar(_U8, "a uint8"),
    0xCD: _scalar(_U16, "a uint16"),
    0xCE: _scalar(_U32, "a uint32"),
    0xCF: _scalar(_U64, "a uint64"),
    0xD0: _scalar(_I8, "an int8"),
    0xD1: _scalar(_I16, "an int16"),
    0xD2: _scalar(_I32, "an int32"),
    0xD3: _scalar(_I64, "an int64"),
    0xD9: _sized(_U8, _Reader.read_str, "a str8 length"),
    0xDA: _sized(_U16, _Reader.read_str, "a str16 length"),
    0xDB: _sized(_U32, _Reader.read_str, "a str32 length"),
    0xDC: _container(_U16, _Reader.read_array, "an array16 length"),
    0xDD: _container(_U32, _Reader.read_array, "an array32 length"),
    0xDE: _container(_U16, _Reader.read_map, "a map16 length"),
    0xDF: _container(_U32, _Reader.read_map, "a map32 length"),
}
_EXT_MARKERS = frozenset((0xC7, 0xC8, 0xC9, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8))
