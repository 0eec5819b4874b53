"""Risk-of-bias figures: the traffic-light plot (studies x domains) and the weighted summary bars of one pool;
``draw_all`` (rule risk_of_bias_figures) draws them for the summary of findings and lists them in index.json.

robvis layout (McGuinness & Higgins 2021), but colour-blind safe: the colours are from the Okabe-Ito
palette and every judgement also has its own symbol, so the figure reads in grey scale and for every
colour-vision deficiency. "Not assessed" is drawn as such (white, "NA"), never as a judgement.
The input is the long table of livertrials.validate.risk_of_bias (RISK_OF_BIAS_TABLE columns).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.patches import Circle, Patch

from livertrials.figures.files import draw_cached, figure_bytes, figure_cache, save_figure
from livertrials.io.atomic import write_text
from livertrials.io.tables import read_table
from livertrials.validate.risk_of_bias import (
    DOMAINS,
    LEVEL_LABELS,
    LEVELS,
    NOT_ASSESSED,
    OVERALL,
    TOOLS,
    risk_of_bias_table,
)

# the fixed hash salt keeps SVG ids stable between runs (figures.files: deterministic files)
STYLE = {"svg.hashsalt": "livertrials", "font.size": 9}


@dataclass(frozen=True)
class Look:
    colour: str
    symbol: str
    text_colour: str


LOOKS = {
    "low": Look("#56B4E9", "+", "#000000"),            # sky blue
    "some_concerns": Look("#F0E442", "−", "#000000"),  # yellow
    "moderate": Look("#F0E442", "−", "#000000"),
    "high": Look("#D55E00", "×", "#000000"),           # vermillion
    "serious": Look("#D55E00", "×", "#000000"),
    "critical": Look("#000000", "!", "#FFFFFF"),       # black
    "no_information": Look("#BBBBBB", "?", "#000000"),  # grey
    NOT_ASSESSED: Look("#FFFFFF", "NA", "#555555"),    # white with a grey rim
}
EDGE = "#555555"


def _tools(table: pd.DataFrame) -> list[str]:
    return [t for t in TOOLS if t in set(table["tool"])]


def _columns(tool: str) -> list[tuple[str, str]]:
    """(domain id, short header) in the tool's order: D1..Dn, then Overall."""
    return [(d, f"D{i}") for i, d in enumerate(DOMAINS[tool], 1)] + [(OVERALL, "Overall")]


def _x(tool: str) -> list[float]:
    """Grid x of each column: one unit apart, the wider 'Overall' column set off by half a unit more."""
    n = len(DOMAINS[tool])
    return [float(i) for i in range(n)] + [n + 0.5]


def _block_height(tool: str, rows: int) -> float:
    return 2.0 + max(rows, 0.7 * len(DOMAINS[tool])) + 0.6


CELL = 0.36          # inches per grid unit: a judgement circle sits in one unit
CHAR = 0.2           # grid units per character of a study name at the default font size
KEY = 11.0           # grid units for the domain names beside each grid


def traffic_light(table: pd.DataFrame):
    """A block per tool present: a row per study, a column per domain and the overall judgement, the
    domain names beside the grid, and the judgement legend (colour and symbol) below."""
    tools = _tools(table)
    if not tools:
        raise ValueError("the risk-of-bias table is empty")
    studies = {t: list(dict.fromkeys(table.loc[table["tool"] == t, "study_id"])) for t in tools}
    judgement = {(r["tool"], r["study_id"], r["domain"]): r["judgement"] for r in table.to_dict("records")}
    shown = _legend_levels(table)
    label_units = 1 + CHAR * max(len(str(s)) for t in tools for s in studies[t])
    columns = max(_x(t)[-1] for t in tools) + 1
    width = label_units + columns + KEY
    per_row = 4
    legend_rows = math.ceil(len(shown) / per_row)
    height = 0.8 + sum(_block_height(t, len(studies[t])) for t in tools) + 1.1 + 0.8 * legend_rows + 0.2
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(width * CELL, height * CELL))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(-label_units, columns + KEY)
        ax.set_ylim(-height, 0)
        ax.axis("off")
        y = -0.8
        for tool in tools:
            y = _block(ax, tool, studies[tool], judgement, y, label_units)
        ax.text(-label_units + 0.2, y - 0.3, "Judgement", va="center", fontweight="bold")
        slot = width / per_row
        for i, level in enumerate(shown):
            x, row_y = -label_units + 0.6 + slot * (i % per_row), y - 1.1 - 0.8 * (i // per_row)
            _mark(ax, x, row_y, level, f"rob-legend|{level}", radius=0.3)
            ax.text(x + 0.5, row_y, LEVEL_LABELS[level], va="center")
    return fig


def _mark(ax, x: float, y: float, level: str, gid: str, radius: float = 0.38) -> None:
    """A judgement: its colour in a circle and its symbol on it."""
    look = LOOKS.get(level, LOOKS[NOT_ASSESSED])
    ax.add_patch(Circle((x, y), radius, facecolor=look.colour, edgecolor=EDGE, linewidth=0.8, gid=gid))
    ax.text(x, y, look.symbol, ha="center", va="center", color=look.text_colour, fontweight="bold",
            fontsize=7 if len(look.symbol) > 1 else 10, gid="-symbol|".join(gid.split("|", 1)))


def _block(ax, tool: str, studies: list[str], judgement: dict, y: float, label_units: float) -> float:
    """Draw one tool's grid from height y down; return the y below it."""
    columns, xs = _columns(tool), _x(tool)
    top = y
    ax.text(-label_units + 0.2, y, TOOLS[tool], va="center", fontweight="bold", fontsize=10)
    y -= 1.0
    for x, (_, header) in zip(xs, columns):
        ax.text(x, y, header, ha="center", va="center")
    for i, label in enumerate(DOMAINS[tool].values()):
        ax.text(xs[-1] + 0.9, y - 0.7 * i, f"D{i + 1}: {label}", va="center", fontsize=7)
    for row, study in enumerate(studies):
        row_y = y - 1.0 - row
        ax.text(-0.6, row_y, study, ha="right", va="center")
        for x, (domain, _) in zip(xs, columns):
            level = judgement.get((tool, study, domain), NOT_ASSESSED)
            _mark(ax, x, row_y, level, f"rob|{study}|{domain}|{level}")
    return top - _block_height(tool, len(studies))


def _legend_levels(table: pd.DataFrame) -> list[str]:
    """Every level of the tools present, and not assessed (the legend explains all the marks a reader may meet)."""
    levels = [lv for t in _tools(table) for lv in LEVELS[t]] + [NOT_ASSESSED]
    return list(dict.fromkeys(levels))


def weighted_summary(table: pd.DataFrame, weights: Mapping[str, float]) -> pd.DataFrame:
    """Share of the pool's weight at each judgement, per tool and domain (shares within a tool sum to 1).

    weights: study -> weight (any scale; pooled.weights are percent). Every weighted study must be in the
    table (risk_of_bias_table covers every study, "not_assessed" where nothing is recorded)."""
    missing = sorted(set(weights) - set(table["study_id"]))
    if missing:
        raise ValueError(f"studies without a row in the risk-of-bias table: {', '.join(missing)}")
    rows = table[table["study_id"].isin(list(weights))].copy()
    rows["weight"] = rows["study_id"].map(weights).astype(float)
    out = []
    for tool in _tools(rows):
        of_tool = rows[rows["tool"] == tool]
        tool_weight = sum(float(weights[s]) for s in of_tool["study_id"].unique())
        for domain, _ in _columns(tool):
            in_domain = of_tool[of_tool["domain"] == domain]
            for level in (*LEVELS[tool], NOT_ASSESSED):
                weight = in_domain.loc[in_domain["judgement"] == level, "weight"].sum()
                share = weight / tool_weight if tool_weight else 0.0
                out.append({"tool": tool, "domain": domain, "judgement": level, "share": float(share),
                            "tool_share": tool_weight / sum(float(w) for w in weights.values())})
    return pd.DataFrame(out, columns=["tool", "domain", "judgement", "share", "tool_share"])


def summary_bars(table: pd.DataFrame, weights: Mapping[str, float], title: str):
    """Horizontal bars, one per domain (and overall): the share of the pool's weight at each judgement."""
    return bars_figure(weighted_summary(table, weights), title)


def bars_figure(shares: pd.DataFrame, title: str):
    """summary_bars drawn from its shares (weighted_summary): all the figure shows."""
    labels = {(t, d): lab for t in DOMAINS for d, lab in [*DOMAINS[t].items(), (OVERALL, "Overall")]}
    bars = list(dict.fromkeys(zip(shares["tool"], shares["domain"])))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(bars) + 1.6))
        for y, (tool, domain) in enumerate(bars):
            left = 0.0
            part = shares[(shares["tool"] == tool) & (shares["domain"] == domain)]
            for level, share in zip(part["judgement"], part["share"]):
                if share <= 0:
                    continue
                look = LOOKS[level]
                ax.barh(-y, share, left=left, color=look.colour, edgecolor=EDGE, linewidth=0.6, height=0.7,
                        gid=f"rob-bar|{tool}|{domain}|{level}")
                if share >= 0.06:
                    ax.text(left + share / 2, -y, look.symbol, ha="center", va="center", color=look.text_colour,
                            fontweight="bold", gid=f"rob-bar-symbol|{tool}|{domain}|{level}")
                left += share
        tool_share = dict(zip(shares["tool"], shares["tool_share"]))
        ax.set_yticks([-y for y in range(len(bars))],
                      [f"{TOOLS[t]}: {labels[t, d]}" + (f" ({tool_share[t]:.0%} of the weight)" if d == OVERALL and
                                                    len(tool_share) > 1 else "") for t, d in bars])
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x:.0%}"))
        ax.set_xlabel("share of the pooled weight")
        ax.set_title(title, loc="left")
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
        present = [lv for lv in LOOKS if lv in set(shares.loc[shares["share"] > 0, "judgement"])]
        ax.legend(handles=[Patch(facecolor=LOOKS[lv].colour, edgecolor=EDGE,
                                 label=f"{LOOKS[lv].symbol}  {LEVEL_LABELS[lv]}") for lv in present],
                  loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(bars) < 4 else -0.12), ncol=4, frameon=False)
        fig.tight_layout()
    return fig


def write_traffic_light(table: pd.DataFrame, out_dir: Path, formats: list[str],
                        stem: str = "risk_of_bias_traffic_light") -> dict[str, str]:
    with plt.rc_context(STYLE):   # the SVG hash salt is read when the file is written
        return save_figure(traffic_light(table), out_dir, stem, formats, tight=True)


def write_summary_bars(table: pd.DataFrame, weights: Mapping[str, float], title: str, out_dir: Path,
                       formats: list[str], stem: str) -> dict[str, str]:
    with plt.rc_context(STYLE):
        return save_figure(summary_bars(table, weights, title), out_dir, stem, formats, tight=True)


# ------------------------------------------------------------------------------------------------
# the rule risk_of_bias_figures: the traffic light and the bars of every pooled SoF result, listed in index.json
# ------------------------------------------------------------------------------------------------

MAX_TRAFFIC_LIGHT_STUDIES = 150   # rows of one traffic light (a taller figure is unreadable and too large a PNG)
TRAFFIC_LIGHT_STEM = "risk_of_bias_traffic_light"


def with_missing_studies(table: pd.DataFrame, studies) -> pd.DataFrame:
    """The table with "not assessed" rows for studies it lacks (a study never gets a judgement it was not given)."""
    present = set(table["study_id"])   # once: a set per study made this quadratic (minutes at 1,000 studies)
    missing = [s for s in dict.fromkeys(studies) if s not in present]
    if not missing:
        return table
    extra = risk_of_bias_table([{"id": s} for s in missing])
    return pd.concat([table, extra], ignore_index=True) if len(table) else extra


def bar_specs(sof: pd.DataFrame, pooled: pd.DataFrame) -> list[dict]:
    """One bar chart per summary-of-findings row that pools two or more studies: its id, title and the weights
    (percent of the pooled weight per study, from pooled.weights). A single study's judgements are its traffic-light row."""
    by_id = {r["pooled_id"]: r for r in pooled[["pooled_id", "study_ids", "weights"]].to_dict("records")}
    specs = []
    for row in sof.to_dict("records"):
        pool = by_id.get(row["pooled_id"])
        if pool is None or int(row["k"]) < 2:
            continue
        weights = {str(s): float(w) for s, w in zip(pool["study_ids"], pool["weights"])}
        specs.append({"sof_id": row["sof_id"], "pooled_id": row["pooled_id"], "comparison": row["comparison"],
                      "outcome": row["outcome"], "window": row["window"], "k": int(row["k"]),
                      "title": f"{row['comparison_label']}: {row['outcome_label']}, {row['window']} (k = {int(row['k'])})",
                      "weights": weights})
    return specs


def draw_all(rob_path: Path, sof_path: Path, pooled_path: Path, out_dir: Path, manifest_path: Path,
             formats: list[str], processes: int = 1, cache_dir: str | Path | None = None) -> dict:
    """Draw the traffic light of the studies behind the summary of findings (at most MAX_TRAFFIC_LIGHT_STUDIES) and
    the weighted bars of every pooled SoF row into out_dir; write the manifest (file names relative to it).

    cache_dir: the content-addressed cache (config cache_dir; None or "": off). A figure is keyed by what it shows
    (the traffic light's judgements, a bar chart's shares and title) and the formats, so after an edit only the
    figures whose content changed are drawn again; the files are the same either way."""
    table, sof, pooled = read_table(rob_path), read_table(sof_path), read_table(pooled_path)
    Path(out_dir).mkdir(parents=True, exist_ok=True)   # the rule's output folder, also when nothing is drawn
    behind = list(dict.fromkeys(str(s) for ids in sof["study_ids"] for s in ids)) if len(sof) else []
    shown = sorted(behind)[:MAX_TRAFFIC_LIGHT_STUDIES]
    specs = bar_specs(sof, pooled)
    # what each figure is drawn from: (stem, kind, data, title)
    jobs = []
    if shown:
        rows = with_missing_studies(table, shown)
        light = rows.loc[rows["study_id"].isin(shown), ["tool", "study_id", "domain", "judgement"]]
        jobs.append((TRAFFIC_LIGHT_STEM, "traffic_light", light.reset_index(drop=True), None))
    for spec in specs:
        shares = weighted_summary(with_missing_studies(table, spec["weights"]), spec["weights"])
        jobs.append((f"risk_of_bias_bars_{spec['sof_id']}", "bars", shares, spec["title"]))

    def draw(i: int) -> dict[str, dict[str, bytes]]:
        stem, kind, data, title = jobs[i]
        with plt.rc_context(STYLE):   # the SVG hash salt is read when the file is written
            fig = traffic_light(data) if kind == "traffic_light" else bars_figure(data, title)
            return {stem: figure_bytes(fig, formats, tight=True)}

    cache = figure_cache(cache_dir, "risk_of_bias")
    drawn = draw_cached(cache, out_dir, len(jobs), lambda i: (*jobs[i], list(formats), STYLE), draw, processes)
    files = [d[stem] for d, (stem, *_) in zip(drawn, jobs)]
    traffic = files.pop(0) if shown else None
    assessed = set(table.loc[table["assessed"], "study_id"]) if len(table) else set()
    manifest = {"directory": os.path.relpath(out_dir, Path(manifest_path).parent),
                "traffic_light": {"files": traffic, "studies": shown, "studies_behind_sof": len(behind),
                                  "assessed": sorted(assessed & set(shown)),
                                  "not_drawn": len(behind) - len(shown)},
                "bars": [{**{k: v for k, v in spec.items() if k != "weights"}, "files": f}
                         for spec, f in zip(specs, files)]}
    write_text(manifest_path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"risk of bias: traffic light of {len(shown)} studies ({len(manifest['traffic_light']['assessed'])} assessed), "
          f"{len(specs)} weighted bar charts")
    print(f"{cache.summary()}; {cache.prune()} unused entries removed")
    return manifest
