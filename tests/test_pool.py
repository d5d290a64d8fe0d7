"""The studio pool as artists meet it: a real `mam-server --ray` front (a process, real sockets) over a real Ray
Serve deployment of 2 replicas on a loopback Ray head started here, against the plain single daemon."""
from __future__ import annotations

import os
import re
import signal
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest

from support.daemon_harness import WireClient, alpha_array, real_photo, running_daemon
from support.ray_cluster import ray_head


@contextmanager
def one_thread_daemon():
    """The plain daemon with one CPU thread, as each pool replica has (CPU float results depend on the count)."""
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        with running_daemon() as d:
            yield d
    finally:
        if old is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = old


@pytest.fixture(scope="module")
def pool():
    with ray_head(num_cpus=4) as cluster, running_daemon("--ray", cluster.address, "--replicas", "2") as front:
        yield front


def images() -> list[np.ndarray]:
    """Six small crops of real photos, each a distinct image (distinct digests)."""
    out = []
    for name in ("GT01.png", "GT02.png", "GT04.png"):
        photo = real_photo(name)[::3, ::3]
        h, w = photo.shape[:2]
        out += [np.ascontiguousarray(photo[: h * 3 // 4, : w * 3 // 4]), np.ascontiguousarray(photo[h // 4:, w // 4:])]
    return out


def prompts(image: np.ndarray) -> list[dict]:
    h, w = image.shape[:2]
    return [{"box": [w * 0.2, h * 0.2, w * 0.8, h * 0.9]}, {"points": [[w / 2, h / 2, 1], [2, 2, 0]]},
            {"box": [w * 0.1, h * 0.3, w * 0.6, h * 0.95], "points": [[w * 0.4, h * 0.5]]}]


def artist(endpoint: str, mine: list[tuple[int, np.ndarray]], results: dict, errors: list) -> None:
    """One client: each of its images prompted three times, the images interleaved, each prompt after the last
    answer; pixels only with an image's first prompt."""
    try:
        with WireClient(endpoint) as c:
            for round_ in range(3):
                for index, image in mine:
                    rid = f"{index}-{round_}"
                    c.matte(rid, image, prompt=prompts(image)[round_], send_pixels=round_ == 0)
                    reply = c.wait_for(rid, timeout=300)
                    assert reply.type == "result", reply.header
                    results[(index, round_)] = (alpha_array(reply), reply.header["timings"])
    except BaseException as exc:  # reported by the test thread
        errors.append(exc)


def test_hello_reports_the_pool(pool):
    with WireClient(pool.endpoint) as c:
        hello = c.hello().header
    assert hello["pool"]["replicas"] == 2 and hello["pool"]["devices"] == ["cpu", "cpu"]
    assert hello["model"]["backend"] == "mam" and hello["model"]["random_weights"] is True
    assert hello["protocol"] == 1 and hello["auth"] == "none"  # the same front


def test_three_artists_get_the_single_daemons_mattes_and_reprompts_reuse_the_embedding(pool):
    pictures = images()
    results: dict = {}
    errors: list = []
    threads = [threading.Thread(target=artist, args=(pool.endpoint, [(i, pictures[i]) for i in (c, c + 3)],
                                                     results, errors)) for c in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 18
    # Affinity: every re-prompt ran where the image's embedding was (no `encode`), across 3 clients and 2 replicas.
    assert [k for k, (_, timings) in results.items() if k[1] > 0 and "encode" in timings] == []
    assert all("encode" in results[(i, 0)][1] for i in range(6))
    used = set(re.findall(r"event=pool_running key=\S+ replica_pid=(\d+)", pool.log()))
    assert len(used) == 2, "both replicas should have served"
    with one_thread_daemon() as single, WireClient(single.endpoint) as c:
        for (index, round_), (alpha, _) in sorted(results.items()):
            rid = f"{index}-{round_}"
            c.matte(rid, pictures[index], prompt=prompts(pictures[index])[round_])
            reply = c.wait_for(rid, timeout=300)
            assert reply.type == "result", reply.header
            assert np.array_equal(alpha_array(reply), alpha), f"image {index}, prompt {round_} differs"


def test_cancel_keeps_its_meaning(pool):
    image = images()[0][:-7]
    with WireClient(pool.endpoint) as c:
        c.matte("long", image)
        reply_stage = None
        while reply_stage != "start":
            header, _ = c.recv(120)
            assert header["id"] == "long" and header["type"] == "progress", header
            reply_stage = header["stage"]
        c.send({"id": "c", "type": "cancel", "target": "long"})
        assert c.wait_for("c").header["state"] == "running"
        assert c.wait_for("long").header["code"] == "cancelled"
        c.matte("after", image, send_pixels=False)
        assert c.wait_for("after").type == "result"


def test_a_replica_killed_mid_request_costs_that_request_a_coded_error_and_the_pool_serves_the_next(pool):
    image = np.ascontiguousarray(images()[1][:-5, :-3])
    with WireClient(pool.endpoint) as c:
        c.matte("doomed", image)
        deadline = time.monotonic() + 120
        pid = None
        while pid is None and time.monotonic() < deadline:
            found = re.findall(r"event=pool_running key=(\S+) replica_pid=(\d+)", pool.log())
            pid = next((int(p) for key, p in found if key.startswith(_digest_of(image))), None)
            time.sleep(0.02)
        assert pid is not None, pool.log()[-3000:]
        os.kill(pid, signal.SIGKILL)
        reply = c.wait_for("doomed", timeout=120)
        assert reply.type == "error" and reply.header["code"] == "replica_lost", reply.header
        assert "replica" in reply.header["message"] and "died" in reply.header["message"]
        c.matte("next", image)
        after = c.wait_for("next", timeout=300)
        assert after.type == "result", after.header
        c.send({"id": "s", "type": "status"})
        assert c.wait_for("s").type == "status"  # the front itself never stopped


def _digest_of(image: np.ndarray) -> str:
    from support.daemon_harness import digest, rgba8

    return digest(rgba8(image))
