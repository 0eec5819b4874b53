"""HTML building blocks of the report, and its style sheet.

Every string that comes from an extraction (titles, labels, quotes, citations, notes, flags, study
ids) goes through ``esc`` (html.escape): the extractions are untrusted text and must stay inert.
``Html`` marks a string already built here from escaped parts, so that it is not escaped twice.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np

from livertrials.figures.files import palette_png


class Html(str):
    """A string that is already HTML (built here from escaped parts): ``cell`` does not escape it again."""


def esc(value) -> str:
    """Text for HTML: escaped, lists joined, nulls empty. The one door for data into the page."""
    if type(value) is str:
        return html.escape(value, quote=True)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        return "; ".join(esc(v) for v in value)
    return html.escape(str(value), quote=True)


def cell(value) -> str:
    return value if isinstance(value, Html) else esc(value)


def num(x, digits: int = 2) -> str:
    """``x`` with ``digits`` decimals; blank if it is not a finite number."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if not math.isfinite(x) else f"{x:.{digits}f}"


def table(headers: list[str], rows: list[list], cls: str = "", row_ids: list[str] | None = None) -> Html:
    """A <table>; headers are our own words, cells are escaped unless they are Html."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        rid = f' id="{esc(row_ids[i])}"' if row_ids and row_ids[i] else ""
        body.append(f"<tr{rid}>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>")
    if not rows:
        body.append(f'<tr><td colspan="{len(headers)}" class="none">none</td></tr>')
    return Html(f'<div class="scroll"><table class="{esc(cls)}"><thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(body)}</tbody></table></div>')


def section(anchor: str, title: str, *parts: str) -> Html:
    """A <section>; ``parts`` are HTML made here (data inside them already went through esc)."""
    return Html("".join(section_parts(anchor, title, *parts)))


def section_parts(anchor: str, title: str, *parts: str) -> list[str]:
    """section() as its pieces, for a page that joins them once (the forest plots are most of a page's bytes)."""
    return [f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>', *parts, "</section>"]


def para(text: str, cls: str = "") -> Html:
    return Html(f'<p class="{esc(cls)}">{esc(text)}</p>')


def present(x) -> bool:
    """True if a value is there to show (not null, NaN or empty)."""
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and str(x) != ""


def image(path: Path, alt: str, cls: str = "figure") -> Html:
    """An <img> with the file inlined as a data URI (PNG re-encoded with a small palette to keep the page light)."""
    path = Path(path)
    if not path.exists():
        return para(f"missing figure: {path.name}", "warn")
    if path.suffix == ".svg":
        data, mime = path.read_bytes(), "image/svg+xml"
    else:
        data, mime = palette_png(path.read_bytes()), "image/png"   # figures are written so already
    encoded = base64.b64encode(data).decode("ascii")
    return Html(f'<img class="{esc(cls)}" alt="{esc(alt)}" src="data:{mime};base64,{encoded}">')


# The page's one <style> block (no external style sheet: the page is one file).
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;margin:0;background:#fafafa;line-height:1.45}
main{max-width:1240px;margin:0 auto;padding:0 24px 48px;background:#fff}
header{padding:24px 0 8px;border-bottom:3px solid #0072B2}
h1{font-size:1.6em;margin:0 0 6px}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:40px}
h3{margin-top:28px;color:#0b4f7c}h4{margin:0 0 2px}h5{margin:8px 0 4px}
nav ul{display:flex;flex-wrap:wrap;gap:2px 14px;list-style:none;padding:0;margin:8px 0;font-size:13px}
p.overview{font-size:15px;margin:8px 0}
.summary{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.summary div{background:#eef5fb;border:1px solid #cfe3f3;border-radius:6px;padding:6px 12px}
.scroll{overflow-x:auto;margin:8px 0}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#f0f0f0;position:sticky;top:0}
tr:nth-child(even) td{background:#fbfbfb}
table.small{font-size:12px}
table.kv td:first-child{font-family:ui-monospace,monospace;white-space:nowrap}
table.studies{table-layout:fixed}
table.studies th:nth-child(1){width:11%}table.studies th:nth-child(2){width:12%}
table.studies th:nth-child(3){width:7%}table.studies th:nth-child(4){width:10%}
table.studies th:nth-child(5){width:23%}table.studies th:nth-child(6){width:23%}
td{overflow-wrap:break-word}
table.pooled{table-layout:fixed}
table.pooled th:nth-child(1){width:9%}table.pooled th:nth-child(2){width:6%}table.pooled th:nth-child(3){width:9%}table.pooled th:nth-child(4){width:11%}table.pooled th:nth-child(5){width:6%}
table.pooled th:nth-child(6){width:5%}table.pooled th:nth-child(7){width:11%}table.pooled th:nth-child(8){width:9%}table.pooled th:nth-child(9){width:4%}table.pooled th:nth-child(10){width:4%}
table.pooled th:nth-child(11){width:7%}table.pooled th:nth-child(12){width:9%}table.pooled th:nth-child(13){width:7%}table.pooled th:nth-child(14){width:3%}
table.sof{table-layout:fixed;font-size:13px}
table.sof th:nth-child(1){width:12%}table.sof th:nth-child(2){width:12%}table.sof th:nth-child(3){width:12%}
table.sof th:nth-child(4){width:10%}table.sof th:nth-child(5){width:18%}table.sof th:nth-child(6){width:12%}
table.sof th:nth-child(7){width:24%}
a.sofcell{color:inherit;text-decoration:none;display:block}a.sofcell:hover{text-decoration:underline;color:#0b4f7c}
.grade{white-space:nowrap;letter-spacing:1px}
ol.footnotes{font-size:12px;color:#444;padding-left:22px}
table.profile td{font-size:11px}
ul.gaps{font-size:13px}
.robbars{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:12px}
.robbars figure{margin:0}
img.rob{max-width:min(100%,900px);height:auto;display:block;margin:8px 0}
.pre{white-space:pre-line}
td.none{color:#777;font-style:italic}
figure{margin:24px 0;padding:12px;border:1px solid #e3e3e3;border-radius:6px}
figure.forest{background:#fff}
img.figure{max-width:100%;height:auto;display:block;margin:8px 0}
.cols{display:grid;grid-template-columns:minmax(260px,1fr) 2fr;gap:16px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:0;font-size:13px}
dt{font-weight:600;color:#555}dd{margin:0}
.subtitle,.small,.caption{color:#555;font-size:13px}
.note{background:#fff8e5;border-left:4px solid #E69F00;padding:6px 10px}
.ok{background:#e9f6ef;border-left:4px solid #009E73;padding:6px 10px}
.warn{background:#fdecea;border-left:4px solid #D55E00;padding:6px 10px}
.published-note{background:#f3e9f1;border-left:4px solid #CC79A7;padding:6px 10px}
.badge{display:inline-block;background:#CC79A7;color:#fff;border-radius:3px;padding:0 5px;font-size:11px;white-space:nowrap}
table.comparators td:nth-child(-n+5){background:#fbf4f9}
a.trail{font-size:12px;white-space:nowrap}
details.trail{border:1px solid #ddd;border-radius:4px;margin:4px 0;padding:2px 8px;background:#fff}
details.trail summary{cursor:pointer;font-size:13px}
details.trail pre{white-space:pre-wrap;font-size:12px;background:#f6f6f6;padding:6px;overflow-x:auto}
details:target,tr:target td{outline:2px solid #0072B2;background:#eef5fb}
.made{font-size:12px}
ul.cols3{columns:3;font-size:13px}
code{font-size:12px}
"""
