"""Classical mask-to-matte refinement: solve a band of unknown pixels around the selection edge at native resolution.

A binary mask from SAM (or GrabCut) is quantised to a coarse grid and has no soft edges; M2M's alpha is computed at
1024 px and stretched back. Both are good away from the boundary and wrong on it. This stage marks a band around the
boundary as unknown, keeps the rest as known foreground/background, and solves the band with a matting Laplacian
from pymatting, in overlapping tiles so memory stays bounded on any canvas size.

Two passes (measured: docs/BENCHMARKS.md). "Locate": a wide band with a pull towards the input that vanishes on the
input's edge, so colour edges may move a boundary that is a few pixels off. "Sharpen": a narrower band around the
located edge plus its soft pixels, with a uniform pull towards the located alpha, which stops the Laplacian
smearing alpha across low-contrast regions.
A tile whose solver fails or does not converge keeps the previous alpha, and the result's notes say so.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from mam_engine.request.options import MAX_BAND, MIN_BAND, check_options

# Matting Laplacians from pymatting, by name. Chosen by measurement: docs/BENCHMARKS.md.
LAPLACIANS = ("cf", "knn", "rw")
DEFAULT_SOLVER = "cf"
# Band half-width of the locate pass as a fraction of the long side when the caller gives none, and the sharpen
# pass's band relative to it (measured: docs/BENCHMARKS.md).
BAND_FRACTION = 0.0125
SHARPEN_BAND_RATIO = 0.64
# The default band never exceeds this fraction of the subject's short side.
SUBJECT_FRACTION = 0.1
TILE = 512
CG_MAXITER = 2000
CG_RTOL = 1e-6
CF_EPSILON = 1e-7
# Weight of the pull towards the input alpha inside the band (the Laplacian's diagonal is of order 1–10).
PRIOR_WEIGHT = 1e-2
# Alpha above/below these counts as known foreground/background when the input alpha is soft (M2M's).
SOFT_LOW, SOFT_HIGH = 0.02, 0.98


@dataclass
class Refined:
    alpha: np.ndarray  # H×W float32 in [0, 1]
    notes: list[str] = field(default_factory=list)
    band: int = 0
    unknown_pixels: int = 0


def default_band(shape: tuple[int, ...]) -> int:
    """Band half-width in pixels for an image: BAND_FRACTION of the long side, at least 2 px."""
    return int(min(MAX_BAND, max(2, round(BAND_FRACTION * max(shape[0], shape[1])))))


def subject_band(alpha: np.ndarray, band: int) -> int:
    """The default band, narrowed for a small subject: at most SUBJECT_FRACTION of its box's short side.

    A band as wide as the subject leaves nothing of it known and the solve washes it out (measured on coco-tiny's
    small instances: docs/BENCHMARKS.md).
    """
    ys, xs = np.nonzero(alpha > 0.5)
    if len(ys) == 0:
        return band
    short = min(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    return int(max(MIN_BAND, min(band, round(SUBJECT_FRACTION * short))))


def validate_options(image_shape: tuple[int, ...], band: int | None, solver: str) -> int:
    """Check solver, band and canvas size; return the band to use. Raises ValueError naming the problem."""
    if solver not in LAPLACIANS:
        raise ValueError(f"unknown refinement solver {solver!r}; choose one of {', '.join(LAPLACIANS)}")
    h, w = image_shape[:2]
    options = check_options(w, h, refine="classic", refine_band=band)
    return default_band(image_shape) if options.refine_band is None else options.refine_band


def _within(region: np.ndarray, band: int) -> np.ndarray:
    """Pixels of `region` at most `band` px from its edge."""
    return region & (cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 5) <= band)


def _edge_distance(alpha: np.ndarray) -> np.ndarray:
    fg = (alpha > 0.5).astype(np.uint8)
    return np.maximum(cv2.distanceTransform(fg, cv2.DIST_L2, 5), cv2.distanceTransform(1 - fg, cv2.DIST_L2, 5))


def locate_weight(alpha: np.ndarray, band: int) -> np.ndarray:
    """Pull towards the input for the locate pass: zero on the input's edge, where it is least trustworthy,
    growing quadratically to PRIOR_WEIGHT at the band's outer limit."""
    return PRIOR_WEIGHT * np.minimum(1.0, _edge_distance(alpha) / band) ** 2


def sharpen_weight(alpha: np.ndarray, band: int) -> np.ndarray:
    """Pull towards the located edge for the sharpen pass: uniform."""
    return np.full(alpha.shape, PRIOR_WEIGHT)


def make_trimap(alpha: np.ndarray, band: int) -> np.ndarray:
    """Trimap (0 bg, 0.5 unknown, 1 fg): a band of half-width `band` on both sides of the α = 0.5 edge, plus the
    soft pixels of a soft input alpha."""
    fg = alpha > 0.5
    unknown = _within(fg, band) | _within(~fg, band)
    unknown |= (alpha > SOFT_LOW) & (alpha < SOFT_HIGH)
    trimap = fg.astype(np.float64)
    trimap[unknown] = 0.5
    return trimap


def _laplacian(image: np.ndarray, solver: str, known: np.ndarray):
    import pymatting

    if solver == "cf":
        return pymatting.cf_laplacian(image, epsilon=CF_EPSILON, is_known=known)
    if solver == "knn":
        return pymatting.knn_laplacian(image)
    return pymatting.rw_laplacian(image)


def _solve_crop(
    image: np.ndarray, trimap: np.ndarray, prior: np.ndarray, weight: np.ndarray, solver: str
) -> np.ndarray:
    """Alpha of the unknown pixels of one crop (flattened, in raster order).

    Minimises αᵀLα + Σ weight·(α − prior)² over the unknown pixels with the known ones fixed: the weak pull to the
    input decides regions the Laplacian leaves ambiguous (a hole with no known pixel inside), while colour edges in
    the Laplacian move the boundary. Raises RuntimeError when CG does not converge or the result is not
    finite.
    """
    import pymatting
    import scipy.sparse

    known = (trimap != 0.5).ravel()
    unknown = ~known
    L = _laplacian(image, solver, known).tocsr()
    L_u = L[unknown][:, unknown]
    w = weight.ravel()[unknown]
    A = (L_u + scipy.sparse.diags(w, format="csr")).tocsr()
    b = w * prior.ravel()[unknown] - L[unknown][:, known].dot(trimap.ravel()[known])
    residual = [0.0]

    def track(A_, x, b_, norm_b, r, norm_r) -> None:  # noqa: N803 (pymatting's callback signature)
        residual[0] = float(norm_r / norm_b) if norm_b > 0 else 0.0

    with contextlib.redirect_stdout(io.StringIO()):  # ichol prints performance warnings; they are not errors here
        precondition = pymatting.ichol(A, max_nnz=max(1_000_000, 40 * A.nnz))
    x = pymatting.cg(A, b, M=precondition, maxiter=CG_MAXITER, rtol=CG_RTOL, callback=track)
    if residual[0] > CG_RTOL * 10:
        raise RuntimeError(f"{solver} solver stopped at relative residual {residual[0]:.1e}")
    if not np.all(np.isfinite(x)):
        raise RuntimeError(f"{solver} solver produced non-finite values")
    return np.clip(x, 0.0, 1.0)


def _tiles(h: int, w: int, tile: int):
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            yield y, min(y + tile, h), x, min(x + tile, w)


def _solve_band(
    image: np.ndarray,
    alpha: np.ndarray,
    band: int,
    weight_fn: Callable[[np.ndarray, int], np.ndarray],
    solver: str,
    tile: int,
    report: Callable[[float], None],
) -> tuple[np.ndarray, list[str], int, int]:
    """One pass: (alpha, failure messages, tiles solved, unknown pixels). Known pixels keep the input alpha."""
    trimap = make_trimap(alpha, band)
    unknown = trimap == 0.5
    weight = weight_fn(alpha, band)
    out = alpha.copy()
    h, w = unknown.shape
    margin = band + 16
    jobs = [t for t in _tiles(h, w, tile) if unknown[t[0] : t[1], t[2] : t[3]].any()]
    failed: list[str] = []
    for done, (y0, y1, x0, x1) in enumerate(jobs, 1):
        cy0, cy1, cx0, cx1 = max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin), min(w, x1 + margin)
        crop_tri = trimap[cy0:cy1, cx0:cx1]
        if not (crop_tri != 0.5).any():
            failed.append("no known pixels near the tile")
        else:
            crop_img = image[cy0:cy1, cx0:cx1].astype(np.float64) / 255.0
            try:
                x = _solve_crop(crop_img, crop_tri, alpha[cy0:cy1, cx0:cx1], weight[cy0:cy1, cx0:cx1], solver)
            except (RuntimeError, ValueError, ArithmeticError, MemoryError, np.linalg.LinAlgError) as exc:
                failed.append(str(exc))
            else:
                solved = crop_tri.copy()
                solved[crop_tri == 0.5] = x
                sel = unknown[y0:y1, x0:x1]
                out[y0:y1, x0:x1][sel] = solved[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0][sel]
        report(done / len(jobs))
    return out, failed, len(jobs), int(unknown.sum())


def refine(
    image: np.ndarray,
    alpha: np.ndarray,
    band: int | None = None,
    solver: str = DEFAULT_SOLVER,
    tile: int = TILE,
    on_progress: Callable[[float], None] | None = None,
) -> Refined:
    """Refine `alpha` (H×W bool mask or float in [0, 1]) against `image` (H×W×3 uint8) near its edge.

    `band` is the locate pass's half-width in pixels (default: BAND_FRACTION of the long side, narrowed for small
    subjects). Away from the edge the input is kept. `on_progress(fraction)` is called after each tile; an exception
    raised there propagates (that is how a caller cancels).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be an H×W×3 uint8 array, got {image.dtype} {image.shape}")
    a = np.asarray(alpha)
    if a.shape != image.shape[:2]:
        raise ValueError(f"alpha shape {a.shape} differs from image size {image.shape[:2]}")
    a = a.astype(np.float32)
    if not np.all(np.isfinite(a)) or a.min(initial=0) < 0 or a.max(initial=0) > 1:
        raise ValueError("alpha must hold values in [0, 1]")
    chosen = validate_options(image.shape, band, solver)
    band = subject_band(a, chosen) if band is None else chosen
    if tile < 64:
        raise ValueError(f"tile size {tile} is too small (at least 64 px)")
    report = on_progress or (lambda fraction: None)

    located, failed1, n1, unknown = _solve_band(image, a, band, locate_weight, solver, tile,
                                                lambda f: report(0.5 * f))
    # The located alpha's soft pixels stay unknown in the second pass (hair wider than the band keeps its
    # transparency); measured better than sharpening around its binarised edge on the hair-heavy photos.
    sharp_band = max(MIN_BAND, round(band * SHARPEN_BAND_RATIO))
    out, failed2, n2, _ = _solve_band(image, located, sharp_band, sharpen_weight, solver, tile,
                                      lambda f: report(0.5 + 0.5 * f))
    notes = []
    failed = failed1 + failed2
    if failed:
        notes.append(f"classic refinement kept the previous alpha on {len(failed)} of {n1 + n2} tiles ({failed[0]})")
    return Refined(alpha=np.clip(out, 0, 1).astype(np.float32), notes=notes, band=band, unknown_pixels=unknown)
