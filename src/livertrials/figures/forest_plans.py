"""Which forests to draw, read from the pooled tables, and what each one's figure depends on (its cache key).

One forest per comparison x outcome x window x measure (x design, basis, MELD variant) of the main analysis, one
per subgroup variable where subgroup rows exist, and one per comparison x mortality/survival outcome across windows.
A ForestPlan names a forest and its pooled rows before any study row is read: the study rows of every forest (text
for each side of 200,000 rows at 1,000 studies) took seconds to build, for figures that were all in the cache. So a
forest is keyed by the rows its spec reads (``Forests.content``: its pooled rows and the comparisons.parquet rows of
its studies, as row digests) and its spec is built only when it is drawn (``Forests.specs``). Whatever ``spec``
reads, ``content`` must cover: a stale figure must never be served.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from livertrials.figures.forest_specs import (
    IDENTITY,
    Block,
    ForestSpec,
    Sides,
    StudyLine,
    as_text,
    comparison_sides,
    count_text,
    measure_text,
    number_text,
    plain,
)
from livertrials.io.cache import columns_signature, row_digests
from livertrials.synthesis.settings import LONGEST_FOLLOW_UP

# the columns of comparisons.parquet a study row shows (study_lines, _sides)
STUDY_COLUMNS = ["study_id", "timepoint_text", "yi", "ci_lb", "ci_ub", "se",
                 *(f"{c}_{s}" for s in (1, 2) for c in ("events", "total", "mean", "sd", "n"))]


@dataclass(frozen=True)
class ForestPlan:
    """One forest before its study rows are read; rows are positions in ``Forests.rows``."""

    id: str
    kind: str                    # main, subgroup or across_windows
    head: int                    # the row its title and subtitle come from
    blocks: tuple                # (title, row) of each block, top to bottom
    overall: int | None          # drawn under the blocks, and the weights of their studies (subgroup forests)
    extra: str                   # the subtitle's last words
    sides: Sides

    @property
    def main(self) -> int:
        """The row of the forest's main result (ForestSpec.main_row)."""
        return self.overall if self.overall is not None else self.blocks[0][1]


def default_rows(pooled: pd.DataFrame, analysis: str, settings: dict) -> pd.DataFrame:
    """Rows fitted with the default estimator and test (k = 1 rows carry test z whatever the default)."""
    rows = pooled[(pooled["analysis"] == analysis) & (pooled["method"] == settings["default_method"])]
    return rows[(rows["test"] == settings["default_test"]) | (rows["k"] == 1)]


class Forests:
    """Every forest of a pooled table: their plans (``plans``), cache key contents and specs.

    settings: the synthesis settings (forest_specs.synthesis_settings); the other arguments are the forest config
    keys of the same names. measures: effect measures that get main and subgroup forests; the others stay in the
    tables. comparisons: comparisons.parquet with at least comparison_id and the STUDY_COLUMNS it has."""

    def __init__(self, pooled: pd.DataFrame, comparisons: pd.DataFrame, settings: dict, *, measures,
                 across_windows_outcomes, across_windows_measure: str, max_rows: int):
        pooled = pooled.drop(columns=["record_ids"], errors="ignore")   # not drawn; the largest lists of the table
        drawn = pd.concat([default_rows(pooled, "main", settings), default_rows(pooled, "subgroup", settings)])
        self.frame = drawn[drawn["measure"].isin([*measures, across_windows_measure])].reset_index(drop=True)
        self.rows: list[dict] = self.frame.to_dict("records")
        self.comparisons, self.max_rows = comparisons, max_rows
        self.plans = _plans(self.frame, self.rows, settings, list(measures), across_windows_outcomes,
                            across_windows_measure)
        self._keyed: tuple | None = None   # what content() needs of both tables, made on its first call

    def specs(self, indices: Iterable[int]) -> dict[int, ForestSpec]:
        """The specs of plans ``indices``; only their studies' comparisons rows become dicts (there can be millions)."""
        indices = list(indices)
        ids = {cid for i in indices for _, r in self.plans[i].blocks for cid in self.rows[r]["comparison_ids"]}
        by_id = comparison_rows(self.comparisons[self.comparisons["comparison_id"].isin(ids)])
        return {i: self._spec(self.plans[i], by_id) for i in indices}

    def _spec(self, plan: ForestPlan, by_id: dict[str, dict]) -> ForestSpec:
        rows, overall = self.rows, None if plan.overall is None else self.rows[plan.overall]
        # subgroup blocks take their weights from the overall model, as RevMan does, so the column adds up to 100%
        blocks = [Block(title, study_lines(rows[r], by_id, overall), rows[r]) for title, r in plan.blocks]
        return _spec(plan.kind, plan.id, rows[plan.head], blocks, overall, plan.extra, self.max_rows, plan.sides)

    def content(self, i: int) -> list:
        """Everything plan i's spec is built from, for its cache key: the plan's words, max_rows, the digests of its
        pooled rows (every column but record_ids, which no forest shows) and of the comparisons rows (STUDY_COLUMNS)
        of each block's studies, in order, and the columns (names and dtypes) of both tables."""
        if self._keyed is None:
            self._keyed = self._key_tables()
        digests, studies, columns = self._keyed
        plan = self.plans[i]
        rows = [plan.head, *(r for _, r in plan.blocks), *([] if plan.overall is None else [plan.overall])]
        return [plan.id, plan.kind, plan.extra, dataclasses.astuple(plan.sides), self.max_rows,
                [title for title, _ in plan.blocks], plan.overall is None, digests[rows],
                [studies[r] for _, r in plan.blocks], columns]

    def _key_tables(self) -> tuple:
        """The digests of the drawn pooled rows, the digests of each one's studies' comparisons rows, and the columns
        of both tables (one lookup of every study: a lookup per pooled row took half a second at 1,000 studies)."""
        table_ids = self.comparisons["comparison_id"]
        kept = np.flatnonzero(~table_ids.duplicated(keep="last").to_numpy())   # the row comparison_rows keeps
        ids = [np.asarray(row["comparison_ids"], dtype=object) for row in self.rows]
        positions = (pd.Index(table_ids.to_numpy()[kept]).get_indexer(np.concatenate(ids)) if ids
                     else np.empty(0, dtype=np.intp))
        # only the rows of studies drawn are digested; an id not in the table (-1) gets digest 0, the last element:
        # its forest fails when its spec is built, as it did before
        used = np.unique(positions[positions >= 0])
        digests = np.zeros(len(kept) + 1, dtype=np.uint64)
        digests[used] = row_digests(_shown(self.comparisons.iloc[kept[used]]))
        studies = np.split(digests[positions], np.cumsum([len(x) for x in ids])[:-1])
        columns = [columns_signature(self.frame), columns_signature(_shown(self.comparisons.iloc[:0]))]
        return row_digests(self.frame), studies, columns


def forest_specs(pooled: pd.DataFrame, comparisons: pd.DataFrame, settings: dict, *, measures,
                 across_windows_outcomes, across_windows_measure: str, max_rows: int) -> list[ForestSpec]:
    """Every forest to draw (Forests, with every spec built)."""
    forests = Forests(pooled, comparisons, settings, measures=measures, across_windows_outcomes=across_windows_outcomes,
                      across_windows_measure=across_windows_measure, max_rows=max_rows)
    specs = forests.specs(range(len(forests.plans)))
    return [specs[i] for i in range(len(forests.plans))]


# --------------------------------------------------------------------------------------
# What to draw
# --------------------------------------------------------------------------------------

def _plans(frame: pd.DataFrame, rows: list[dict], settings: dict, measures: list, across_windows_outcomes,
           across_windows_measure: str) -> list[ForestPlan]:
    """Main analyses, their subgroup variables, and mortality/survival across windows, each within one comparison
    (frame: the drawn pooled rows, main analyses first; rows: the same as dicts)."""
    main = frame[frame["analysis"] == "main"]
    # subgroup rows by the identity of their main analysis
    by_identity: dict[tuple, list[int]] = {}
    for r in frame.index[frame["analysis"] == "subgroup"]:
        if plain(rows[r]["subgroup_variable"]) is not None:
            by_identity.setdefault(_identity(rows[r]), []).append(r)
    plans = []
    for m in main.index[main["measure"].isin(measures)]:
        row = rows[m]
        ident = [row[k] for k in IDENTITY]
        sides = comparison_sides(settings, row.get("comparison"))
        readable = [row.get("comparison"), row["outcome"], row["window"], row["measure"]]
        plans.append(ForestPlan(_stem(readable, ident), "main", m, ((None, m),), None, "", sides))
        same = by_identity.get(_identity(row), [])
        for variable in sorted({rows[r]["subgroup_variable"] for r in same}):
            levels = sorted((r for r in same if rows[r]["subgroup_variable"] == variable),
                            key=lambda r: (plain(rows[r]["subgroup_level"]) is None, as_text(rows[r]["subgroup_level"])))
            blocks = tuple((f"{variable}: {rows[r]['subgroup_level']}", r) for r in levels)
            stem = _stem(readable + ["by", variable], [*ident, variable])
            plans.append(ForestPlan(stem, "subgroup", m, blocks, m, f"subgroups by {variable}", sides))
    rank = {w["label"]: i for i, w in enumerate(settings["windows"])}
    for outcome in across_windows_outcomes:
        # every window but the longest follow-up, which has a main forest of its own
        mine_all = main[(main["outcome"] == outcome) & (main["measure"] == across_windows_measure)
                        & (main["design"] == "between_arms") & (main["window"] != LONGEST_FOLLOW_UP)]
        for comparison, mine in mine_all.groupby("comparison", sort=False):
            if mine["window"].nunique() < 2:    # one window: the main forest already shows it
                continue
            windows = sorted(mine.index, key=lambda r: rank.get(rows[r]["window"], 99))
            stem = _stem([comparison, outcome, "all-windows", across_windows_measure],
                         [comparison, outcome, across_windows_measure])
            plans.append(ForestPlan(stem, "across_windows", windows[0], tuple((f"{rows[r]['window']}", r) for r in windows),
                                    None, "every analysis window", comparison_sides(settings, comparison)))
    return plans


def _stem(readable: list, identity: list) -> str:
    """File stem: readable parts, plus a short hash of the full identity so two pools never share a name."""
    slug = "_".join("".join(ch if ch.isalnum() else "-" for ch in as_text(p)).strip("-") for p in readable if as_text(p))
    digest = hashlib.sha1(json.dumps([plain(p) for p in identity], default=str).encode()).hexdigest()[:6]
    return f"forest_{slug}_{digest}"


def _identity(row: dict) -> tuple:
    """The row's IDENTITY values, missing ones as None (so that missing matches missing)."""
    return tuple(None if plain(row[k]) is None else row[k] for k in IDENTITY)


def _spec(kind: str, stem: str, row: dict, blocks: list[Block], overall: dict | None, extra: str,
          max_rows: int, sides: Sides) -> ForestSpec:
    unit = as_text(row.get("unit")) or None
    measure = row["measure"]
    what = measure_text(measure, unit)
    window = "all windows" if kind == "across_windows" else row["window"]
    design = "" if row["design"] != "within_arm" else (
        f"; {sides.experimental} arms, follow-up vs baseline (pre-post correlation {row['pre_post_correlation']:g})")
    meld = f"; MELD variant {row['meld_variant']}" if as_text(row.get("meld_variant")) else ""
    subtitle = (f"{sides.label}: {what}{design}; basis: {row['basis']}{meld.replace('_', ' ')}"
                + (f"; {extra}" if extra else ""))
    return ForestSpec(stem, kind, f"{row['outcome_label']}, {window}", subtitle, measure, as_text(row["benefit"]),
                      row["design"], unit, blocks, overall, max_rows, sides)


# --------------------------------------------------------------------------------------
# Study rows
# --------------------------------------------------------------------------------------

def _shown(comparisons: pd.DataFrame) -> pd.DataFrame:
    return comparisons[[c for c in STUDY_COLUMNS if c in comparisons.columns]]


def comparison_rows(comparisons: pd.DataFrame) -> dict[str, dict]:
    """comparisons.parquet as one dict per comparison_id, with the columns a study row shows: a pool at 1,000 studies
    looks up thousands of them (and all 49 columns of 100,000 rows took seconds to convert)."""
    return dict(zip(comparisons["comparison_id"], _shown(comparisons).to_dict("records")))


def _sides(c: dict) -> tuple[tuple[str, str], tuple[str, str]]:
    out = []
    for s in (1, 2):
        if np.isfinite(c.get(f"events_{s}", np.nan)):
            out.append((count_text(c[f"events_{s}"]), count_text(c[f"total_{s}"])))
        elif np.isfinite(c.get(f"mean_{s}", np.nan)):
            out.append((f"{number_text(c[f'mean_{s}'])} ({number_text(c[f'sd_{s}'])})", count_text(c[f"n_{s}"])))
        else:
            out.append(("–", count_text(c.get(f"n_{s}", np.nan))))
    return out[0], out[1]


def _weights(row: dict) -> dict[str, float | None]:
    """Weight (percent) of each comparison in a pooled row; None when nothing was pooled (k = 1)."""
    ids = list(row["comparison_ids"])
    return dict(zip(ids, row["weights"])) if row["k"] > 1 else dict.fromkeys(ids)


def study_lines(pooled_row: dict, by_id: dict[str, dict], weights_from: dict | None = None) -> list[StudyLine]:
    """The studies of one pooled row, in its order, with their weights in ``weights_from`` (default: that row).

    by_id: comparisons.parquet rows by comparison_id (see comparison_rows).
    """
    weights = _weights(weights_from if weights_from is not None else pooled_row)
    lines = []
    for cid in pooled_row["comparison_ids"]:
        weight = weights.get(cid)
        c = by_id[cid]
        if "_sides" not in c:   # a comparison is in many forests (windows, subgroups): its texts are made once
            c["_sides"] = _sides(c)
        s1, s2 = c["_sides"]
        lines.append(StudyLine(c["study_id"], cid, as_text(c["timepoint_text"]), s1, s2, c["yi"], c["ci_lb"], c["ci_ub"],
                               weight, c["se"]))
    return lines
