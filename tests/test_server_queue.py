"""The worker's queue rules (supersede, pixel hand-over, bounds, cancel, stop), without running the model:
these methods only touch the queue, so the worker thread is never started."""
from __future__ import annotations

import pytest
import zmq

from mam_engine.request import Limits, check_request
from mam_server.image_store import ImageStore
from mam_server.protocol import ImageSpec, MatteMessage, ProtocolError
from mam_server.worker import Job, Worker


def _worker(**limits) -> Worker:
    return Worker(None, ImageStore(1 << 20), zmq.Context.instance(), "inproc://unused", Limits(**limits))


def _job(client: bytes, rid: str, digest: str = "a" * 32, pixels: bytes | None = b"\0" * 400) -> Job:
    spec = ImageSpec(10, 10, "RGBA8", 40, digest)
    request = MatteMessage(rid, spec, check_request(10, 10, box=(0.0, 0.0, 5.0, 5.0)),
                           pixels=None if pixels is None else memoryview(pixels))
    return Job(client, request, pixels_sent=pixels is not None)


def test_newer_request_supersedes_only_the_same_clients_queued_ones():
    w = _worker()
    a1, b1, a2 = _job(b"A", "a1"), _job(b"B", "b1"), _job(b"A", "a2")
    assert w.submit(a1) == [] and w.submit(b1) == []
    assert w.submit(a2) == [a1]
    assert w.counts() == {"queued": 2, "running": 0}


def test_digest_only_successor_takes_over_the_superseded_pixels():
    w = _worker()
    first = _job(b"A", "1")
    w.submit(first)
    follow = _job(b"A", "2", pixels=None)
    assert w.will_have_image(follow.request.image.key)
    w.submit(follow)
    assert follow.request.pixels is not None and bytes(follow.request.pixels) == b"\0" * 400
    other_image = _job(b"A", "3", digest="b" * 32, pixels=None)
    w.submit(other_image)
    assert other_image.request.pixels is None  # pixels of another image are never handed over


def test_queue_bounds_by_count_and_by_bytes():
    w = _worker(max_queue=2)
    w.submit(_job(b"A", "1"))
    w.submit(_job(b"B", "1"))
    with pytest.raises(ProtocolError) as err:
        w.submit(_job(b"C", "1"))
    assert err.value.code == "queue_full" and "max_queue is 2" in err.value.message
    assert len(w.submit(_job(b"A", "2"))) == 1  # replacing one's own queued request always fits
    w = _worker(max_queued_bytes=1000)
    w.submit(_job(b"A", "1", pixels=b"\0" * 2000))  # alone in the queue: accepted whatever its size
    with pytest.raises(ProtocolError) as err:
        w.submit(_job(b"B", "1", pixels=b"\0" * 10))
    assert err.value.code == "queue_full" and "max_queued_bytes 1000" in err.value.message


def test_cancel_is_scoped_to_the_client_and_stop_hands_back_the_queue():
    w = _worker()
    job = _job(b"A", "x")
    w.submit(job)
    assert w.cancel(b"B", "x") == ("unknown", None)
    assert w.cancel(b"A", "x") == ("queued", job)
    assert w.counts()["queued"] == 0
    w.submit(_job(b"A", "y"))
    dropped = w.stop()
    assert [j.request.id for j in dropped] == ["y"]
    with pytest.raises(ProtocolError) as err:
        w.submit(_job(b"A", "z"))
    assert err.value.code == "shutting_down"
