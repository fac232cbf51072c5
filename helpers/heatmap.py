"""Attention heatmaps: rows = queries, columns = keys, tokens as tick labels.

    >>> from helpers import show_attention, show_heads
    >>> show_attention(weights, TOKENS, TOKENS, title="weights sum to 1 across each row");
    >>> show_heads(weights_per_head, TOKENS, TOKENS);   # (heads, n_q, n_k) -> a grid

End a plotting cell with ``;`` (or ``plt.show()``) so that no ``<Axes ...>`` repr is printed.
Masks follow the course convention: boolean, True = may attend. Masked cells are drawn
light grey with a hatch and do not count towards the colour scale.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from ._arrays import as_labels, as_mask, as_weights, check_rows_sum_to_one, to_numpy

__all__ = ["show_attention", "show_heads"]

FIGSIZE = (5.0, 4.0)            # inches, one heatmap with its colorbar
PANEL_SIZE = (2.4, 2.4)         # inches per panel of show_heads
DPI = 100
MASK_FACE = "#dddddd"           # masked cells: light grey ...
MASK_HATCH = "#999999"          # ... with a darker hatch, distinct from every viridis colour
ANNOTATE_MAX_CELLS = 100        # annotate=None annotates n_q*n_k <= 100 ...
ANNOTATE_MAX_SIDE = 12          # ... when both sides are <= 12 (show_heads: <= 8 ...
ANNOTATE_MAX_GRID_CELLS = 800   # ... and at most 800 cells in all panels together)
MAX_TICK_LABELS = 30            # beyond this, only every k-th label is shown ...
MAX_PANEL_TICK_LABELS = 12      # ... (per show_heads panel)


def show_attention(weights: Any, queries: Sequence[Any] | None = None,
                   keys: Sequence[Any] | None = None, *, ax: Axes | None = None,
                   annotate: bool | None = None, cmap: str | Colormap = "viridis",
                   title: str | None = None, mask: Any = None, vmin: float = 0.0,
                   vmax: float | None = None, colorbar: bool = True,
                   check_rows: bool = False) -> Axes:
    """Draw one attention matrix as a heatmap.

    Args:
        weights: ``(n_queries, n_keys)`` non-negative numbers: a numpy array, a torch
            tensor (any device, ``requires_grad`` is fine) or a nested list.
        queries: ``n_queries`` row labels (tokens); default ``0 .. n_queries-1``.
        keys: ``n_keys`` column labels (tokens); default ``0 .. n_keys-1``.
        ax: the Axes to draw into; default a new figure of fixed size.
        annotate: write each value in its cell; ``None`` does so when the matrix is
            small enough to read (at most 100 cells, at most 12 per side).
        cmap: a matplotlib colour map (name or object).
        title: the Axes title, e.g. ``"causal self-attention: rows sum to 1"``.
        mask: boolean, broadcastable to ``(n_queries, n_keys)``, True = may attend.
            Masked cells are drawn grey and hatched and excluded from the colour scale.
        vmin, vmax: the colour scale; ``vmax=None`` uses the largest unmasked weight.
        colorbar: add a colorbar next to the heatmap.
        check_rows: also require every row to sum to 1 (a fully masked row may be 0).

    Returns:
        the Axes drawn into.

    Raises:
        ValueError: wrong ndim, label counts not matching the axes, NaN/inf, negative
            weights, a mask of the wrong shape, rows not summing to 1 (``check_rows``).
        TypeError: non-numeric weights, a non-boolean mask, a single string as labels.
    """
    arr = to_numpy(weights)
    w = as_weights(arr, (2,), expected="2-D (n_queries, n_keys)",
                   hint=_wrong_ndim_hint(arr.ndim, 2))
    n_q, n_k = w.shape
    q_labels = as_labels(queries, n_q, name="queries", axis="row")
    k_labels = as_labels(keys, n_k, name="keys", axis="column")
    m = as_mask(mask, w.shape)
    if check_rows:
        check_rows_sum_to_one(w, m)
    _check_annotate(annotate)
    norm = _norm(w, m, vmin, vmax)
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    if annotate is None:
        annotate = n_q * n_k <= ANNOTATE_MAX_CELLS and max(n_q, n_k) <= ANNOTATE_MAX_SIDE
    image = _draw_panel(ax, w, m, norm, _colormap(cmap), q_labels, k_labels,
                        annotate=annotate, fontsize=9, max_ticks=MAX_TICK_LABELS)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label="attention weight", shrink=0.9)
    if title is not None:
        ax.set_title(title)
    return ax


def show_heads(weights: Any, queries: Sequence[Any] | None = None,
               keys: Sequence[Any] | None = None, *, titles: Sequence[str] | None = None,
               suptitle: str | None = None, mask: Any = None,
               annotate: bool | None = None, ncols: int | None = None,
               cmap: str | Colormap = "viridis") -> Figure:
    """Draw every head (and layer) as a grid of heatmaps with ONE shared colour scale.

    Args:
        weights: ``(heads, n_queries, n_keys)``, laid out ``ncols`` panels per row and
            titled "head h"; or ``(layers, heads, n_queries, n_keys)``, one row per
            layer, titled "layer l, head h". Numpy, torch or nested lists.
        queries, keys: token labels shared by all panels (``n_queries``/``n_keys``).
        titles: one title per panel in row-major (layer, head) order.
        suptitle: a title for the whole figure.
        mask: boolean, broadcastable to ``weights.shape``, True = may attend.
        annotate: write values in the cells; ``None`` does so when each panel has at
            most 8 rows and 8 columns and all panels together at most 800 cells.
        ncols: panels per row for 3-D weights (default ``min(heads, 4)``).
        cmap: a matplotlib colour map (name or object).

    Returns:
        the Figure (one colorbar for all panels).

    Raises:
        ValueError, TypeError: as :func:`show_attention`, plus a wrong number of titles
            or a bad ``ncols``.
    """
    arr = to_numpy(weights)
    w = as_weights(arr, (3, 4),
                   expected="3-D (heads, n_queries, n_keys) or 4-D "
                            "(layers, heads, n_queries, n_keys)",
                   hint=_wrong_ndim_hint(arr.ndim, 3))
    n_q, n_k = w.shape[-2:]
    q_labels = as_labels(queries, n_q, name="queries", axis="row")
    k_labels = as_labels(keys, n_k, name="keys", axis="column")
    m = as_mask(mask, w.shape)
    _check_annotate(annotate)
    if w.ndim == 4:
        if ncols is not None:
            raise ValueError(f"ncols applies to 3-D weights only; 4-D weights of shape "
                             f"{w.shape} are drawn as {w.shape[0]} layers x {w.shape[1]} "
                             f"heads; got ncols={ncols!r}")
        nrows, ncols = w.shape[:2]
        index = list(np.ndindex(*w.shape[:2]))
        default_titles = [f"layer {l}, head {h}" for l, h in index]
    else:
        n_heads = w.shape[0]
        if ncols is None:
            ncols = min(n_heads, 4)
        if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
            raise ValueError(f"ncols must be a positive int; got {ncols!r}")
        ncols = min(int(ncols), n_heads)
        nrows = math.ceil(n_heads / ncols)
        index = [(h,) for h in range(n_heads)]
        default_titles = [f"head {h}" for h in range(n_heads)]
    titles = _panel_titles(titles, default_titles)
    if annotate is None:  # thousands of texts would be unreadable and slow to lay out
        annotate = max(n_q, n_k) <= 8 and len(index) * n_q * n_k <= ANNOTATE_MAX_GRID_CELLS
    norm = _norm(w, m, 0.0, None)
    colour_map = _colormap(cmap)
    height = PANEL_SIZE[1] * nrows + (0.4 if suptitle else 0.0)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, dpi=DPI, layout="constrained",
                             figsize=(PANEL_SIZE[0] * ncols + 0.9, height))
    used = []
    for k, (idx, panel_title) in enumerate(zip(index, titles)):
        r, c = divmod(k, ncols)
        ax = axes[r, c]
        below = (r + 1) * ncols + c < len(index)  # another panel under this one
        image = _draw_panel(ax, w[idx], None if m is None else m[idx], norm, colour_map,
                            q_labels, k_labels, annotate=annotate, fontsize=7,
                            max_ticks=MAX_PANEL_TICK_LABELS, xlabels=not below,
                            ylabels=c == 0)
        ax.set_title(panel_title, fontsize=9)
        used.append(ax)
    for ax in axes.flat[len(index):]:
        ax.set_visible(False)
    fig.colorbar(image, ax=used, label="attention weight", shrink=0.9)
    if suptitle is not None:
        fig.suptitle(suptitle)
    return fig


def _wrong_ndim_hint(ndim: int, wanted: int) -> str:
    """The tip appended to a wrong-ndim error: point to the other function."""
    if wanted == 2 and ndim in (3, 4):
        return ("for 3-D (heads, n_queries, n_keys) or 4-D (layers, heads, n_queries, "
                "n_keys) weights use show_heads")
    if wanted == 2 and ndim == 1:
        return "for a single query, pass weights[None, :] (shape (1, n_keys))"
    if wanted == 3 and ndim == 2:
        return "for one 2-D (n_queries, n_keys) matrix use show_attention"
    return ""


def _check_annotate(annotate: Any) -> None:
    if annotate is not None and not isinstance(annotate, (bool, np.bool_)):
        raise TypeError(f"annotate must be True, False or None (automatic); got {annotate!r}")


def _colormap(cmap: str | Colormap) -> Colormap:
    if isinstance(cmap, str):
        if cmap not in colormaps:
            raise ValueError(f"cmap must be the name of a matplotlib colour map, e.g. "
                             f"'viridis' or 'Blues'; got {cmap!r}")
        base = colormaps[cmap]
    elif isinstance(cmap, Colormap):
        base = cmap
    else:
        raise TypeError(f"cmap must be a colour map name or a matplotlib Colormap; got "
                        f"{type(cmap).__name__} {cmap!r}")
    return base.with_extremes(bad=(0.0, 0.0, 0.0, 0.0))  # masked: transparent under the hatch


def _norm(w: np.ndarray, m: np.ndarray | None, vmin: float, vmax: float | None) -> Normalize:
    """The colour scale, computed from the unmasked weights only."""
    visible = w if m is None else w[m]
    if vmax is None:
        vmax = float(visible.max()) if visible.size else 1.0
        if vmax <= vmin:
            vmax = vmin + 1.0
    if not (np.isfinite(vmin) and np.isfinite(vmax)) or vmin >= vmax:
        raise ValueError(f"the colour scale needs finite vmin < vmax; got vmin={vmin}, "
                         f"vmax={vmax}")
    return Normalize(vmin=float(vmin), vmax=float(vmax))


def _panel_titles(titles: Sequence[str] | None, defaults: list[str]) -> list[str]:
    if titles is None:
        return defaults
    if isinstance(titles, str):
        raise TypeError(f"titles must be a sequence of {len(defaults)} strings, one per "
                        f"panel; got the single string {titles!r} (use suptitle for one "
                        f"title above the grid)")
    titles = [str(t) for t in titles]
    if len(titles) != len(defaults):
        raise ValueError(f"titles must have one entry per panel ({len(defaults)}); got "
                         f"{len(titles)}")
    return titles


def _draw_panel(ax: Axes, w: np.ndarray, m: np.ndarray | None, norm: Normalize,
                cmap: Colormap, q_labels: list[str] | None, k_labels: list[str] | None,
                *, annotate: bool, fontsize: float, max_ticks: int, xlabels: bool = True,
                ylabels: bool = True) -> AxesImage:
    """Draw one (n_q, n_k) matrix into ``ax``; masked cells grey and hatched."""
    n_q, n_k = w.shape
    data = w if m is None else np.ma.masked_array(w, mask=~m)
    aspect = "equal" if max(n_q, n_k) <= 3 * min(n_q, n_k) else "auto"
    image = ax.imshow(data, cmap=cmap, norm=norm, interpolation="nearest", aspect=aspect)
    if m is not None and not m.all():
        ax.add_collection(PatchCollection(
            _masked_runs(m), facecolor=MASK_FACE, edgecolor=MASK_HATCH, hatch="///",
            linewidth=0.0, zorder=2))
    _set_ticks(ax, "x", n_k, k_labels, max_ticks, show=xlabels, fontsize=fontsize + 1)
    _set_ticks(ax, "y", n_q, q_labels, max_ticks, show=ylabels, fontsize=fontsize + 1)
    if xlabels:
        ax.set_xlabel("keys", fontsize=fontsize + 1)
    if ylabels:
        ax.set_ylabel("queries", fontsize=fontsize + 1)
    if annotate:
        for (i, j), value in np.ndenumerate(w):
            if m is None or m[i, j]:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=fontsize,
                        color=_text_colour(cmap(norm(value))), zorder=3)
    return image


def _masked_runs(m: np.ndarray) -> list[Rectangle]:
    """One rectangle per horizontal run of masked cells (cheap even for 512 x 512)."""
    rects = []
    for i, row in enumerate(~m):
        edges = np.flatnonzero(np.diff(np.concatenate(([0], row.astype(int), [0]))))
        for start, stop in zip(edges[::2], edges[1::2]):
            rects.append(Rectangle((start - 0.5, i - 0.5), stop - start, 1.0))
    return rects


def _set_ticks(ax: Axes, which: str, n: int, labels: list[str] | None, max_ticks: int,
               *, show: bool, fontsize: float) -> None:
    if not show:  # inner panels of a grid: no ticks at all (also much faster to draw)
        (ax.set_xticks if which == "x" else ax.set_yticks)([])
        return
    step = max(1, math.ceil(n / max_ticks))
    positions = list(range(0, n, step))
    texts = [labels[p] if labels is not None else str(p) for p in positions]
    if which == "x":
        ax.set_xticks(positions, texts, fontsize=fontsize)
        if max(len(t) for t in texts) > 2:
            # many labels: vertical, so they pack as tightly as the y labels do
            angle = 90 if len(positions) > 12 else 45
            for label in ax.get_xticklabels():
                label.set(rotation=angle, ha="right", va="center" if angle == 90 else "top",
                          rotation_mode="anchor")
    else:
        ax.set_yticks(positions, texts, fontsize=fontsize)


def _text_colour(rgba: tuple[float, float, float, float]) -> str:
    """Black on light cells, white on dark ones (relative luminance, sRGB)."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in rgba[:3])
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179 else "white"
