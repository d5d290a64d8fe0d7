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

Methods (issue 14): "twopass" is the original implementation, kept selectable so old and new can be measured side
by side; "fast" (the default before "hybrid") solves the same energy in larger tiles on a thread pool (pymatting's
kernels release the GIL), warm-starts the well-conditioned sharpen pass with a cheaper preconditioner, solves the
locate pass at half resolution when the band is wide (large canvases), and ends with a guard that keeps the input
where the band's local colour models of foreground and background overlap (there the Laplacian has nothing to go
by).
"guided" (issue 14, selectable, not the default) replaces both closed-form passes by one colour guided filter (He et
al.: the local-affine model of closed-form matting fitted in one step with box filters, O(N), no linear system) of
the input alpha inside the band: 13–16× faster, better than "twopass" on masks whose edge is in the right place,
much worse on masks a few pixels too tight or too loose (it cannot move an edge further than its radius lets colour
pull it): docs/BENCHMARKS.md, issue 14 session 3.
"hybrid" (issue 14) adds what the filter lacks: the locate pass solved at half resolution with a cheap solve says
where the edge lies; where that located edge disagrees with the input's over a window, the filter's input follows
it, elsewhere the input is kept; then the guided filter on the band. 6.4–7.6× faster than "twopass" with SAD
0.5–1.2 % lower on all four coarse-mask variants, so it is the default: docs/BENCHMARKS.md, issue 14 session 4.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from mam_engine.request.options import MAX_BAND, MIN_BAND, check_options

METHODS = ("fast", "twopass", "guided", "hybrid")
DEFAULT_METHOD = "hybrid"
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
# "fast": tile side (two in flight on the thread pool; pymatting allocates ~400 B per crop pixel), the
# preconditioner drop tolerance and CG tolerance of the sharpen pass (uniform pull: well conditioned), and the band
# from which the locate pass runs at half resolution.
FAST_TILE = 512
SHARPEN_ICHOL_THRESHOLD = 1e-3
SHARPEN_RTOL = 1e-5
COARSE_MIN_BAND = 24
# Guard: separability of the local colour models below which the input is kept; the refinement is blended in
# linearly up to twice that value. 0 disables it. Two-fold cross-validation on GT01–18 chose 0 in both folds (every
# threshold raised held-out SAD: docs/BENCHMARKS.md), so it is off by default and selectable per call.
GUARD_SEPARATION = 0.0
# "guided": window radius and regulariser of the colour guided filter (two-fold cross-validation on GT01–18 over
# radius 4/8 and eps 1e-4/1e-3 chose these in both folds: docs/BENCHMARKS.md), and its tile side.
GUIDED_RADIUS = 8
GUIDED_EPS = 1e-4
GUIDED_TILE = 512
# "hybrid": the locate pass at 1/HYBRID_SCALE resolution with a cheap solve (its job is where the edge lies), then the
# guided filter of an input that follows the located edge only where it disagrees with the input's edge over a
# window: |mean of (located > 0.5) − input| over (2·HYBRID_WINDOW+1)² ramps the trust in the located alpha from 0 at
# HYBRID_TRUST[0] to 1 at HYBRID_TRUST[1] (an input 6 px off gives ~0.5, a correct edge on SAM's grid ~0.05–0.1).
# Window and thresholds by two-fold cross-validation on GT01–18 (both folds chose window 6 and 0.15; the upper
# threshold 0.25 / 0.3): docs/BENCHMARKS.md, issue 14 session 4.
HYBRID_SCALE = 2
HYBRID_WINDOW = 6
HYBRID_TRUST = (0.15, 0.3)
HYBRID_ICHOL_THRESHOLD = 1e-3
HYBRID_RTOL = 1e-4
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
    return (PRIOR_WEIGHT * np.minimum(1.0, _edge_distance(alpha) / band) ** 2).astype(np.float32)


def sharpen_weight(alpha: np.ndarray, band: int) -> np.ndarray:
    """Pull towards the located edge for the sharpen pass: uniform."""
    return np.full(alpha.shape, PRIOR_WEIGHT, dtype=np.float32)


def make_trimap(alpha: np.ndarray, band: int) -> np.ndarray:
    """Trimap (0 bg, 0.5 unknown, 1 fg): a band of half-width `band` on both sides of the α = 0.5 edge, plus the
    soft pixels of a soft input alpha."""
    fg = alpha > 0.5
    unknown = _within(fg, band) | _within(~fg, band)
    unknown |= (alpha > SOFT_LOW) & (alpha < SOFT_HIGH)
    trimap = fg.astype(np.float32)  # 0, 0.5 and 1 are exact in float32: half the memory of float64 on a canvas
    trimap[unknown] = 0.5
    return trimap


def _laplacian(image: np.ndarray, solver: str, known: np.ndarray):
    import pymatting

    if solver == "cf":
        return pymatting.cf_laplacian(image, epsilon=CF_EPSILON, is_known=known)
    if solver == "knn":
        return pymatting.knn_laplacian(image)
    return pymatting.rw_laplacian(image)


@dataclass(frozen=True)
class _SolverSettings:
    """How one pass's systems are solved: ichol drop tolerance, CG tolerance, warm start from the prior."""

    ichol_threshold: float = 1e-4
    rtol: float = CG_RTOL
    warm_start: bool = False


def _solve_crop(
    image: np.ndarray, trimap: np.ndarray, prior: np.ndarray, weight: np.ndarray, solver: str,
    settings: _SolverSettings | None = None,
) -> np.ndarray:
    """Alpha of the unknown pixels of one crop (flattened, in raster order).

    Minimises αᵀLα + Σ weight·(α − prior)² over the unknown pixels with the known ones fixed: the weak pull to the
    input decides regions the Laplacian leaves ambiguous (a hole with no known pixel inside), while colour edges in
    the Laplacian move the boundary. Raises RuntimeError when CG does not converge or the result is not
    finite.
    """
    import pymatting
    import scipy.sparse

    settings = settings or _SolverSettings()
    known = (trimap != 0.5).ravel()
    unknown = ~known
    L = _laplacian(image, solver, known).tocsr()
    L_u = L[unknown][:, unknown]
    w = weight.ravel()[unknown].astype(np.float64)
    A = (L_u + scipy.sparse.diags(w, format="csr")).tocsr()
    b = w * prior.ravel()[unknown] - L[unknown][:, known].dot(trimap.ravel()[known].astype(np.float64))
    residual = [0.0]
    rtol = settings.rtol

    def track(A_, x, b_, norm_b, r, norm_r) -> None:  # noqa: N803 (pymatting's callback signature)
        residual[0] = float(norm_r / norm_b) if norm_b > 0 else 0.0

    # ichol prints performance warnings (not errors here); refine() silences stdout once around all the solves, since
    # redirect_stdout per solve is not thread-safe (two tiles interleaving left sys.stdout a StringIO for good).
    precondition = pymatting.ichol(A, discard_threshold=settings.ichol_threshold, max_nnz=max(1_000_000, 40 * A.nnz))
    x0 = prior.ravel()[unknown].astype(np.float64) if settings.warm_start else None
    x = pymatting.cg(A, b, x0=x0, M=precondition, maxiter=CG_MAXITER, rtol=rtol, callback=track)
    if residual[0] > rtol * 10:
        raise RuntimeError(f"{solver} solver stopped at relative residual {residual[0]:.1e}")
    if not np.all(np.isfinite(x)):
        raise RuntimeError(f"{solver} solver produced non-finite values")
    return np.clip(x, 0.0, 1.0)


def _tiles(h: int, w: int, tile: int):
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            yield y, min(y + tile, h), x, min(x + tile, w)


def _workers() -> int:
    """Threads for tile solves: pymatting's kernels release the GIL; two tiles in flight per core is no faster."""
    return max(1, min(4, os.cpu_count() or 1))


def _solve_band(
    image: np.ndarray,
    alpha: np.ndarray,
    band: int,
    weight_fn: Callable[[np.ndarray, int], np.ndarray],
    solver: str,
    tile: int,
    report: Callable[[float], None],
    settings: _SolverSettings | None = None,
    workers: int = 1,
    tight: bool = False,
    kept: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str], int, int]:
    """One pass: (alpha, failure messages, tiles solved, unknown pixels). Known pixels keep the input alpha; a failed
    tile keeps it too and, when `kept` (H×W bool) is given, is marked True there.

    Tiles are solved independently (each from the input alpha, never from a neighbour's result) and written back in
    raster order, so the result does not depend on `workers` or on thread timing.
    """
    trimap = make_trimap(alpha, band)
    unknown = trimap == 0.5
    weight = weight_fn(alpha, band)
    out = alpha.copy()
    h, w = unknown.shape
    margin = band + 16
    jobs = [t for t in _tiles(h, w, tile) if unknown[t[0] : t[1], t[2] : t[3]].any()]
    failed: list[str] = []

    def solve(job: tuple[int, int, int, int]) -> tuple[np.ndarray | None, str]:
        y0, y1, x0, x1 = job
        cy0, cy1, cx0, cx1 = max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin), min(w, x1 + margin)
        if tight:
            # The system only involves 3×3 windows that touch an unknown pixel, i.e. pixels at most 2 px from one:
            # cropping to those gives the same solution with far less memory (pymatting allocates per crop pixel).
            rows = np.flatnonzero(unknown[cy0:cy1, cx0:cx1].any(axis=1))
            cols = np.flatnonzero(unknown[cy0:cy1, cx0:cx1].any(axis=0))
            cy0, cy1 = max(cy0, cy0 + int(rows[0]) - 2, 0), min(cy1, cy0 + int(rows[-1]) + 3)
            cx0, cx1 = max(cx0, cx0 + int(cols[0]) - 2, 0), min(cx1, cx0 + int(cols[-1]) + 3)
        crop_tri = trimap[cy0:cy1, cx0:cx1]
        if not (crop_tri != 0.5).any():
            return None, "no known pixels near the tile"
        crop_img = image[cy0:cy1, cx0:cx1].astype(np.float64) / 255.0
        try:
            x = _solve_crop(crop_img, crop_tri, alpha[cy0:cy1, cx0:cx1], weight[cy0:cy1, cx0:cx1], solver, settings)
        except (RuntimeError, ValueError, ArithmeticError, MemoryError, np.linalg.LinAlgError) as exc:
            return None, str(exc)
        solved = np.full((y1 - y0, x1 - x0), 0.5)
        oy0, oy1, ox0, ox1 = max(y0, cy0), min(y1, cy1), max(x0, cx0), min(x1, cx1)
        full = crop_tri.astype(np.float64)
        full[crop_tri == 0.5] = x
        solved[oy0 - y0 : oy1 - y0, ox0 - x0 : ox1 - x0] = full[oy0 - cy0 : oy1 - cy0, ox0 - cx0 : ox1 - cx0]
        return solved, ""

    def store(job: tuple[int, int, int, int], core: np.ndarray | None, message: str) -> None:
        y0, y1, x0, x1 = job
        if core is None:
            failed.append(message)
            if kept is not None:
                kept[y0:y1, x0:x1] = True
        else:
            sel = unknown[y0:y1, x0:x1]
            out[y0:y1, x0:x1][sel] = core[sel]

    if workers <= 1 or len(jobs) <= 1:
        for done, job in enumerate(jobs, 1):
            store(job, *solve(job))
            report(done / len(jobs))
    else:
        # At most `workers` tiles in flight, so memory stays bounded by the tile, not the canvas.
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending = [pool.submit(solve, job) for job in jobs[:workers]]
            for done, job in enumerate(jobs, 1):
                result = pending.pop(0).result()
                if done - 1 + workers < len(jobs):
                    pending.append(pool.submit(solve, jobs[done - 1 + workers]))
                store(job, *result)
                report(done / len(jobs))
    return out, failed, len(jobs), int(unknown.sum())


def colour_separation(image: np.ndarray, alpha: np.ndarray, band: int) -> np.ndarray:
    """Per pixel, how well the nearby known foreground and background colours are told apart (Fisher ratio).

    Local means and variances of the pixels the input calls foreground (α > 0.5 outside the band) and background,
    Gaussian-weighted over about two bands; |μF − μB|² / (σF² + σB²) summed over RGB. Where it is small the matting
    Laplacian has no colour edge to follow and its answer is a guess, so the guard keeps the input there. The
    statistics are smooth at the scale of the band, so they are computed at 1/(band/4) resolution: memory stays a
    small fraction of the canvas's.
    """
    h, w = alpha.shape
    fg_all = alpha > 0.5
    factor = max(1, band // 4)
    size = (max(1, w // factor), max(1, h // factor))
    regions = [(fg_all & ~_within(fg_all, band)), (~fg_all & ~_within(~fg_all, band))]
    img = cv2.resize(image, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    sigma = 2.0 * band / factor

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)

    stats = []
    for region in regions:
        r = cv2.resize(region.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        n = blur(r) + 1e-6
        mean = blur(img * r[..., None]) / n[..., None]
        var = blur(img * img * r[..., None]) / n[..., None] - mean * mean
        stats.append((mean, np.maximum(var, 0.0).sum(axis=2)))
    (mf, vf), (mb, vb) = stats
    small = ((mf - mb) ** 2).sum(axis=2) / (vf + vb + 1e-3)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def apply_guard(before: np.ndarray, after: np.ndarray, separation: np.ndarray, threshold: float) -> np.ndarray:
    """Blend from the input (separation ≤ threshold) to the refinement (≥ 2 × threshold)."""
    if threshold <= 0:
        return after
    trust = np.clip(separation / threshold - 1.0, 0.0, 1.0).astype(np.float32)
    return before + trust * (after - before)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over (2r+1)² windows (cv2's running sums: O(1) per pixel whatever r), edges mirrored."""
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    """Colour guided filter (He, Sun, Tang, TPAMI 2013, eq. 19–21) of `p` (H×W float32) with `guide` (H×W×3
    float32 in [0, 1]): in each (2r+1)² window p ≈ a·I + b by ridge regression (eps), and the output averages the
    windows' predictions. float32 throughout; the 3×3 covariance is inverted in closed form per pixel."""
    mean_i = _box(guide, r)
    mean_p = _box(p, r)
    cov_ip = _box(guide * p[..., None], r) - mean_i * mean_p[..., None]
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    products = np.stack([guide[..., i] * guide[..., j] for i, j in pairs], axis=-1)
    m = _box(products, r)
    rr, rg, rb, gg, gb, bb = (m[..., k] - mean_i[..., i] * mean_i[..., j] for k, (i, j) in enumerate(pairs))
    del m, products
    rr, gg, bb = rr + eps, gg + eps, bb + eps
    i_rr, i_rg, i_rb = gg * bb - gb * gb, gb * rb - rg * bb, rg * gb - gg * rb
    i_gg, i_gb, i_bb = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    det = rr * i_rr + rg * i_rg + rb * i_rb
    c0, c1, c2 = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = np.stack([i_rr * c0 + i_rg * c1 + i_rb * c2, i_rg * c0 + i_gg * c1 + i_gb * c2,
                  i_rb * c0 + i_gb * c1 + i_bb * c2], axis=-1) / det[..., None]
    b = mean_p - (a * mean_i).sum(axis=-1)
    return (_box(a, r) * guide).sum(axis=-1) + _box(b, r)


def _guided_band(image: np.ndarray, alpha: np.ndarray, band: int, tile: int, report: Callable[[float], None],
                 source: np.ndarray | None = None) -> tuple[np.ndarray, list[str], int, int]:
    """The "guided" method: the guided filter of the input alpha, written back on the band's unknown pixels only.

    Tiled like the closed-form passes (a tile reads its core plus 2r+1 px, all a core pixel's output depends on, so
    the result equals an untiled filter's and memory is bounded by the tile); a tile whose output is not finite
    keeps the input. With `source` ("hybrid") the filter's input is `source` instead of `alpha`, and the band is the
    union of both alphas' bands; a failed tile still keeps `alpha`.
    """
    r, eps = GUIDED_RADIUS, GUIDED_EPS
    unknown = make_trimap(alpha, band) == 0.5
    if source is None:
        source = alpha
    else:
        unknown |= make_trimap(source, band) == 0.5
    out = alpha.copy()
    h, w = alpha.shape
    margin = 2 * r + 1
    jobs = [t for t in _tiles(h, w, tile) if unknown[t[0] : t[1], t[2] : t[3]].any()]
    failed: list[str] = []
    for done, (y0, y1, x0, x1) in enumerate(jobs, 1):
        cy0, cy1, cx0, cx1 = max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin), min(w, x1 + margin)
        guide = image[cy0:cy1, cx0:cx1].astype(np.float32) * np.float32(1 / 255)
        q = guided_filter(guide, source[cy0:cy1, cx0:cx1], r, eps)[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
        if not np.all(np.isfinite(q)):
            failed.append("guided filter produced non-finite values")
        else:
            sel = unknown[y0:y1, x0:x1]
            out[y0:y1, x0:x1][sel] = np.clip(q[sel], 0.0, 1.0)
        report(done / len(jobs))
    return out, failed, len(jobs), int(unknown.sum())


def hybrid_source(alpha: np.ndarray, located: np.ndarray) -> np.ndarray:
    """The guided filter's input for "hybrid": the input alpha, moved towards the located alpha where the located
    edge disagrees with the input's over a window (the input is a few pixels off there), unchanged where they agree
    up to SAM-grid jitter (there the input's edge is at least as good as a half-resolution solve's)."""
    disagreement = np.abs(_box((located > 0.5).astype(np.float32) - alpha, HYBRID_WINDOW))
    low, high = HYBRID_TRUST
    trust = np.clip((disagreement - low) / (high - low), 0.0, 1.0)
    return (alpha + trust * (located - alpha)).astype(np.float32)


def _hybrid(image: np.ndarray, alpha: np.ndarray, band: int, solver: str, tile: int,
            report: Callable[[float], None], workers: int) -> tuple[np.ndarray, list[str], int, int]:
    """The "hybrid" method: the locate pass at 1/HYBRID_SCALE resolution (ichol 1e-3, CG 1e-4 warm-started: it only
    has to say where the edge lies), upsampled; then the guided filter of `hybrid_source` on the band. A locate tile
    that fails leaves the input alpha as the filter's input there (so that region gets the "guided" result); a
    filter tile that fails keeps the input alpha."""
    h, w = alpha.shape
    scale = HYBRID_SCALE if min(h, w) >= 16 * HYBRID_SCALE else 1
    size = (max(1, round(w / scale)), max(1, round(h / scale)))
    small_img = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale > 1 else image
    small = np.clip(cv2.resize(alpha, size, interpolation=cv2.INTER_AREA), 0.0, 1.0) if scale > 1 else alpha
    kept = np.zeros(small.shape, dtype=bool)
    settings = _SolverSettings(HYBRID_ICHOL_THRESHOLD, HYBRID_RTOL, True)
    with _quiet_stdout():
        located, failed1, n1, _ = _solve_band(small_img, small, max(MIN_BAND, round(band / scale)), locate_weight,
                                              solver, tile, lambda f: report(0.5 * f), settings, workers, True, kept)
    if scale > 1:
        located = np.clip(cv2.resize(located, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
        kept = cv2.resize(kept.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    # Only the band may change (the coarse solve knows nothing else), and a failed locate tile changes nothing.
    keep = kept | (make_trimap(alpha, band) != 0.5)
    located[keep] = alpha[keep]
    out, failed2, n2, unknown = _guided_band(image, alpha, band, tile, lambda f: report(0.5 + 0.5 * f),
                                             hybrid_source(alpha, located))
    return out, failed1 + failed2, n1 + n2, unknown


def _coarse_locate(image: np.ndarray, alpha: np.ndarray, band: int, solver: str, tile: int,
                   report: Callable[[float], None], workers: int) -> tuple[np.ndarray, list[str], int, int]:
    """The locate pass at half resolution (its job is where the edge lies, not its detail), upsampled back."""
    h, w = alpha.shape
    size = (max(1, w // 2), max(1, h // 2))
    small_img = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_alpha = np.clip(cv2.resize(alpha, size, interpolation=cv2.INTER_AREA), 0.0, 1.0)
    located, failed, n, _ = _solve_band(small_img, small_alpha, max(MIN_BAND, band // 2), locate_weight, solver,
                                        tile, report, workers=workers, tight=True)
    up = np.clip(cv2.resize(located, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    # Far from the edge the input stays exactly as it was (the coarse solve only knows the band).
    band_pixels = make_trimap(alpha, band) == 0.5
    up[~band_pixels] = alpha[~band_pixels]
    return up, failed, n, int(band_pixels.sum())


def _two_passes(image: np.ndarray, a: np.ndarray, band: int, solver: str, tile: int,
                report: Callable[[float], None], fast: bool, workers: int):
    """Locate then sharpen; (alpha, located, failures of each pass, tiles of each pass, unknown pixels)."""

    def first(f: float) -> None:
        report(0.5 * f)

    if fast and band >= COARSE_MIN_BAND and min(a.shape) >= 4 * band:
        located, failed1, n1, unknown = _coarse_locate(image, a, band, solver, tile, first, workers)
    else:
        located, failed1, n1, unknown = _solve_band(image, a, band, locate_weight, solver, tile, first,
                                                    workers=workers, tight=fast)
    # The located alpha's soft pixels stay unknown in the second pass (hair wider than the band keeps its
    # transparency); measured better than sharpening around its binarised edge on the hair-heavy photos.
    sharp_band = max(MIN_BAND, round(band * SHARPEN_BAND_RATIO))
    settings = _SolverSettings(SHARPEN_ICHOL_THRESHOLD, SHARPEN_RTOL, True) if fast else None
    out, failed2, n2, _ = _solve_band(image, located, sharp_band, sharpen_weight, solver, tile,
                                      lambda f: report(0.5 + 0.5 * f), settings, workers, fast)
    return out, located, failed1, failed2, n1, n2, unknown


_stdout_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_stdout():
    """Silence pymatting's prints for one refinement; a lock, because redirect_stdout swaps a process-wide object."""
    with _stdout_lock, contextlib.redirect_stdout(io.StringIO()):
        yield


def refine(
    image: np.ndarray,
    alpha: np.ndarray,
    band: int | None = None,
    solver: str = DEFAULT_SOLVER,
    tile: int | None = None,
    on_progress: Callable[[float], None] | None = None,
    method: str = DEFAULT_METHOD,
    guard: float | None = None,
) -> Refined:
    """Refine `alpha` (H×W bool mask or float in [0, 1]) against `image` (H×W×3 uint8) near its edge.

    `band` is the locate pass's half-width in pixels (default: BAND_FRACTION of the long side, narrowed for small
    subjects). Away from the edge the input is kept. `on_progress(fraction)` is called after each tile; an exception
    raised there propagates (that is how a caller cancels). `method` is one of METHODS; `guard` overrides
    GUARD_SEPARATION ("fast" only). `solver` is validated but ignored by "guided" (no Laplacian); "hybrid" uses it
    for its locate pass.
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
    if method not in METHODS:
        raise ValueError(f"unknown refinement method {method!r}; choose one of {', '.join(METHODS)}")
    chosen = validate_options(image.shape, band, solver)
    band = subject_band(a, chosen) if band is None else chosen
    tile = {"fast": FAST_TILE, "guided": GUIDED_TILE, "hybrid": GUIDED_TILE}.get(method, TILE) if tile is None else tile
    if tile < 64:
        raise ValueError(f"tile size {tile} is too small (at least 64 px)")
    report = on_progress or (lambda fraction: None)
    if method in ("guided", "hybrid"):
        if method == "guided":
            out, failed, n, unknown = _guided_band(image, a, band, tile, report)
        else:
            out, failed, n, unknown = _hybrid(image, a, band, solver, tile, report, _workers())
        notes = [f"classic refinement kept the previous alpha on {len(failed)} of {n} tiles ({failed[0]})"] if failed \
            else []
        _mark_warm()
        return Refined(alpha=np.clip(out, 0, 1).astype(np.float32), notes=notes, band=band, unknown_pixels=unknown)
    fast = method == "fast"
    workers = _workers() if fast else 1
    with _quiet_stdout():
        out, located, failed1, failed2, n1, n2, unknown = _two_passes(image, a, band, solver, tile, report, fast,
                                                                      workers)
    if fast:
        threshold = GUARD_SEPARATION if guard is None else guard
        if threshold > 0:
            out = apply_guard(a, out, colour_separation(image, a, band), threshold)
    notes = []
    failed = failed1 + failed2
    if failed:
        notes.append(f"classic refinement kept the previous alpha on {len(failed)} of {n1 + n2} tiles ({failed[0]})")
    _mark_warm()
    return Refined(alpha=np.clip(out, 0, 1).astype(np.float32), notes=notes, band=band, unknown_pixels=unknown)


_warm = threading.Event()


def _mark_warm() -> None:
    _warm.set()


def is_warm() -> bool:
    """Whether this process has already loaded (or compiled) pymatting's numba kernels."""
    return _warm.is_set()


def warm_up() -> float:
    """Load or compile every numba kernel a refinement and a foreground estimate use; return the seconds it took.

    pymatting compiles its kernels on first import and caches them on disk (numba cache=True): the first import
    after an install compiles (about a minute on two cores), later processes load the cache (about a second). A
    daemon calls this at start so no artist's first matte pays either. Idempotent and thread-safe.
    """
    import time

    t0 = time.perf_counter()
    with _warm_lock:
        yy, xx = np.mgrid[:48, :48]
        disk = np.hypot(yy - 24, xx - 24) < 14
        image = np.where(disk[..., None], np.uint8(200), np.uint8(40)).astype(np.uint8).repeat(3, axis=2)
        for method in METHODS:
            refine(image, disk, band=4, method=method)
        from mam_engine.classic.foreground import estimate_foreground

        estimate_foreground(image, disk.astype(np.float32) * 0.5)
    _mark_warm()
    return time.perf_counter() - t0


_warm_lock = threading.Lock()
