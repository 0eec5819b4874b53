"""Lineage edges of the synthesis tables (the LINEAGE schema of provenance): every output row <- the rows it
was made from, with the step and a transformation text an auditor can follow down to the printed numbers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import chain

import numpy as np
import pandas as pd
import pyarrow as pa

from livertrials.io.cache import ContentCache, columns_signature, row_digests
from livertrials.io.tables import table_bytes, table_from_bytes
from livertrials.lineage.records import lineage_columns, lineage_columns_table, lineage_table
from livertrials.synthesis import rows
from livertrials.synthesis.effects import COMBINED
from livertrials.synthesis.event_pools import EVENT_METHODS, event_method_text, with_event_counts
from livertrials.synthesis.measures import EFFECT_FORMULA, EVENT_MEASURES, reported_formula
from livertrials.synthesis.pooling import MD_POOL_BASIS, POOLED_TYPES, flag_codes, subgroup_level, with_pool_keys
from livertrials.synthesis.settings import LONGEST_FOLLOW_UP, Settings

BATCH_ROWS = 20_000      # rows of a synthesis table whose edges are made (and written) together
BATCH_EDGES = 200_000    # edges written together (one Parquet row group): a pooled row of a large pool has k of them
# the comparison fields the pool edges read (with the subgroup variables of the settings)
# pooled columns no edge is made from (left out of the pool edges' cache keys: the longest lists of the table)
_POOLED_NOT_READ = ("record_ids", "study_ids")
_POOL_EDGE_COLUMNS = ["comparison_id", "study_id", "comparison", "design", "pool_basis", "outcome", "window", "measure",
                      "meld_key", "pre_post_correlation", "comparison_type", "used", "not_used_reason", "assignment",
                      "flags", "randomized", "timepoint_text", "timepoint_days",
                      # MH and Peto rows' edges name each study's counts (event_pools.with_event_counts)
                      "events_1", "total_1", "events_2", "total_2", "arms_1", "arms_2", "source"]


def _num(x) -> str:
    return "NA" if x is None or pd.isna(x) else f"{float(x):.6g}"


def _side_text(row, side: int) -> str:
    arms = list(row[f"arms_{side}"])
    combined = f" {COMBINED}" if len(arms) > 1 else ""
    if row["measure"] in EVENT_MEASURES:
        numbers = f"events {_num(row[f'events_{side}'])} / {_num(row[f'total_{side}'])}"
    else:
        numbers = f"n {_num(row[f'n_{side}'])}, mean {_num(row[f'mean_{side}'])}, SD {_num(row[f'sd_{side}'])}"
    who = {1: "side 1 (experimental)", 2: "side 2 (control)"}[side]
    if row["design"] == "within_arm":
        who = "follow-up" if side == 1 else "baseline"
    return f"{who} = {' + '.join(arms)}{combined}: {numbers}"


def _comparison_edges(comparisons: pd.DataFrame, harmonized: pd.DataFrame, cache: ContentCache,
                      comparison_digests: np.ndarray | None) -> Iterator[pa.Table]:
    """comparison <- harmonized records: the arm combination and the effect computation; the edges of one study
    at a time (an Arrow table: cached, it loads far faster than lists of texts), from the cache when the study's comparison rows and records are unchanged.
    Rows are read BATCH_ROWS at a time, and only for studies the cache does not have (a row subset per study
    cost minutes at 10,000 studies)."""
    if harmonized["record_id"].duplicated().any():   # refused, as the set_index().to_dict("index") this replaces did
        raise ValueError("harmonized record_id is not unique")
    sides = harmonized[["record_id", "study_id", "arm_id", "timepoint_text"]]
    records = dict(zip(sides["record_id"].tolist(), zip(sides["arm_id"].tolist(), sides["timepoint_text"].tolist())))
    groups = comparisons.groupby("study_id", sort=False).indices
    keys = {study_id: "" for study_id in groups}
    if cache.enabled:
        digests, record_digests = comparison_digests, row_digests(sides)
        by_record_study = sides.groupby("study_id").indices
        signature = columns_signature(comparisons)
        keys = {study_id: cache.key(signature, digests[positions],
                                    record_digests[by_record_study.get(study_id, np.empty(0, dtype=int))])
                for study_id, positions in groups.items()}
    chunk: list[str] = []
    size = 0
    for study_id, positions in groups.items():
        chunk.append(study_id)
        size += len(positions)
        if size >= BATCH_ROWS:
            yield from _comparison_chunk(chunk, groups, keys, comparisons, records, cache)
            chunk, size = [], 0
    yield from _comparison_chunk(chunk, groups, keys, comparisons, records, cache)


def _comparison_chunk(studies: list[str], groups: dict, keys: dict, comparisons: pd.DataFrame, records: dict,
                      cache: ContentCache) -> Iterator[pa.Table]:
    found = {study_id: cache.get(keys[study_id]) for study_id in studies}
    missing = [study_id for study_id in studies if not found[study_id][0]]
    made: dict[str, list[dict]] = {}
    if missing:
        rows_of = comparisons.iloc[np.concatenate([groups[s] for s in missing])]
        for edge in _comparison_batch(rows_of, records):
            made.setdefault(edge["study_id"], []).append(edge)
    for study_id in studies:
        if found[study_id][0]:
            yield table_from_bytes(found[study_id][1])
        elif not cache.enabled:
            yield lineage_table(made.get(study_id, []))
        else:   # stored compressed, and read back as a warm build reads it
            data = table_bytes(lineage_table(made.get(study_id, [])))
            cache.put(keys[study_id], data)
            yield table_from_bytes(data)


def _comparison_batch(comparisons: pd.DataFrame, records: dict[str, tuple]) -> list[dict]:
    edges = []
    for row in rows.records(comparisons):
        head = f"comparison {row['comparison']}: {row['contrast']} ({row['basis']})"
        if row["source"] == "reported_effect":
            scale = reported_formula(row["measure"])
            texts = {None: f"{head}: {row['measure']} and 95% CI as reported by the study; {scale}"}
        else:
            formula = EFFECT_FORMULA[row["measure"]].format(corr=row["pre_post_correlation"] or 0)
            note = f"; {row['note']}" if rows.text(row["note"]) else ""
            texts = {side: f"{head}: {formula}; {_side_text(row, side)}{note}" for side in (1, 2)}
        by_side: dict = {1: [], 2: [], None: []}
        for record_id in row["record_ids"]:
            arm_id, timepoint_text = records.get(record_id, (None, None))
            if None in texts:
                side = None
            elif row["design"] == "within_arm":
                side = 1 if timepoint_text == row["timepoint_text"] else 2
            else:
                side = 1 if arm_id in set(row["arms_1"]) else 2
            by_side[side].append(record_id)
        for side in (1, 2, None):
            edges += [{"output_id": row["comparison_id"], "output_table": "synthesis/comparisons", "input_id": record_id,
                       "input_kind": "harmonized_record", "step": "compare", "transformation": texts[side],
                       "study_id": row["study_id"]} for record_id in by_side[side]]
    return edges


def _window_text(row, settings: Settings) -> str:
    """How a comparison's timepoint was placed in its window (or why it is in none)."""
    window = rows.text(row["window"])
    if window is None:
        return str(row["assignment"])
    if window == LONGEST_FOLLOW_UP:
        return f"timepoint {row['timepoint_text']!r} -> {row['assignment']}"
    bounds = {w.label: w for w in settings.windows}.get(window)
    if "(config:" in str(row["assignment"]):
        return f"timepoint {row['timepoint_text']!r} placed in {row['assignment']}"
    span = "" if bounds is None else f" ({bounds.words()}, nominal {bounds.nominal_days:.10g})"
    return f"timepoint {row['timepoint_text']!r} = day {_num(row['timepoint_days'])} -> window {window}{span}"


def _analysis_text(row) -> str:
    analysis = row["analysis"]
    if analysis == "main":
        return "main analysis"
    if analysis == "subgroup":
        return f"subgroup analysis: {row['subgroup_variable']} = {row['subgroup_level']}"
    if analysis == "leave_one_out":
        return f"leave one out: without {row['omitted_study_id']}"
    return f"sensitivity analysis: {row['analysis_name']}"


def _method_text(row) -> str:
    if row["method"] in EVENT_METHODS:
        return event_method_text(row)
    if not row["pooled"]:
        return "k = 1: the study's own effect and CI are shown, nothing was pooled"
    model = "common-effect (EE)" if row["method"] == "EE" else f"random-effects, tau^2 by {row['method']}"
    if rows.text(row["method_used"]) and row["method_used"] != row["method"]:
        model += f" (did not converge: {row['method_used']} used)"
    test = "Hartung-Knapp t test" if row["test"] == "knha" else "z test"
    return (f"{model}, inverse-variance weights, {test}, {float(row['level']) * 100:g}% CI, "
            f"prediction interval {row['prediction_interval']} (livertrials.synthesis.meta.rma, metafor-equivalent)")


def _why_left_out(comparison, pooled_row, settings: Settings) -> str:
    """Why a comparison of a pool's family is not among the rows of this pooled analysis."""
    if not comparison["used"]:
        return str(comparison["not_used_reason"] or comparison["assignment"])
    analysis = pooled_row["analysis"]
    if analysis == "leave_one_out":
        return f"study {pooled_row['omitted_study_id']} left out (leave one out)"
    if analysis == "subgroup":
        variable = pooled_row["subgroup_variable"]
        level = subgroup_level(comparison[variable], settings.subgroups.get(variable, {}))
        return f"its {variable} is {level!r}, this subgroup is {pooled_row['subgroup_level']!r}"
    flags = sorted(flag_codes(comparison["flags"]) & set(pooled_row["excluded_flags"]))
    if flags:
        return f"flagged {', '.join(flags)}"
    if comparison["randomized"] != "randomized":
        return f"{comparison['randomized']} ({pooled_row['analysis_name']})"
    return str(pooled_row["analysis_name"])


def _pool_edges(comparisons: pd.DataFrame, pooled: pd.DataFrame, settings: Settings,
                cache: ContentCache, comparison_digests: np.ndarray | None) -> Iterator[pa.Table]:
    """pooled row <- comparisons: window assignment, pooling method and weight; and every comparison of the
    same pool that this analysis left out (step "exclude", with the reason), so an auditor sees what is missing.
    Leave-one-out rows make this O(k^2) edges for a pool of k studies, as the pooled table's comparison_ids.
    The edges of one pool at a time (its pooled rows in table order; pools in the order the table first shows
    them), as an Arrow table, from the cache when its rows and every comparison their edges name are unchanged."""
    if comparisons.empty or pooled.empty:
        return
    frame = with_pool_keys(comparisons, settings)
    read = frame[list(dict.fromkeys(c for c in _POOL_EDGE_COLUMNS + list(settings.subgroups) if c in frame.columns))]
    info = _RowsOnDemand(read)
    family_columns = ("comparison", "design", "pool_basis", "outcome", "window", "measure", "meld_key",
                      "pre_post_correlation")
    families: dict[tuple, list[str]] = {}
    # keys built here: a None put into a float column would come back as NaN
    for cid, *r in zip(read["comparison_id"].tolist(), *(read[c].tolist() for c in family_columns)):
        key = (r[0], r[1], r[2], r[3], rows.text(r[4]), r[5], str(r[6]), rows.optional_float(r[7]))
        families.setdefault(key, []).append(cid)
    comparison_types = dict(zip(read["comparison_id"].tolist(), read["comparison_type"].tolist()))
    event_rows = set(pooled.loc[pooled["method"].isin(EVENT_METHODS), "pooled_id"])
    window_texts: dict[str, str] = {}
    pools: dict[tuple, list[int]] = {}   # pool -> its rows' positions in the pooled table, pools as first seen
    pooled_rows = rows.records(pooled)
    for position, row in enumerate(pooled_rows):
        pools.setdefault(_family_key(row), []).append(position)
    if cache.enabled:
        # whole comparison rows (what the edges read is part of them); pooled rows without the two lists the edges
        # never read, the longest cells of the table
        digest_of = dict(zip(comparisons["comparison_id"].tolist(), comparison_digests.tolist()))
        keyed = pooled.drop(columns=list(_POOLED_NOT_READ))
        pooled_digests = row_digests(keyed)
        shared = (settings.as_json(), columns_signature(comparisons), columns_signature(keyed))
    for positions in pools.values():
        members = [pooled_rows[p] for p in positions]
        named = [_named_comparisons(row, families, comparison_types) for row in members]
        key = ""
        if cache.enabled:
            ids = [c for names in named for c in names]
            key = cache.key(*shared, pooled_digests[positions], [len(names) for names in named],
                            np.fromiter((digest_of[c] for c in ids), dtype=np.uint64, count=len(ids)))
        if not cache.enabled:
            yield _pool_table(members, named, info, window_texts, event_rows, settings)
        else:   # stored compressed, and read back as a warm build reads it
            yield table_from_bytes(cache.fetch(key, lambda *args: table_bytes(_pool_table(*args)),
                                               members, named, info, window_texts, event_rows, settings))


class _RowsOnDemand(Mapping):
    """comparison id -> its row as a dict, the dicts made at the first lookup: a warm build whose pools all come
    from the cache never needs them (seconds at 1,000 studies)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame, self.rows = frame, None

    def _all(self) -> dict:
        if self.rows is None:
            self.rows = {r["comparison_id"]: r for r in rows.records(self.frame)}
        return self.rows

    def __getitem__(self, comparison_id: str) -> dict:
        return self._all()[comparison_id]

    def __iter__(self):
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def _named_comparisons(row: dict, families: dict, comparison_types: dict) -> list[str]:
    """The comparisons a pooled row's edges name: its members, then the rest of its pool's family (left out), and
    for a main analysis the family's comparisons in no window."""
    members = list(row["comparison_ids"])
    key = _family_key(row)
    member_set = set(members)
    left_out = [c for c in families.get(key, []) if c not in member_set]
    if row["analysis"] == "main" and row["window"] != LONGEST_FOLLOW_UP:
        # timepoints in no window could have been anywhere: shown with the main analysis
        left_out += [c for c in families.get(key[:4] + (None,) + key[5:], [])
                     if comparison_types[c] in POOLED_TYPES]
    return members + left_out


def _family_key(row: dict) -> tuple:
    pool_basis = MD_POOL_BASIS if row["measure"] == "MD" else row["basis"]
    return (row["comparison"], row["design"], pool_basis, row["outcome"], row["window"], row["measure"],
            rows.text(row["meld_variant"]) or "", rows.optional_float(row["pre_post_correlation"]))


def _pool_table(pooled_rows: list[dict], named: list[list[str]], info: dict, window_texts: dict,
                event_rows: set[str], settings: Settings) -> pa.Table:
    """The edges of one pool's pooled rows (a row's edges become columns at once: a pool of 10,000 studies has
    millions of edges, too many to hold as dicts)."""
    columns = lineage_columns([])
    for row, names in zip(pooled_rows, named):
        for cid in names:
            if cid not in window_texts:
                window_texts[cid] = _window_text(info[cid], settings)
        edges = with_event_counts(_pooled_row_edges(row, names, info, window_texts, settings), event_rows, info)
        for name, values in lineage_columns(edges).items():
            columns[name] += values
    return lineage_columns_table(columns)


def _pooled_row_edges(row: dict, named: list[str], info: dict, window_text: dict, settings: Settings) -> list[dict]:
    analysis = _analysis_text(row)
    head = f"{analysis}; {_method_text(row)}"
    members = named[:len(row["comparison_ids"])]
    edges = [{"output_id": row["pooled_id"], "output_table": "synthesis/pooled", "input_id": cid,
              "input_kind": "comparison", "step": "pool", "study_id": info[cid]["study_id"],
              "transformation": f"{head}; {window_text[cid]}; weight {weight:.4g}%"}
             for cid, weight in zip(members, row["weights"])]
    edges += [{"output_id": row["pooled_id"], "output_table": "synthesis/pooled", "input_id": cid,
               "input_kind": "comparison", "step": "exclude", "study_id": info[cid]["study_id"],
               "transformation": f"left out of this {analysis}: {_why_left_out(info[cid], row, settings)}"}
              for cid in named[len(members):]]
    return edges


def _window_edges(windows: pd.DataFrame) -> Iterator[list[dict]]:
    for start in range(0, len(windows), BATCH_ROWS):
        yield _window_batch(windows.iloc[start:start + BATCH_ROWS])


def _window_batch(windows: pd.DataFrame) -> list[dict]:
    edges = []
    for row in rows.records(windows):
        note = f" ({row['note']})" if rows.text(row["note"]) else ""
        edges += [{"output_id": row["window_row_id"], "output_table": "synthesis/windows", "input_id": record_id,
                   "input_kind": "harmonized_record", "step": "window", "study_id": row["study_id"],
                   "transformation": f"{row['assignment']}; status: {row['status']}{note}"} for record_id in row["record_ids"]]
    return edges


def _comparator_edges(comparators: pd.DataFrame) -> list[dict]:
    edges = []
    for row in rows.records(comparators):
        edges.append({"output_id": row["comparator_id"], "output_table": "synthesis/comparators", "input_id": row["record_id"],
                      "input_kind": "harmonized_record", "step": "publish", "study_id": row["study_id"],
                      "transformation": f"published {row['published_measure']} shown as printed, never recomputed or "
                                        f"pooled; window: {row['assignment']}"})
        if rows.text(row["our_pooled_id"]):
            edges.append({"output_id": row["comparator_id"], "output_table": "synthesis/comparators",
                          "input_id": row["our_pooled_id"], "input_kind": "pooled_estimate", "step": "match",
                          "study_id": None, "transformation": f"our estimate beside it: {row['our_note']}"})
    return edges


def lineage_batches(harmonized: pd.DataFrame, tables: dict[str, pd.DataFrame], settings: Settings,
                    cache: ContentCache | None = None) -> Iterator[pa.Table]:
    """Lineage edges of every synthesis row (provenance.LINEAGE), table by table, as Arrow tables of about
    BATCH_EDGES edges (written as they come: at 10,000 studies the edges run to millions): comparisons <- harmonized
    records, pooled <- comparisons (pool / exclude), windows <- records, comparators <- record and our pooled row.
    With a ``cache`` the edges of a study's comparisons and of a pooled row are reused when what they are made
    from is unchanged (docs/cache.md)."""
    cache = cache or ContentCache(None, "lineage", "")
    comparison_digests = row_digests(tables["comparisons"]) if cache.enabled else None
    parts = chain(_comparison_edges(tables["comparisons"], harmonized, cache, comparison_digests),
                  _pool_edges(tables["comparisons"], tables["pooled"], settings, cache, comparison_digests),
                  (lineage_table(edges) for edges in _window_edges(tables["windows"])),
                  [lineage_table(_comparator_edges(tables["comparators"]))])
    batch, size = [], 0
    for part in parts:
        batch.append(part)
        size += part.num_rows
        if size >= BATCH_EDGES:
            yield pa.concat_tables(batch)
            batch, size = [], 0
    if size:
        yield pa.concat_tables(batch)


def synthesis_lineage(harmonized: pd.DataFrame, tables: dict[str, pd.DataFrame], settings: Settings) -> list[dict]:
    """Every edge of lineage_batches, as one list of dicts (missing fields left out, as the edges are made)."""
    return [{k: v for k, v in edge.items() if v is not None}
            for batch in lineage_batches(harmonized, tables, settings) for edge in batch.to_pylist()]
