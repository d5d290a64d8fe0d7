"""Known checkpoints, the per-user weights cache, and a resumable, verified downloader.

Why this exists: the engine has to find the official SAM and MAM files without the user editing paths, and a
multi-gigabyte download has to survive a dropped connection without ever leaving a truncated or wrong file where the
engine would load it. Everything here is the standard library plus tqdm for the progress bar.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from tqdm import tqdm

KINDS = ("sam", "m2m")
MODEL_TYPES = ("vit_b", "vit_l", "vit_h")
ENV_VAR = "MAM_WEIGHTS_DIR"
PART_SUFFIX = ".part"
DEFAULT_TIMEOUT = 10.0
_CHUNK = 1 << 20
_USER_AGENT = "mam-weights/0.1 (+urllib)"

_SAM_BASE = "https://dl.fbaipublicfiles.com/segment_anything/"
_SAM_PAGE = "https://github.com/facebookresearch/segment-anything#model-checkpoints"
# The per-size M2M files are published only in this Google Drive folder (SHI-Labs/Matting-Anything INSTALL.md).
# Drive folders have no stable direct-download URL, so these files are placed by hand.
_MAM_DRIVE_FOLDER = "https://drive.google.com/drive/folders/1Bor2jRE0U-U6PIYaCm6SZY7qu_c1GYfq"
_MAM_HF_REPO = "https://huggingface.co/shi-labs/Matting-Anything"


class MissingWeightsError(FileNotFoundError):
    """A needed checkpoint is not in the cache; the message says which file to put where and how to get it."""


class WeightsError(Exception):
    """A checkpoint could not be obtained or is not the expected file."""


class DownloadError(WeightsError):
    """The transfer failed (host unreachable, HTTP error, connection dropped)."""


class ChecksumError(DownloadError):
    """The bytes arrived but are not the published file (wrong sha256 or size)."""


@dataclass(frozen=True)
class Checkpoint:
    """One known checkpoint file. `size` is the exact byte count when it is published, else None;
    `bundles_sam` marks an M2M file that also carries its SAM weights (the engine then needs no SAM file)."""

    name: str
    kind: str
    model_type: str
    urls: tuple[str, ...]
    sha256: str | None
    size: int | None
    manual_url: str
    note: str = ""
    bundles_sam: bool = False
    approx_size: int | None = None   # what the publisher's page says when no exact byte count is published

    @property
    def stem(self) -> str:
        return self.name.removesuffix(".pth")


# SAM: sha256 and byte sizes are the values published for the official Meta files (identical in many independent
# manifests and Hugging Face LFS pointers). Note the 6-hex suffix in the file names is NOT a sha256 prefix
# (sam_vit_h_4b8939.pth hashes to a7bf3b...), so torch.hub-style prefix checking would reject the genuine files;
# the full hashes are checked instead.
# MAM: mam_sam_vitb.pth (the first, all-in-one release: SAM ViT-B + M2M) is on Hugging Face; its sha256 is the LFS
# oid shown there. Its exact byte size is not published in what we could consult (the page says "408 MB"), so only
# the hash is checked. mam_vitb/vitl/vith.pth are only in a Google Drive folder: neither hash nor size is published,
# so they are listed as manual downloads and cannot be verified beyond loading them.
REGISTRY: tuple[Checkpoint, ...] = (
    Checkpoint("sam_vit_b_01ec64.pth", "sam", "vit_b", (_SAM_BASE + "sam_vit_b_01ec64.pth",),
               "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", 375042383, _SAM_PAGE,
               "official SAM ViT-B"),
    Checkpoint("sam_vit_l_0b3195.pth", "sam", "vit_l", (_SAM_BASE + "sam_vit_l_0b3195.pth",),
               "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", 1249524607, _SAM_PAGE,
               "official SAM ViT-L"),
    Checkpoint("sam_vit_h_4b8939.pth", "sam", "vit_h", (_SAM_BASE + "sam_vit_h_4b8939.pth",),
               "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", 2564550879, _SAM_PAGE,
               "official SAM ViT-H"),
    Checkpoint("mam_vitb.pth", "m2m", "vit_b", (), None, None, _MAM_DRIVE_FOLDER,
               "MAM M2M trained on SAM ViT-B features"),
    Checkpoint("mam_vitl.pth", "m2m", "vit_l", (), None, None, _MAM_DRIVE_FOLDER,
               "MAM M2M trained on SAM ViT-L features"),
    Checkpoint("mam_vith.pth", "m2m", "vit_h", (), None, None, _MAM_DRIVE_FOLDER,
               "MAM M2M trained on SAM ViT-H features"),
    Checkpoint("mam_sam_vitb.pth", "m2m", "vit_b",
               (_MAM_HF_REPO + "/resolve/main/checkpoints/mam_sam_vitb.pth",
                "https://huggingface.co/camenduru/Matting-Anything/resolve/main/mam_sam_vitb.pth"),
               "b7d0781aa6edeab7b0d8195edf5b894402f9fa5b7220759825ff750c75450f08", None,
               _MAM_HF_REPO + "/blob/main/checkpoints/mam_sam_vitb.pth",
               "older all-in-one MAM (SAM ViT-B + M2M), about 408 MB", bundles_sam=True,
               approx_size=408_000_000),
)


# Text detectors: a transformers model folder (config, safetensors weights, image processor and tokenizer files), kept
# as <weights folder>/<name>/ and fetched file by file from the Hugging Face repository at a pinned commit, so the
# bytes never change under a name. Each file is an ordinary `Checkpoint` named "<name>/<file>", so `mam-weights`
# lists, downloads (resumable, .part, verified) and checks it like the others. Only model.safetensors is stored with
# LFS; its sha256 is the LFS oid the hub shows for that commit (the file's exact byte count is not published on the
# pages we could consult: "689 MB"). The small files are plain git blobs, for which the hub publishes no sha256;
# the pinned commit in the URL fixes their content.
DETECTOR_KIND = "detector"
_GDINO_TINY_REPO = "IDEA-Research/grounding-dino-tiny"
_GDINO_TINY_REVISION = "a2bb814dd30d776dcf7e30523b00659f4f141c71"


@dataclass(frozen=True)
class DetectorWeights:
    """One detector: a folder of files from one Hugging Face repository at one commit."""

    name: str
    repo: str
    revision: str
    files: tuple[Checkpoint, ...]
    licence: str
    note: str

    @property
    def page(self) -> str:
        return f"https://huggingface.co/{self.repo}/tree/{self.revision}"


def _hf_files(name: str, repo: str, revision: str,
              files: Sequence[tuple[str, str | None, int | None]], note: str,
              approx: dict[str, int] | None = None) -> tuple[Checkpoint, ...]:
    return tuple(Checkpoint(f"{name}/{path}", DETECTOR_KIND, name,
                            (f"https://huggingface.co/{repo}/resolve/{revision}/{path}",), sha256, size,
                            f"https://huggingface.co/{repo}/blob/{revision}/{path}", note,
                            approx_size=(approx or {}).get(path))
                 for path, sha256, size in files)


DETECTORS: tuple[DetectorWeights, ...] = (
    DetectorWeights(
        "grounding-dino-tiny", _GDINO_TINY_REPO, _GDINO_TINY_REVISION,
        _hf_files("grounding-dino-tiny", _GDINO_TINY_REPO, _GDINO_TINY_REVISION, (
            ("config.json", None, None),
            ("model.safetensors", "1a2412ef99bd74bcd3c2a246fa1e48581f8889a1300c9051974741314fc042f3", None),
            ("preprocessor_config.json", None, None),
            ("tokenizer.json", None, None),
            ("tokenizer_config.json", None, None),
            ("special_tokens_map.json", None, None),
            ("vocab.txt", None, None),
            ("added_tokens.json", None, None),
        ), "Grounding DINO Swin-T (text prompts), about 689 MB", {"model.safetensors": 689_000_000}),
        "Apache-2.0", "Grounding DINO Swin-T (OGC), the Matting Anything reference's text detector"),
)
DEFAULT_DETECTOR = DETECTORS[0].name
DETECTOR_FILES: tuple[Checkpoint, ...] = tuple(f for d in DETECTORS for f in d.files)
# What a folder must hold to load (the others are optional tokenizer extras).
_DETECTOR_REQUIRED = ("config.json", "model.safetensors", "preprocessor_config.json", "tokenizer_config.json")


def get_detector(name: str) -> DetectorWeights:
    for detector in DETECTORS:
        if detector.name == name:
            return detector
    raise KeyError(f"unknown detector {name!r}; known: {', '.join(d.name for d in DETECTORS)}")


def detector_problem(folder: Path) -> str | None:
    """None when `folder` holds a loadable transformers detector; else which file is missing."""
    missing = [f for f in _DETECTOR_REQUIRED if not (folder / f).is_file()]
    if missing:
        return f"{folder} lacks {', '.join(missing)}"
    if not ((folder / "tokenizer.json").is_file() or (folder / "vocab.txt").is_file()):
        return f"{folder} has neither tokenizer.json nor vocab.txt"
    return None


def find_detector(name: str = DEFAULT_DETECTOR, *, root: Path | str | None = None) -> Path:
    """The folder of detector `name` in the weights folder; MissingWeightsError names the command that fetches it.

    Only presence is checked (a few stat calls, so the daemon can ask on every hello): safetensors refuses a
    truncated file by its own header when it loads, and `mam-weights check` verifies the hash.
    """
    detector = get_detector(name)
    folder = (Path(root) if root is not None else weights_dir()) / detector.name
    problem = detector_problem(folder)
    if problem is None:
        return folder
    raise MissingWeightsError(
        f"No text detector in {folder} ({problem}). Run `mam-weights download {detector.name}` (about 689 MB, "
        f"{detector.licence}) to fetch it from {detector.page}, or copy that folder's files there by hand. "
        f"(Set {ENV_VAR} to keep the weights in another folder.)")


def default_weights_dir(platform: str = sys.platform, env: Mapping[str, str] = os.environ) -> Path:
    """The platform's per-user cache folder for weights (ignores MAM_WEIGHTS_DIR)."""
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform.startswith("win"):
        local = env.get("LOCALAPPDATA")
        return (Path(local) if local else home / "AppData" / "Local") / "mam-weights"
    if platform == "darwin":
        return home / "Library" / "Caches" / "mam-weights"
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else home / ".cache") / "mam-weights"


def weights_dir(env: Mapping[str, str] = os.environ) -> Path:
    """Where checkpoints live: $MAM_WEIGHTS_DIR if set, else the platform default."""
    override = env.get(ENV_VAR)
    return Path(override).expanduser() if override else default_weights_dir(env=env)


def get_entry(name: str, registry: Sequence[Checkpoint] = REGISTRY) -> Checkpoint:
    """Look an entry up by file name, with or without the .pth suffix."""
    for entry in registry:
        if name in (entry.name, entry.stem):
            return entry
    known = ", ".join(e.name for e in registry)
    raise KeyError(f"unknown checkpoint {name!r}; known: {known}")


def candidates(kind: str, model_type: str, registry: Sequence[Checkpoint] = REGISTRY) -> list[Checkpoint]:
    """The registry entries that can serve (kind, model_type), in order of preference."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
    return [e for e in registry if e.kind == kind and e.model_type == model_type]


def find_checkpoint(kind: str, model_type: str, *, registry: Sequence[Checkpoint] = REGISTRY,
                    root: Path | str | None = None) -> Path:
    """Path of the cached checkpoint for (kind, model_type); MissingWeightsError says how to get it when absent.

    Only the size is checked here (cheap, catches truncated copies); `mam-weights check` verifies hashes.
    """
    base = Path(root) if root is not None else weights_dir()
    options = candidates(kind, model_type, registry)
    for entry in options:
        path = base / entry.name
        if path.is_file():
            actual = path.stat().st_size
            if entry.size is not None and actual != entry.size:
                raise WeightsError(
                    f"{path} has {actual} bytes but {entry.name} has {entry.size}: the copy is truncated or a "
                    f"different file. Delete it and run `mam-weights download {entry.name}`.")
            return path
    raise MissingWeightsError(_missing_message(kind, model_type, options, base))


def _missing_message(kind: str, model_type: str, options: Sequence[Checkpoint], base: Path) -> str:
    label = "SAM" if kind == "sam" else "M2M (MAM)"
    if not options:
        return f"No {label} checkpoint for {model_type} is known, so none can be found in {base}."
    lines = [f"No {label} checkpoint for {model_type} in {base}. Put one of these files there:"]
    for entry in options:
        target = base / entry.name
        if entry.urls:
            how = (f"run `mam-weights download {entry.name}`, or download {entry.urls[0]} by hand "
                   f"and save it as {target}")
        else:
            how = (f"no direct link is published: download {entry.name} by hand from {entry.manual_url} "
                   f"and save it as {target}")
        lines.append(f"  - {entry.name} ({entry.note}): {how}")
    lines.append(f"(Set {ENV_VAR} to keep the weights in another folder.)")
    return "\n".join(lines)


def file_sha256(path: Path, progress: bool = False) -> str:
    """sha256 of a file, read in chunks so multi-GB checkpoints do not need the RAM."""
    hasher = hashlib.sha256()
    _hash_into(hasher, path, progress)
    return hasher.hexdigest()


def _hash_into(hasher: hashlib._Hash, path: Path, progress: bool) -> None:
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, unit="B", unit_scale=True, file=sys.stderr,
                                     desc=f"hashing {path.name}", disable=not progress) as bar:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
            bar.update(len(chunk))


def verify(entry: Checkpoint, path: Path, progress: bool = False) -> str | None:
    """None when `path` is the published file; otherwise a sentence saying what is wrong."""
    actual = path.stat().st_size
    if entry.size is not None and actual != entry.size:
        return f"{path} has {actual} bytes, expected {entry.size}"
    if entry.sha256 is not None:
        digest = file_sha256(path, progress)
        if digest != entry.sha256:
            return f"{path} has sha256 {digest}, expected {entry.sha256}"
    return None


def download(entry: Checkpoint, root: Path | str | None = None, *, progress: bool = True,
             timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Fetch `entry` into the cache and return its path; an already present, verified copy is kept.

    Bytes go to `<name>.part` (resumed with an HTTP Range request on the next try), are hashed while they arrive,
    and the file is moved into place with os.replace only once size and sha256 match. `timeout` bounds the connect
    and every read, so an offline machine fails at once instead of hanging.
    """
    base = Path(root) if root is not None else weights_dir()
    final = base / entry.name
    if final.is_file() and verify(entry, final, progress) is None:
        return final
    if not entry.urls:
        raise DownloadError(
            f"{entry.name} has no direct download link. Download it by hand from {entry.manual_url} "
            f"and save it as {final}.")
    final.parent.mkdir(parents=True, exist_ok=True)  # detector files live in a subfolder
    part = final.with_name(final.name + PART_SUFFIX)
    failures: list[DownloadError] = []
    for url in entry.urls:
        try:
            digest, size = _fetch(url, part, entry, timeout, progress)
            _install(entry, part, final, digest, size, url)
            return final
        except DownloadError as exc:
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    raise DownloadError(f"every source for {entry.name} failed:\n" + "\n".join(f"  - {f}" for f in failures))


def _fetch(url: str, part: Path, entry: Checkpoint, timeout: float, progress: bool) -> tuple[str, int]:
    """Complete `part` from `url`; returns (sha256, size) of the whole part file."""
    for _ in range(2):
        offset = part.stat().st_size if part.is_file() else 0
        if entry.size is not None and offset > entry.size:
            part.unlink()
            offset = 0
        hasher = hashlib.sha256()
        if entry.size is not None and offset == entry.size:
            _hash_into(hasher, part, progress)
            return hasher.hexdigest(), offset
        headers = {"User-Agent": _USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:  # our partial does not fit what the server has: start over
                part.unlink()
                continue
            raise DownloadError(_fail_message(entry, url, part, f"HTTP {exc.code} {exc.reason}")) from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(_fail_message(entry, url, part, f"cannot reach the server ({reason})")) from exc
        with response:
            resumed = offset > 0 and response.status == 206
            if resumed and _range_start(response) != offset:
                part.unlink()
                continue
            if resumed:
                _hash_into(hasher, part, progress=False)
            else:
                offset = 0
            total = _total_length(response, offset)
            _stream(response, part, "ab" if resumed else "wb", hasher, offset, total, entry, url, progress)
        size = part.stat().st_size
        if total is not None and size != total:
            raise DownloadError(_fail_message(entry, url, part, f"the transfer ended at {size} of {total} bytes"))
        return hasher.hexdigest(), size
    raise DownloadError(_fail_message(entry, url, part, "the server rejected resuming twice"))


def _stream(response: http.client.HTTPResponse, part: Path, mode: str, hasher: hashlib._Hash, offset: int,
            total: int | None, entry: Checkpoint, url: str, progress: bool) -> None:
    with open(part, mode) as f, tqdm(total=total, initial=offset, unit="B", unit_scale=True, file=sys.stderr,
                                     desc=entry.name, disable=not progress) as bar:
        try:
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                hasher.update(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(_fail_message(entry, url, part, f"the connection dropped ({exc!r})")) from exc
        finally:
            f.flush()
            os.fsync(f.fileno())


def _install(entry: Checkpoint, part: Path, final: Path, digest: str, size: int, url: str) -> None:
    problem = None
    if entry.size is not None and size != entry.size:
        problem = f"{size} bytes instead of {entry.size}"
    elif entry.sha256 is not None and digest != entry.sha256:
        problem = f"sha256 {digest} instead of {entry.sha256}"
    if problem:
        part.unlink()
        raise ChecksumError(
            f"{entry.name} from {url} is not the published file ({problem}); the download was deleted. "
            f"Try again later, or download it by hand from {entry.manual_url} and save it as {final}.")
    os.replace(part, final)


def _range_start(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _total_length(response: http.client.HTTPResponse, offset: int) -> int | None:
    """Full file size as the server states it (Content-Range total on 206, Content-Length on 200)."""
    if response.status == 206:
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _fail_message(entry: Checkpoint, url: str, part: Path, reason: str) -> str:
    final = part.with_name(part.name.removesuffix(PART_SUFFIX))
    kept = ""
    if part.is_file():
        kept = f" The {part.stat().st_size} bytes received are kept in {part}; run the download again to resume."
    return (f"Could not download {entry.name} from {url}: {reason}.{kept} If this machine is offline, download "
            f"that URL elsewhere and copy the file to {final}.")
