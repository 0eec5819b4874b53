"""Pooling: comparisons grouped into pools (comparison x outcome x window x measure, and design, basis, MELD
variant, pre-post correlation; a pool never spans two declared comparisons), the analyses of each pool (main with every configured method and test, subgroups,
sensitivity, leave-one-out), fitted with ``synthesis.meta``; stable pooled ids and the reading order."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd

from livertrials.io.cache import ContentCache, columns_signature, row_digests
from livertrials.synthesis import meta
from livertrials.synthesis.event_pools import event_rows
from livertrials.synthesis.measures import RATIO_MEASURES
from livertrials.synthesis.rows import optional_float, stable_id, text
from livertrials.synthesis.schemas import POOLED
from livertrials.synthesis.settings import LONGEST_FOLLOW_UP, Settings
from livertrials.synthesis.subgroup_differences import add_subgroup_tests

GROUP_KEYS = ["comparison", "design", "pool_basis", "outcome", "window", "measure", "meld_key", "pre_post_correlation"]
MD_POOL_BASIS = "final values or change (MD)"
POOLED_TYPES = ("main", "within_arm")   # comparison types that are pooled (arm-vs-arm contrasts never are)


def pool_basis(frame: pd.DataFrame) -> pd.Series:
    """Bases that may share a pool: for MD, final values, changes and reported MDs together
    (Cochrane Handbook 10.5.2); for SMD and everything else, one basis per pool."""
    return frame["basis"].where(frame["measure"] != "MD", MD_POOL_BASIS)


def with_pool_keys(comparisons: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """A copy of comparisons with the pool key columns pool_basis and meld_key (MELD outcomes are pooled per
    variant unless pool_across_meld_variants; "" for every other outcome)."""
    frame = comparisons.copy()
    frame["pool_basis"] = pool_basis(frame)
    meld = frame["outcome"].str.startswith("meld")
    variant = frame["meld_variant"].map(lambda v: text(v) or "not_stated")
    frame["meld_key"] = np.where(meld, "any" if settings.pool_across_meld_variants else variant, "")
    return frame


_RMA_FIELDS = ("estimate", "se", "df", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "tau2_se", "tau2_ci_lb",
               "tau2_ci_ub", "tau", "Q", "Q_df", "Q_p", "I2", "I2_ci_lb", "I2_ci_ub", "H2", "H2_ci_lb", "H2_ci_ub",
               "converged", "iterations", "method", "method_used", "test", "level", "k")


def pool_effects(yi, vi, method: str, test: str, settings: Settings, ratio: bool = False) -> dict:
    """meta.rma on study effects, as the numeric part of a pooled-table row (ratio_*: exp for log measures)."""
    res = meta.rma(np.asarray(yi, dtype=float), np.asarray(vi, dtype=float), method=method, test=test,
                   level=settings.level, fallback=settings.fallback, predtype=settings.prediction_interval)
    return _pooled_numbers(res, settings, ratio)


def _pooled_numbers(res: meta.RmaResult, settings: Settings, ratio: bool) -> dict:
    row = {name: getattr(res, name) for name in _RMA_FIELDS}
    for name in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        row["ratio_" + name] = math.exp(row[name]) if ratio and math.isfinite(row[name]) else None
    row.update(statistic=res.zval_or_tval, pooled=res.pooled, warnings=list(res.warnings),
               prediction_interval=settings.prediction_interval, weights=list(res.weights))
    return row


@dataclass(frozen=True)
class _Pool:
    """The comparisons of one pool, sorted by study, as arrays and lists: an analysis picks its rows with a
    boolean mask (a DataFrame subset per analysis and per fit dominated the time on large corpora)."""

    frame: pd.DataFrame   # the rows, sorted by study
    yi: np.ndarray
    vi: np.ndarray
    study_ids: list[str]
    comparison_ids: list[str]
    record_ids: list       # per row
    ratio: bool

    @classmethod
    def of(cls, group: pd.DataFrame) -> _Pool:
        group = group.sort_values("study_id")   # a study appears once per pool, so this order is unique
        return cls(group, group["yi"].to_numpy(dtype=float), group["vi"].to_numpy(dtype=float),
                   group["study_id"].tolist(), group["comparison_id"].tolist(), group["record_ids"].tolist(),
                   ratio=group["measure"].iloc[0] in RATIO_MEASURES)


def _fit(pool: _Pool, keep: np.ndarray, models: list[tuple[str, str]], settings: Settings) -> list[dict]:
    """One row per (method, test) in ``models``, fitted to the pool's rows picked by ``keep``, with the studies,
    comparisons and records used."""
    rows = np.flatnonzero(keep)
    results = meta.rma_models(pool.yi[rows], pool.vi[rows], models, settings.level, fallback=settings.fallback,
                              predtype=settings.prediction_interval)
    study_ids = [pool.study_ids[i] for i in rows]
    comparison_ids = [pool.comparison_ids[i] for i in rows]
    record_ids = list(dict.fromkeys(chain.from_iterable(pool.record_ids[i] for i in rows)))
    return [{**_pooled_numbers(res, settings, pool.ratio), "study_ids": list(study_ids),
             "comparison_ids": list(comparison_ids), "record_ids": list(record_ids)} for res in results]


def _fits(pool: _Pool, keep: np.ndarray, settings: Settings, all_methods: bool) -> list[dict]:
    """The configured method x test grid (main), or the default pair; k = 1 gives one unpooled row."""
    k = int(keep.sum())
    if k == 1 or not all_methods:
        return _fit(pool, keep, [(settings.default_method, settings.default_test if k > 1 else "z")], settings)
    return _fit(pool, keep, [(m, t) for m in settings.methods for t in settings.tests
                            if not (m == "EE" and t == "knha")], settings)   # Hartung-Knapp is not meant for EE


def flag_codes(flags) -> set[str]:
    return {str(f).split(":")[0].strip() for f in flags}


def subgroup_level(value, mapping: dict) -> str:
    raw = "not stated" if value is None or pd.isna(value) else str(value)
    return mapping.get(raw, raw)


def _analyses(pool: _Pool, settings: Settings) -> list[tuple[dict, np.ndarray, bool]]:
    """[(analysis labels, mask of the pool's rows, all methods?)] for one outcome x window x measure group."""
    group = pool.frame
    everyone = np.ones(len(group), dtype=bool)
    corr = group["pre_post_correlation"].iloc[0]
    within = group["design"].iloc[0] == "within_arm"
    if within and corr != settings.pre_post_correlation:
        return [({"analysis": "sensitivity", "analysis_name": f"pre-post correlation {corr:g}"}, everyone, False)]
    out = [({"analysis": "main", "analysis_name": "main"}, everyone, True)]
    for variable, mapping in settings.subgroups.items():
        levels = np.array([subgroup_level(v, mapping) for v in group[variable].tolist()], dtype=object)
        distinct = sorted(set(levels))
        if len(distinct) > 1:
            out += [({"analysis": "subgroup", "analysis_name": f"subgroup: {variable}", "subgroup_variable": variable,
                      "subgroup_level": level}, levels == level, False) for level in distinct]
    codes = [flag_codes(fl) for fl in group["flags"].tolist()]
    for name, flags in settings.sensitivity_exclusions:
        keep = np.array([not (c & set(flags)) for c in codes], dtype=bool)
        if 0 < keep.sum() < len(group):
            labels = {"analysis": "sensitivity", "analysis_name": name, "excluded_flags": list(flags)}
            out.append((labels, keep, False))
    if settings.exclude_non_randomized and not within:
        keep = np.array([r == "randomized" for r in group["randomized"].tolist()], dtype=bool)
        if 0 < keep.sum() < len(group):
            labels = {"analysis": "sensitivity", "analysis_name": "exclude non-randomized (or not stated)"}
            out.append((labels, keep, False))
    # above leave_one_out_max_k studies one study moves a pool little and k refits cost k^2
    if settings.leave_one_out_min_k and settings.leave_one_out_min_k <= len(group) <= settings.leave_one_out_max_k:
        study_ids = np.array(pool.study_ids, dtype=object)
        out += [({"analysis": "leave_one_out", "analysis_name": "leave one out", "omitted_study_id": study},
                 study_ids != study, False) for study in sorted(pool.study_ids)]
    return out


def pool_comparisons(comparisons: pd.DataFrame, settings: Settings, cache: ContentCache | None = None) -> pd.DataFrame:
    """Pooled rows for every comparison x outcome x window x measure (x basis, design, MELD variant).

    With a ``cache`` the rows of a pool whose comparison rows (every column), key and settings are as in an earlier
    run are reused rather than refitted: after a one-study edit only that study's pools are fitted again."""
    if (comparisons["collection"] != "studies").any():
        raise ValueError("comparator rows (published meta-analyses) must never be pooled")
    used = with_pool_keys(comparisons[comparisons["used"]], settings)
    cache = cache or ContentCache(None, "pools", "")
    digests = pd.Series(row_digests(used), index=used.index) if cache.enabled else None
    shared = (settings.as_json(), columns_signature(used))
    out = []
    for key, group in used.groupby(GROUP_KEYS, dropna=False, sort=True):
        entry = cache.key(*shared, list(key), digests.loc[group.index].to_numpy()) if cache.enabled else ""
        out += cache.fetch(entry, _pool_rows, key, group, settings)
    pooled = pd.DataFrame(out, columns=POOLED.names)
    if pooled["pooled_id"].duplicated().any():
        raise AssertionError("two pooled rows share an id: " + ", ".join(pooled.loc[pooled["pooled_id"].duplicated(), "pooled_id"]))
    return _in_reading_order(pooled, settings)


def _pool_rows(key: tuple, group: pd.DataFrame, settings: Settings) -> list[dict]:
    """Every row of one pool: each analysis with its fits, subgroup-difference tests, MH and Peto rows."""
    if group["study_id"].duplicated().any():
        twice = group[["study_id", "contrast"]].to_dict("records")
        raise AssertionError(f"a study appears twice in one pool: {twice}")
    first = group.iloc[0]
    identity = {"comparison": first["comparison"], "design": first["design"], "basis": " + ".join(sorted(set(group["basis"]))), "outcome": first["outcome"],
                "outcome_label": first["outcome_label"], "benefit": first["benefit"], "window": first["window"],
                "measure": first["measure"], "scale": first["scale"], "unit": first["unit"],
                "meld_variant": first["meld_key"] or None, "pre_post_correlation": first["pre_post_correlation"]}
    pool = _Pool.of(group)
    out = []
    for labels, keep, all_methods in _analyses(pool, settings):
        out += [{**identity, "excluded_flags": [], **labels, **row, "pooled_id": pooled_id(key, labels, row)}
                for row in _fits(pool, keep, settings, all_methods)]
    add_subgroup_tests(out, pool.frame, settings)
    return out + [{**row, "pooled_id": pooled_id(key, row, row)} for row in event_rows(out, pool.frame, settings)]


def pooled_id(group_key: tuple, labels: dict, row: dict) -> str:
    """Stable id of a pooled row: its pool (GROUP_KEYS, with the pool basis rather than the bases found, so
    adding a study keeps the id), analysis, method and test -- never the numbers or the studies pooled."""
    key = dict(zip(GROUP_KEYS, group_key))
    key["pre_post_correlation"] = optional_float(key["pre_post_correlation"])
    parts = [key[k] for k in GROUP_KEYS] + [labels.get(k) for k in ("analysis", "analysis_name", "subgroup_variable",
                                                                    "subgroup_level", "omitted_study_id")]
    return stable_id("pooled", *parts, row["method"], row["test"])


def _in_reading_order(pooled: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Comparison (as declared), outcome, design, window in time order (longest follow-up last), measure; the main
    analysis before its variants."""
    window_rank = {w.label: i for i, w in enumerate(settings.windows)} | {LONGEST_FOLLOW_UP: len(settings.windows)}
    comparison_rank = {c.id: i for i, c in enumerate(settings.comparisons)}
    analysis_rank = {"main": 0, "subgroup": 1, "sensitivity": 2, "leave_one_out": 3}
    order = pooled.assign(_c=pooled["comparison"].map(comparison_rank), _w=pooled["window"].map(window_rank),
                          _a=pooled["analysis"].map(analysis_rank))
    order = order.sort_values(["_c", "outcome", "design", "basis", "_w", "measure", "meld_variant", "_a"], kind="stable")
    return order.drop(columns=["_c", "_w", "_a"]).reset_index(drop=True)
