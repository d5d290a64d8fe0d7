"""Weights cache and downloader against a real local HTTP server (http.server in a thread)."""

from __future__ import annotations

import hashlib
import random
import re
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mam_engine.weights import catalog as w
from mam_engine.weights import cli as weights_cli

REPO = Path(__file__).resolve().parents[1]
SAM_PAYLOAD = random.Random(0).randbytes(300_000)
M2M_PAYLOAD = random.Random(1).randbytes(120_000)


class _Handler(BaseHTTPRequestHandler):
    """Serves `server.files`; honours Range only when `server.honor_range`; `server.cut_after` drops the
    connection after that many body bytes while announcing the full length."""

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        if self.path in srv.redirects:
            self.send_response(302)
            self.send_header("Location", srv.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted and srv.honor_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.cut_after is not None:
            body = body[:srv.cut_after]
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files = {"/sam.pth": SAM_PAYLOAD, "/m2m.pth": M2M_PAYLOAD}
    srv.redirects = {"/moved/sam.pth": "/sam.pth"}
    srv.requests = []
    srv.honor_range = True
    srv.cut_after = None
    srv.url = lambda path: f"http://127.0.0.1:{srv.server_address[1]}{path}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _entry(url: str, payload: bytes = SAM_PAYLOAD, *, name: str = "tiny_sam_vit_b.pth", kind: str = "sam",
           sha256: str | None = "auto", size: int | None = -1) -> w.Checkpoint:
    return w.Checkpoint(
        name=name, kind=kind, model_type="vit_b", urls=(url,),
        sha256=hashlib.sha256(payload).hexdigest() if sha256 == "auto" else sha256,
        size=len(payload) if size == -1 else size,
        manual_url="https://example.invalid/manual-page", note="test file")


def _part(tmp_path: Path, entry: w.Checkpoint) -> Path:
    return tmp_path / (entry.name + w.PART_SUFFIX)


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# --- downloader -------------------------------------------------------------------------------------------------

def test_full_download_is_verified_and_moved_into_place(server, tmp_path):
    entry = _entry(server.url("/sam.pth"))
    path = w.download(entry, tmp_path, progress=False)
    assert path == tmp_path / entry.name
    assert path.read_bytes() == SAM_PAYLOAD
    assert not _part(tmp_path, entry).exists()
    assert server.requests == [("/sam.pth", None)]
    digest = w.file_sha256(path)
    assert SHA256_HEX.fullmatch(digest) and digest == hashlib.sha256(SAM_PAYLOAD).hexdigest() == entry.sha256
    assert w.verify(entry, path) is None


def test_resume_from_partial_sends_range_and_completes(server, tmp_path):
    entry = _entry(server.url("/sam.pth"))
    _part(tmp_path, entry).write_bytes(SAM_PAYLOAD[:1234])
    path = w.download(entry, tmp_path, progress=False)
    assert server.requests == [("/sam.pth", "bytes=1234-")]
    assert path.read_bytes() == SAM_PAYLOAD


def test_server_ignoring_range_restarts_from_scratch(server, tmp_path):
    server.honor_range = False
    entry = _entry(server.url("/sam.pth"))
    _part(tmp_path, entry).write_bytes(b"x" * 5000)  # wrong bytes: appending the full body would fail the hash
    path = w.download(entry, tmp_path, progress=False)
    assert server.requests == [("/sam.pth", "bytes=5000-")]
    assert path.read_bytes() == SAM_PAYLOAD


def test_dropped_connection_keeps_partial_and_next_run_resumes(server, tmp_path):
    entry = _entry(server.url("/sam.pth"))
    server.cut_after = 100_000
    with pytest.raises(w.DownloadError) as err:
        w.download(entry, tmp_path, progress=False)
    part = _part(tmp_path, entry)
    assert part.stat().st_size == 100_000
    assert "resume" in str(err.value) and str(part) in str(err.value)
    assert not (tmp_path / entry.name).exists()
    server.cut_after = None
    path = w.download(entry, tmp_path, progress=False)
    assert server.requests[-1] == ("/sam.pth", "bytes=100000-")
    assert path.read_bytes() == SAM_PAYLOAD


def test_bad_hash_deletes_everything_and_says_so(server, tmp_path):
    entry = _entry(server.url("/sam.pth"), sha256="0" * 64)
    with pytest.raises(w.ChecksumError) as err:
        w.download(entry, tmp_path, progress=False)
    message = str(err.value)
    assert entry.name in message and "sha256" in message and "deleted" in message
    assert list(tmp_path.iterdir()) == []


def test_wrong_size_is_rejected_even_with_matching_hash(server, tmp_path):
    entry = _entry(server.url("/sam.pth"), size=len(SAM_PAYLOAD) + 1)
    with pytest.raises(w.ChecksumError, match="bytes instead of"):
        w.download(entry, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unknown_size_follows_redirect_and_resumes_through_it(server, tmp_path):
    entry = _entry(server.url("/moved/sam.pth"), size=None)
    _part(tmp_path, entry).write_bytes(SAM_PAYLOAD[:777])
    path = w.download(entry, tmp_path, progress=False)
    assert server.requests == [("/moved/sam.pth", "bytes=777-"), ("/sam.pth", "bytes=777-")]
    assert path.read_bytes() == SAM_PAYLOAD


def test_complete_partial_of_unknown_size_gets_416_and_restarts(server, tmp_path):
    entry = _entry(server.url("/sam.pth"), size=None)
    _part(tmp_path, entry).write_bytes(SAM_PAYLOAD + b"extra")
    path = w.download(entry, tmp_path, progress=False)
    assert server.requests == [("/sam.pth", f"bytes={len(SAM_PAYLOAD) + 5}-"), ("/sam.pth", None)]
    assert path.read_bytes() == SAM_PAYLOAD


def test_present_verified_file_is_not_fetched_again(server, tmp_path):
    entry = _entry(server.url("/sam.pth"))
    (tmp_path / entry.name).write_bytes(SAM_PAYLOAD)
    w.download(entry, tmp_path, progress=False)
    assert server.requests == []


def test_present_corrupt_file_is_replaced(server, tmp_path):
    entry = _entry(server.url("/sam.pth"))
    (tmp_path / entry.name).write_bytes(b"\0" * len(SAM_PAYLOAD))
    path = w.download(entry, tmp_path, progress=False)
    assert path.read_bytes() == SAM_PAYLOAD


def test_http_error_names_status_and_manual_placement(server, tmp_path):
    entry = _entry(server.url("/missing.pth"))
    with pytest.raises(w.DownloadError) as err:
        w.download(entry, tmp_path, progress=False)
    assert "HTTP 404" in str(err.value) and str(tmp_path / entry.name) in str(err.value)


def test_second_source_is_used_when_the_first_fails(server, tmp_path):
    entry = _entry(server.url("/sam.pth"))
    entry = w.Checkpoint(**{**entry.__dict__, "urls": (f"http://127.0.0.1:{_closed_port()}/x", entry.urls[0])})
    assert w.download(entry, tmp_path, progress=False).read_bytes() == SAM_PAYLOAD


@pytest.mark.timeout(30)
def test_unreachable_host_fails_at_once_with_clear_message(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/sam.pth"
    entry = _entry(url)
    with pytest.raises(w.DownloadError) as err:
        w.download(entry, tmp_path, progress=False, timeout=2)
    message = str(err.value)
    assert entry.name in message and url in message and str(tmp_path / entry.name) in message
    assert "cannot reach" in message


@pytest.mark.timeout(30)
def test_silent_server_times_out(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the TCP handshake, never answers
    try:
        entry = _entry(f"http://127.0.0.1:{listener.getsockname()[1]}/sam.pth")
        with pytest.raises(w.DownloadError, match="cannot reach"):
            w.download(entry, tmp_path, progress=False, timeout=0.5)
    finally:
        listener.close()


def test_manual_only_entry_says_where_to_get_it(tmp_path):
    entry = w.get_entry("mam_vitl")
    with pytest.raises(w.DownloadError) as err:
        w.download(entry, tmp_path, progress=False)
    assert entry.manual_url in str(err.value) and str(tmp_path / "mam_vitl.pth") in str(err.value)
    (tmp_path / "mam_vitl.pth").write_bytes(b"placed by hand")
    assert w.download(entry, tmp_path, progress=False) == tmp_path / "mam_vitl.pth"


# --- cache folder and lookup ------------------------------------------------------------------------------------

def test_weights_dir_override_and_platform_defaults(tmp_path):
    assert w.weights_dir({w.ENV_VAR: str(tmp_path)}) == tmp_path
    home = {"HOME": "/home/u"}
    assert w.default_weights_dir("linux", home) == Path("/home/u/.cache/mam-weights")
    assert w.default_weights_dir("linux", {**home, "XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/mam-weights")
    assert w.default_weights_dir("darwin", home) == Path("/home/u/Library/Caches/mam-weights")
    assert w.default_weights_dir("win32", {"USERPROFILE": "C:/Users/u", "LOCALAPPDATA": "D:/L"}) == \
        Path("D:/L/mam-weights")


SHA256_HEX = re.compile(r"[0-9a-f]{64}")  # what hashlib's hexdigest() gives, so a string comparison can match


def _registry_problems(registry) -> list[str]:
    problems = []
    names = [e.name for e in registry]
    if len(names) != len(set(names)):
        problems.append("duplicate names")
    for entry in registry:
        if entry.kind not in w.KINDS or entry.model_type not in w.MODEL_TYPES:
            problems.append(f"{entry.name}: kind/model_type")
        if entry.sha256 is not None and not SHA256_HEX.fullmatch(entry.sha256):
            problems.append(f"{entry.name}: sha256 {entry.sha256!r} is not 64 lowercase hex characters")
        if not all(url.startswith("https://") for url in entry.urls):
            problems.append(f"{entry.name}: non-https url")
    return problems


def test_registry_check_catches_malformed_hashes():
    """The registry check must be able to fail: each of these passed the old `int(sha, 16) >= 0` check."""
    good = hashlib.sha256(b"x").hexdigest()
    assert _registry_problems([_entry("https://h/x", sha256=good)]) == []
    for bad in (good.upper(), "0x" + good[2:], " " + good[1:], good[:32] + "_" + good[33:]):
        assert len(bad) == 64 and int(bad, 16) >= 0
        assert _registry_problems([_entry("https://h/x", sha256=bad)]), bad


def test_registry_is_consistent():
    assert _registry_problems(w.REGISTRY) == []
    for model_type in w.MODEL_TYPES:
        assert w.candidates("sam", model_type) and w.candidates("m2m", model_type)


def test_find_checkpoint_missing_sam_message(tmp_path):
    with pytest.raises(w.MissingWeightsError) as err:
        w.find_checkpoint("sam", "vit_b", root=tmp_path)
    assert isinstance(err.value, FileNotFoundError)
    message = str(err.value)
    assert str(tmp_path / "sam_vit_b_01ec64.pth") in message
    assert "mam-weights download sam_vit_b_01ec64.pth" in message
    assert "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth" in message


def test_find_checkpoint_missing_m2m_lists_manual_and_downloadable_options(tmp_path):
    message = str(pytest.raises(w.MissingWeightsError, w.find_checkpoint, "m2m", "vit_b", root=tmp_path).value)
    assert str(tmp_path / "mam_vitb.pth") in message and w.get_entry("mam_vitb").manual_url in message
    assert "mam-weights download mam_sam_vitb.pth" in message
    message = str(pytest.raises(w.MissingWeightsError, w.find_checkpoint, "m2m", "vit_h", root=tmp_path).value)
    assert str(tmp_path / "mam_vith.pth") in message and "mam-weights download" not in message


def test_find_checkpoint_prefers_per_size_m2m_and_falls_back_to_all_in_one(tmp_path):
    (tmp_path / "mam_sam_vitb.pth").write_bytes(b"old")
    assert w.find_checkpoint("m2m", "vit_b", root=tmp_path) == tmp_path / "mam_sam_vitb.pth"
    (tmp_path / "mam_vitb.pth").write_bytes(b"new")
    assert w.find_checkpoint("m2m", "vit_b", root=tmp_path) == tmp_path / "mam_vitb.pth"


def test_find_checkpoint_uses_env_and_rejects_truncated_copy(tmp_path, monkeypatch):
    monkeypatch.setenv(w.ENV_VAR, str(tmp_path))
    entry = _entry("https://example.invalid/sam.pth")
    (tmp_path / entry.name).write_bytes(SAM_PAYLOAD)
    assert w.find_checkpoint("sam", "vit_b", registry=[entry]) == tmp_path / entry.name
    (tmp_path / entry.name).write_bytes(SAM_PAYLOAD[:10])
    with pytest.raises(w.WeightsError, match="truncated"):
        w.find_checkpoint("sam", "vit_b", registry=[entry])


def test_find_checkpoint_rejects_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match="model_type"):
        w.find_checkpoint("sam", "vit_x", root=tmp_path)


# --- command line -----------------------------------------------------------------------------------------------

def _cli_registry(server) -> list[w.Checkpoint]:
    return [_entry(server.url("/sam.pth")),
            _entry(server.url("/m2m.pth"), M2M_PAYLOAD, name="tiny_m2m_vit_b.pth", kind="m2m")]


def test_cli_download_model_type_then_list_and_check(server, tmp_path, capsys):
    registry = _cli_registry(server)
    assert weights_cli.main(["--dir", str(tmp_path), "-q", "download", "vit_b"], registry) == 0
    assert (tmp_path / "tiny_sam_vit_b.pth").read_bytes() == SAM_PAYLOAD
    assert (tmp_path / "tiny_m2m_vit_b.pth").read_bytes() == M2M_PAYLOAD
    capsys.readouterr()
    assert weights_cli.main(["--dir", str(tmp_path), "list"], registry) == 0
    listing = capsys.readouterr().out
    assert listing.count("present") == 2 and "300.0 KB" in listing
    assert weights_cli.main(["--dir", str(tmp_path), "-q", "check"], registry) == 0
    assert capsys.readouterr().out.count("OK   ") == 2


def test_cli_model_type_skips_sam_when_the_m2m_file_carries_it(server, tmp_path):
    sam, m2m = _cli_registry(server)
    all_in_one = w.Checkpoint(**{**m2m.__dict__, "bundles_sam": True})
    assert weights_cli.main(["--dir", str(tmp_path), "-q", "download", "vit_b"], [sam, all_in_one]) == 0
    assert server.requests == [("/m2m.pth", None)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny_m2m_vit_b.pth"]


def test_cli_check_fails_on_corrupt_file(server, tmp_path, capsys):
    registry = _cli_registry(server)
    (tmp_path / "tiny_m2m_vit_b.pth").write_bytes(b"\1" * len(M2M_PAYLOAD))
    assert weights_cli.main(["--dir", str(tmp_path), "-q", "check"], registry) == 1
    assert "BAD  tiny_m2m_vit_b.pth" in capsys.readouterr().out


def test_cli_list_shows_missing_and_partial(server, tmp_path, capsys):
    registry = _cli_registry(server)
    (tmp_path / ("tiny_sam_vit_b.pth" + w.PART_SUFFIX)).write_bytes(b"x" * 2000)
    assert weights_cli.main(["--dir", str(tmp_path), "list"], registry) == 0
    out = capsys.readouterr().out
    assert "partial (2.0 KB)" in out and "missing" in out


def test_cli_download_failure_and_usage_exit_codes(tmp_path, capsys):
    registry = [_entry(f"http://127.0.0.1:{_closed_port()}/sam.pth")]
    assert weights_cli.main(["--dir", str(tmp_path), "-q", "download", "all", "--timeout", "2"], registry) == 1
    assert "cannot reach" in capsys.readouterr().err
    assert weights_cli.main(["--dir", str(tmp_path), "download", "no_such_file"], registry) == 2
    assert "unknown checkpoint" in capsys.readouterr().err
    assert weights_cli.main(["frobnicate"], registry) == 2
    assert weights_cli.main([], registry) == 2


def test_cli_module_runs_as_a_script(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mam_engine.weights.cli", "path"], cwd=REPO, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", w.ENV_VAR: str(tmp_path)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path)
