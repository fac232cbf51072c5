"""Vision: attention over image patches, drawn on top of the image.

A vision transformer cuts an ``(H, W)`` image into ``patch_size x patch_size`` patches,
row by row, and treats each patch as a token. One query patch's attention weights over
all patches form an ``(H // patch_size, W // patch_size)`` grid, which
:func:`show_patch_attention` overlays on the image:

    >>> from helpers import show_patch_attention
    >>> from helpers.data import sample_image
    >>> show_patch_attention(sample_image(), weights[q], patch_size=64, query_patch=q);
"""
from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, Normalize
from matplotlib.patches import Rectangle

from ._arrays import as_weights, to_numpy

__all__ = ["show_patch_attention"]

FIGSIZE = (5.0, 4.6)
DPI = 100
QUERY_COLOUR = "red"       # no viridis colour is red, so the marker always stands out
MAX_GRID_LINES = 32        # patch borders are drawn up to this many patches per side


def show_patch_attention(image: Any, weights: Any, patch_size: int,
                         query_patch: int | tuple[int, int] | None = None, *,
                         ax: Axes | None = None, alpha: float = 0.6,
                         cmap: str | Colormap = "viridis",
                         title: str | None = None) -> Axes:
    """Overlay per-patch attention weights on an image.

    Args:
        image: ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA or ``(H, W)`` grey; floats in
            ``[0, 1]`` or 0-255 integers (numpy, torch or nested lists; a channels-first
            ``(3, H, W)`` tensor gets an error telling you to permute it). Other ranges
            (e.g. normalised images) are rescaled to ``[0, 1]`` for display.
        weights: non-negative, one per patch: a grid ``(H // patch_size, W // patch_size)``
            or flat ``(n_patches,)`` in row-major order (patch ``k`` is at grid row
            ``k // n_cols``, column ``k % n_cols``).
        patch_size: side of a square patch in pixels. Pixels beyond the last whole patch
            (when ``H`` or ``W`` is not a multiple) are shown without overlay.
        query_patch: the patch whose attention is shown, as a flat index or a
            ``(row, col)`` pair; it is outlined in red. ``None``: no outline.
        ax: the Axes to draw into; default a new figure of fixed size.
        alpha: opacity of the overlay, in ``[0, 1]``.
        cmap: colour map of the overlay.
        title: the Axes title; default names the query patch, if any.

    Returns:
        the Axes drawn into (with a colorbar for the weights).

    Raises:
        ValueError, TypeError: a malformed image, a weight count or grid shape that does
            not match the patches, NaN/inf or negative weights, a bad patch size, a query
            patch outside the grid, or alpha outside ``[0, 1]``.
    """
    img = _as_image(image)
    height, width = img.shape[:2]
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)):
        raise TypeError(f"patch_size must be an int (pixels per patch side); got "
                        f"{type(patch_size).__name__} {patch_size!r}")
    if not 1 <= patch_size <= min(height, width):
        raise ValueError(f"patch_size must be between 1 and the image's shorter side "
                         f"({min(height, width)} for an image of shape {img.shape}); "
                         f"got {patch_size}")
    p = int(patch_size)
    rows, cols = height // p, width // p
    grid = _as_grid(weights, rows, cols, p, img.shape)
    query = _query_cell(query_patch, rows, cols)
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1; got {alpha}")

    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0.0, vmax=1.0,
              interpolation="antialiased")
    # Pixel (i, j) is centred at (j, i): a patch spans [c*p - 0.5, (c+1)*p - 0.5).
    top = max(float(grid.max()), 1e-12)
    overlay = ax.imshow(grid, cmap=cmap, alpha=float(alpha), interpolation="nearest",
                        norm=Normalize(0.0, top),
                        extent=(-0.5, cols * p - 0.5, rows * p - 0.5, -0.5))
    if max(rows, cols) <= MAX_GRID_LINES:
        for r in range(1, rows):
            ax.axhline(r * p - 0.5, xmax=cols * p / width, color="white", lw=0.5, alpha=0.4)
        for c in range(1, cols):
            ax.axvline(c * p - 0.5, ymin=1 - rows * p / height, color="white", lw=0.5,
                       alpha=0.4)
    if query is not None:
        r, c = query
        ax.add_patch(Rectangle((c * p - 0.5, r * p - 0.5), p, p, fill=False,
                               edgecolor=QUERY_COLOUR, linewidth=2.5, zorder=3))
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.figure.colorbar(overlay, ax=ax, label="attention weight", shrink=0.8)
    if title is None and query is not None:
        title = f"attention from the query patch (row {query[0]}, col {query[1]})"
    if title is not None:
        ax.set_title(title)
    return ax


def _as_image(image: Any) -> np.ndarray:
    img = to_numpy(image, "image")
    if img.ndim == 3 and img.shape[0] in (1, 3, 4) and img.shape[-1] not in (3, 4):
        raise ValueError(f"image must be channels-last (H, W, 3); got shape {img.shape}, "
                         f"which looks channels-first: use image.permute(1, 2, 0) (torch) "
                         f"or image.transpose(1, 2, 0) (numpy)")
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] in (3, 4))):
        raise ValueError(f"image must be (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) grey; "
                         f"got shape {img.shape}")
    if img.size == 0:
        raise ValueError(f"image must not be empty; got shape {img.shape}")
    if not np.isfinite(img).all():
        raise ValueError("image must be finite; got NaN/inf pixel values")
    lo, hi = img.min(), img.max()
    if lo >= 0.0 and hi <= 1.0:
        return img
    if lo >= 0.0 and hi <= 255.0 and np.all(img == np.round(img)):
        return img / 255.0  # 8-bit pixel values
    return (img - lo) / (hi - lo)  # e.g. a normalised image: rescale for display only


def _as_grid(weights: Any, rows: int, cols: int, p: int,
             image_shape: tuple[int, ...]) -> np.ndarray:
    expected = (f"a ({rows}, {cols}) grid or {rows * cols} flat values, one per "
                f"{p}x{p} patch of an image of shape {image_shape}")
    w = as_weights(weights, (1, 2), expected=expected)
    if w.ndim == 2 and w.shape != (rows, cols):
        raise ValueError(f"weights must be {expected}; got shape {w.shape}")
    if w.ndim == 1 and w.size != rows * cols:
        extra = (" (is the first one a [CLS] token? drop it with weights[1:])"
                 if w.size == rows * cols + 1 else "")
        raise ValueError(f"weights must be {expected}; got {w.size} values{extra}")
    return w.reshape(rows, cols)


def _query_cell(query: Any, rows: int, cols: int) -> tuple[int, int] | None:
    if query is None:
        return None
    if isinstance(query, (int, np.integer)) and not isinstance(query, bool):
        if not 0 <= query < rows * cols:
            raise ValueError(f"query_patch must be a flat index in [0, {rows * cols}) for a "
                             f"{rows} x {cols} patch grid; got {query}")
        return divmod(int(query), cols)
    if (isinstance(query, (tuple, list)) and len(query) == 2
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                    for v in query)):
        r, c = (int(v) for v in query)
        if not (0 <= r < rows and 0 <= c < cols):
            raise ValueError(f"query_patch (row, col) must lie in the {rows} x {cols} patch "
                             f"grid; got {tuple(query)}")
        return r, c
    raise TypeError(f"query_patch must be None, a flat patch index (int) or a (row, col) "
                    f"pair of ints; got {query!r}")
