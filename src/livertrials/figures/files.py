"""Figure files: one way to write a matplotlib figure, used by every figure the pipeline draws.

* Deterministic: SVG and PDF carry no date, PNG no software tag, and SVG ids use a fixed hash
  salt (in the styles below, which each drawing module applies), so identical inputs give identical bytes.
* Atomic: each file is written under a temporary name and renamed (livertrials.io.atomic).
* Small PNGs: the figures are flat colours and text, so the PNG is stored with a 64-colour
  palette (PIL fast octree), which looks the same at about a third of the size and can be
  embedded in the HTML report as it is.

``in_processes`` draws independent figures in forked worker processes: text rendering is the
cost of every figure, and the files are the same whichever process writes them.
"""

from __future__ import annotations

import io
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from livertrials.io.atomic import atomic_path  # noqa: E402

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
    files = {}
    for fmt in formats:
        with atomic_path(Path(out_dir) / f"{stem}.{fmt}") as tmp:
            metadata = {"Date": None} if fmt in {"svg", "pdf"} else {"Software": None}
            if fmt == "png" and not tight:
                # the Agg canvas pixels go straight to the palette PNG: no PNG encoded and decoded in between
                fig.set_dpi(DPI)
                fig.canvas.draw()
                tmp.write_bytes(_palette_png_from_rgba(np.asarray(fig.canvas.buffer_rgba())))
            elif fmt == "png":
                buffer = io.BytesIO()
                fig.savefig(buffer, format="png", dpi=DPI, metadata=metadata, bbox_inches="tight")
                tmp.write_bytes(palette_png(buffer.getvalue()))
            else:
                fig.savefig(tmp, format=fmt, dpi=DPI, metadata=metadata, bbox_inches="tight" if tight else None)
        files[fmt] = f"{stem}.{fmt}"
    plt.close(fig)
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
    global _TASK
    if processes <= 1 or count <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [task(i) for i in range(count)]
    _TASK = task
    try:
        with ProcessPoolExecutor(min(processes, count), mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_run_task, range(count)))
    finally:
        _TASK = None
