"""Figure files: one way to write a matplotlib figure, used by every figure the pipeline draws.

* Deterministic: SVG and PDF carry no date, PNG no software tag, and SVG ids use a fixed hash
  salt (in the styles below, which each drawing module applies), so identical inputs give identical bytes.
* Atomic: each file is written under a temporary name and renamed (livertrials.io.atomic).
* Small PNGs: the figures are flat colours and text, so the PNG is stored with a 64-colour
  palette (PIL fast octree), which looks the same at about a third of the size and can be
  embedded in the HTML report as it is.

``in_processes`` draws independent figures in forked worker processes: text rendering is the
cost of every figure, and the files are the same whichever process writes them. ``draw_cached`` adds the
content-addressed cache (livertrials.io.cache): a figure whose inputs did not change since the last build is
written from the stored bytes of its files, not drawn again (``cached_drawings``: with what else is known of it).
"""

from __future__ import annotations

import io
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import PIL  # noqa: E402
from matplotlib import ft2font  # noqa: E402

from livertrials.io.atomic import atomic_path  # noqa: E402
from livertrials.io.cache import ContentCache, columns_signature, content_key, row_digests  # noqa: E402
from livertrials.lineage.run_info import package_source_digest  # noqa: E402

DPI = 150
PALETTE_COLOURS = 64
# byte 25 of a PNG file is the colour type of its IHDR chunk; 3 = palette (PNG specification, section 11.2.2)
PNG_COLOUR_TYPE_OFFSET = 25
PNG_PALETTE = 3
# matplotlib settings of the figures (applied by the module that draws them); the fixed salt keeps SVG ids stable
HARMONIZED_STYLE = {"svg.hashsalt": "livertrials", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}
FOREST_STYLE = {"svg.hashsalt": "livertrials", "font.size": 8}


def save_figure(fig, out_dir: Path, stem: str, formats: list[str], tight: bool = False) -> dict[str, str]:
    """Write ``fig`` as ``out_dir/stem.<format>`` for every format, close it; return the file name per format."""
    return write_figure(out_dir, stem, figure_bytes(fig, formats, tight))


def figure_bytes(fig, formats: list[str], tight: bool = False) -> dict[str, bytes]:
    """The bytes of ``fig``'s file in every format (the files save_figure writes); closes the figure."""
    out = {}
    try:
        for fmt in formats:
            metadata = {"Date": None} if fmt in {"svg", "pdf"} else {"Software": None}
            buffer = io.BytesIO()
            if fmt == "png" and not tight:
                # the Agg canvas pixels go straight to the palette PNG: no PNG encoded and decoded in between
                fig.set_dpi(DPI)
                fig.canvas.draw()
                out[fmt] = _palette_png_from_rgba(np.asarray(fig.canvas.buffer_rgba()))
            elif fmt == "png":
                fig.savefig(buffer, format="png", dpi=DPI, metadata=metadata, bbox_inches="tight")
                out[fmt] = palette_png(buffer.getvalue())
            else:
                fig.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata, bbox_inches="tight" if tight else None)
                out[fmt] = buffer.getvalue()
    finally:
        plt.close(fig)
    return out


def write_figure(out_dir: Path, stem: str, data: dict[str, bytes]) -> dict[str, str]:
    """Write ``data`` (format -> bytes) as ``out_dir/stem.<format>``, each atomically; return the file name per format."""
    files = {}
    for fmt, raw in data.items():
        with atomic_path(Path(out_dir) / f"{stem}.{fmt}") as tmp:
            tmp.write_bytes(raw)
        files[fmt] = f"{stem}.{fmt}"
    return files


def is_palette_png(raw: bytes) -> bool:
    return raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > PNG_COLOUR_TYPE_OFFSET and raw[PNG_COLOUR_TYPE_OFFSET] == PNG_PALETTE


def palette_png(raw: bytes) -> bytes:
    """The PNG with a 64-colour palette, or unchanged if it already has one or would not get smaller."""
    if is_palette_png(raw):
        return raw
    from PIL import Image  # Pillow is a dependency of matplotlib

    small = _quantized(Image.open(io.BytesIO(raw)).convert("RGB"))
    return small if len(small) < len(raw) else raw


def _palette_png_from_rgba(rgba) -> bytes:
    from PIL import Image

    return _quantized(Image.fromarray(rgba, "RGBA").convert("RGB"))


def _quantized(image) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    image.quantize(colors=PALETTE_COLOURS, method=Image.Quantize.FASTOCTREE).save(out, format="PNG")
    return out.getvalue()


_TASK = None   # the task of the running in_processes call; forked workers inherit it


def _run_task(index: int):
    return _TASK(index)


def in_processes(task, count: int, processes: int) -> list:
    """[task(0), ..., task(count - 1)], computed by up to ``processes`` forked workers (serially if 1, if there
    is one task, or where fork is not available). A worker that dies raises BrokenProcessPool here."""
    return list(in_processes_iter(task, count, processes))


def in_processes_iter(task, count: int, processes: int) -> Iterator:
    """in_processes, yielding each result in task order as soon as it is there (the caller can write it and let it go)."""
    global _TASK
    if processes <= 1 or count <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield from (task(i) for i in range(count))
        return
    _TASK = task
    try:
        with ProcessPoolExecutor(min(processes, count), mp_context=multiprocessing.get_context("fork")) as pool:
            yield from pool.map(_run_task, range(count))
    finally:
        _TASK = None


# --------------------------------------------------------------------------------------
# Figures from the cache (livertrials.io.cache)
# --------------------------------------------------------------------------------------

def figure_cache(cache_dir: str | Path | None, namespace: str) -> ContentCache:
    """The cache of one rule's figures (``cache_dir`` "" or None: off). The code part of every key is the package
    source and the renderer: matplotlib, Pillow and FreeType decide the bytes as much as our code does."""
    code = content_key(package_source_digest(), matplotlib.__version__, PIL.__version__, ft2font.__freetype_version__,
                       DPI, PALETTE_COLOURS)
    return ContentCache(str(cache_dir) if cache_dir else None, namespace, code)


def frame_content(frame: pd.DataFrame) -> list:
    """A table as a cache key part: its columns and one digest per row (io.cache.row_digests), quick at 100,000 rows
    where a canonical text of every cell takes seconds."""
    return [columns_signature(frame), row_digests(frame)]


Files = dict[str, dict[str, bytes]]   # file stem -> format -> bytes: the files of one cached drawing


def draw_cached(cache: ContentCache, out_dir: Path, count: int, key: Callable[[int], tuple],
                draw: Callable[[int], Files], processes: int = 1) -> list[dict[str, dict[str, str]]]:
    """Write the files of drawings 0 .. count - 1 into out_dir: from the cache where ``cache.key(*key(i))`` has an
    entry, else ``draw(i)`` (in up to ``processes`` forked workers) stored under that key. Returns, per drawing, the
    file names per format of each stem.

    The keys, lookups and stores all happen in this process (the workers only draw), so the cache's counters and
    its record of used keys (what ``prune`` keeps) are complete."""
    return [names for names, _ in cached_drawings(cache, out_dir, count, key, lambda i: (draw(i), None), processes)]


def cached_drawings(cache: ContentCache, out_dir: Path, count: int, key: Callable[[int], tuple],
                    draw: Callable[[int], tuple[Files, Any]], processes: int = 1,
                    prepare: Callable[[list[int]], None] | None = None) -> list[tuple[dict[str, dict[str, str]], Any]]:
    """draw_cached for drawings with a note (anything picklable besides their files, e.g. what a manifest says about
    them), cached with their files: ``draw(i)`` returns (files, note); returns (file names per format of each stem,
    note) per drawing. ``prepare(indices)``, if given, is called here with the drawings to draw, before any is drawn
    and only if there are some: what they need is built only for them, and once, before the workers fork."""
    keys = [cache.key(*key(i)) if cache.enabled else None for i in range(count)]
    out: list[Any] = [None] * count
    missing = []
    for i, k in enumerate(keys):
        found, value = cache.get(k) if k is not None else (False, None)
        if found:
            out[i] = (_write_all(out_dir, value[0]), value[1])
        else:
            missing.append(i)
    if missing and prepare is not None:
        prepare(missing)
    for i, value in zip(missing, in_processes_iter(lambda j: draw(missing[j]), len(missing), processes)):
        cache.put(keys[i], value)
        out[i] = (_write_all(out_dir, value[0]), value[1])
    return out


def _write_all(out_dir: Path, value: Files) -> dict[str, dict[str, str]]:
    return {stem: write_figure(out_dir, stem, data) for stem, data in value.items()}
