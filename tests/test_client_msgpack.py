"""The plugins' stdlib msgpack codec against the reference `msgpack` package, both directions."""
from __future__ import annotations

import math
import random
import struct

import msgpack
import pytest

from plugins.mam_client.msgpack_lite import MAX_DEPTH, MsgpackError, pack, unpack

BOUNDARY_INTS = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
                 -1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769, -2**31 + 1, -2**31, -2**31 - 1,
                 -2**63 + 1, -2**63]
LENGTHS = [0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536]
FLOATS = [0.0, -0.0, 1.5, -2.25, 1e300, -1e-300, 5e-324, float("inf"), float("-inf"), 0.1]


def samples():
    """Every type and every length/size class the codec distinguishes."""
    values = [None, True, False, *BOUNDARY_INTS, *FLOATS]
    for n in LENGTHS:
        values += ["x" * n, "é" * n, b"\x00\xff" * (n // 2) + b"z" * (n % 2), list(range(n)),
                   {f"k{i}": i for i in range(n)}]
    values += [{"v": 1, "id": "abc-1", "type": "matte", "image": {"width": 640, "height": 480, "format": "RGBA8",
                                                                   "stride": 2560, "digest": "0" * 32},
                "prompt": {"box": [1.5, 2, 300, 400.25], "points": [[10, 20, 1], [-3.5, 7, 0]]},
                "options": {"guidance": "alpha", "depth": 16, "crop": False}, "frames": ["pixels", "mask"]},
               [[[[]]]], {1: {2: [None, b""]}}, {-5: "neg key", 2.5: "float key"}, "日本語 ✓"]
    return values


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("value", samples(), ids=lambda v: repr(v)[:40])
def test_encoding_is_byte_identical_to_msgpack(value):
    ours = pack(value)
    assert ours == msgpack.packb(value, use_bin_type=True)
    assert unpack(ours) == value
    assert msgpack.unpackb(ours, raw=False, strict_map_key=False) == value


@pytest.mark.parametrize("value", samples(), ids=lambda v: repr(v)[:40])
def test_decodes_what_msgpack_writes(value):
    assert unpack(msgpack.packb(value, use_bin_type=True)) == value


@pytest.mark.parametrize("value", FLOATS + [float("nan")])
def test_floats_keep_sign_and_nan(value):
    assert _same(unpack(pack(value)), value)
    assert _same(msgpack.unpackb(pack(value)), value)


@pytest.mark.parametrize("value", [0.0, 1.5, -3.25, 1e30, float("inf"), 0.1])
def test_float32_both_directions(value):
    as_f32 = struct.unpack(">f", struct.pack(">f", value))[0]
    assert pack(value, single_float=True) == msgpack.packb(value, use_single_float=True)
    assert unpack(msgpack.packb(value, use_single_float=True)) == as_f32
    assert msgpack.unpackb(pack(value, single_float=True)) == as_f32


def test_tuples_and_buffers_encode_as_array_and_bin():
    assert pack((1, 2)) == pack([1, 2])
    assert unpack(pack(bytearray(b"ab"))) == b"ab"
    assert unpack(pack(memoryview(b"abc")[1:])) == b"bc"
    assert unpack(pack(memoryview(bytes(range(12))).cast("I"))) == bytes(range(12))


@pytest.mark.parametrize("encoded,value", [
    (b"\xcc\x05", 5), (b"\xcd\x00\x05", 5), (b"\xce\x00\x00\x00\x05", 5), (b"\xcf" + b"\x00" * 7 + b"\x05", 5),
    (b"\xd0\x05", 5), (b"\xd1\xff\xfb", -5), (b"\xd2\xff\xff\xff\xfb", -5), (b"\xd3" + b"\xff" * 7 + b"\xfb", -5),
    (b"\xd9\x01a", "a"), (b"\xda\x00\x01a", "a"), (b"\xdb\x00\x00\x00\x01a", "a"),
    (b"\xc5\x00\x01a", b"a"), (b"\xc6\x00\x00\x00\x01a", b"a"),
    (b"\xdc\x00\x01\x01", [1]), (b"\xdd\x00\x00\x00\x01\x01", [1]),
    (b"\xde\x00\x01\x01\x02", {1: 2}), (b"\xdf\x00\x00\x00\x01\x01\x02", {1: 2}),
])
def test_accepts_non_minimal_forms(encoded, value):
    assert msgpack.unpackb(encoded, strict_map_key=False) == value  # the reference agrees these are valid
    assert unpack(encoded) == value


@pytest.mark.parametrize("value", [2**64, -2**63 - 1, {1, 2}, object(), 1j, [1, {"a": set()}]],
                         ids=["too-big", "too-small", "set", "object", "complex", "nested-set"])
def test_unencodable_values_are_refused(value):
    with pytest.raises(MsgpackError, match="cannot encode|does not fit"):
        pack(value)


def test_every_truncation_is_an_error():
    encoded = pack(samples()[-5])  # the matte header: maps, arrays, strs, ints, floats, bools
    for cut in range(len(encoded)):
        with pytest.raises(MsgpackError, match="truncated|empty"):
            unpack(encoded[:cut])


@pytest.mark.parametrize("data,message", [
    (b"", "empty input"),
    (b"\x01\x02", "1 trailing byte"),
    (b"\xc1", "type byte 0xc1.*reserved"),
    (b"\xd4\x01\x02", "ext types"),
    (b"\xc7\x01\x01\x02", "ext types"),
    (b"\xa2\xff\xfe", "not valid UTF-8"),
    (b"\x81\x91\x01\x02", "map key .* list"),
    (b"\x81\x80\x01", "map key .* dict"),
    (b"\xdd\xff\xff\xff\xff", "array of 4294967295"),
    (b"\xdf\xff\xff\xff\xff\x01", "map of"),
    (b"\xdb\xff\xff\xff\xff", "truncated"),
    (b"\xc6\x00\x01\x00\x00", "truncated"),
])
def test_invalid_input_names_the_problem(data, message):
    with pytest.raises(MsgpackError, match=message):
        unpack(data)


def test_rejects_non_bytes_input():
    with pytest.raises(MsgpackError, match="not a bytes-like"):
        unpack("text")


def test_nesting_is_bounded_both_ways():
    deep = b"\x91" * (MAX_DEPTH + 5) + b"\xc0"
    with pytest.raises(MsgpackError, match="deeper"):
        unpack(deep)
    value = None
    for _ in range(MAX_DEPTH + 5):
        value = [value]
    with pytest.raises(MsgpackError, match="deeper"):
        pack(value)
    shallow = b"\x91" * (MAX_DEPTH - 1) + b"\xc0"
    assert unpack(shallow) == msgpack.unpackb(shallow)


def test_random_bytes_fail_cleanly_or_agree_with_msgpack():
    """Garbage (random bytes, or a real header with bytes overwritten) either decodes to what the
    reference decodes, or raises MsgpackError — nothing else."""
    rng = random.Random(1234)
    header = bytearray(pack(samples()[-5]))
    agreed = refused = 0
    for i in range(3000):
        if i % 2:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 24)))
        else:
            data = bytearray(header)
            for _ in range(rng.randrange(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            ours = unpack(data)
        except MsgpackError:
            refused += 1
            continue
        # compared re-encoded, so NaNs (never == themselves) and str/bin, int/float types count too
        assert pack(ours) == pack(msgpack.unpackb(data, raw=False, strict_map_key=False))
        agreed += 1
    assert agreed > 100 and refused > 100  # both branches were really exercised
