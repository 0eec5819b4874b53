"""Audit trails in the report: links to them and the <details> blocks that hold them.

Every forest-plot row, pooled estimate and published record links to a block holding the text of
``Auditor.trail()`` for its id (the same text as ``livertrials audit ID``). Where an id has no
lineage yet, the block says so and links to the ids it was made from (comparison -> records).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from livertrials.lineage.trails import Auditor, NoLineageError
from livertrials.report.html import Html, esc, para

LEAF_KINDS = ("extraction_row", "patient_row")   # inputs a trail prints without walking below them


def trail_anchor(ident: str) -> str:
    return "trail-" + str(ident)


def trail_link(ident: str, text: str = "trail") -> Html:
    if not ident:
        return Html("")
    return Html(f'<a class="trail" href="#{esc(quote(trail_anchor(ident), safe=""))}">{esc(text)}</a>')


class Trails:
    """Ids that need an audit-trail block: what they are, which ids they were made from, how much they matter.

    A pooled estimate over hundreds of studies has a trail of thousands of lines, so the page holds
    at most ``budget`` lines of trail text: trails are embedded most important first (priority 0:
    the forest-plot diamonds, 1: forest-plot rows, 2: other pooled rows, 3: published and MELD
    records, 4: records behind a comparison without lineage) until the budget is spent. The others
    get a block saying how to print them.
    """

    def __init__(self, results: Path, budget: int):
        self.results = Path(results)
        self.items: dict[str, dict] = {}
        self.budget = budget
        self.used = 0
        self.missing: set[str] = set()          # ids with no lineage: their block says so
        self._auditor: Auditor | None = None
        self._bounds = None

    @property
    def auditor(self) -> Auditor:
        """The lineage tables of the results folder, loaded once, when the first trail is asked for (the cost)."""
        if self._auditor is None:
            self._auditor = Auditor(self.results)
        return self._auditor

    def add(self, ident: str, kind: str, title: str, made_from: list[str] = (), call: bool = True,
            priority: int = 3) -> None:
        if not ident:
            return
        if ident in self.items:                       # seen again from somewhere more important
            self.items[ident]["priority"] = min(priority, self.items[ident]["priority"])
            return
        self.items[ident] = {"kind": kind, "title": title, "made_from": list(made_from), "call": call,
                             "priority": priority}

    def _at_least(self, ids: list[str]) -> dict[str, int]:
        """A lower bound of the lines of each id's trail (0: not an output of the lineage). Counting a trail exactly
        walks it row by row (a pooled estimate over 1,000 studies: ~10,000 lineage rows; 30 s for the page's 2,000
        ids, nearly all too long for the budget), so trails this bound already puts over the budget are not counted.
        The bound counts what trail() writes for every id at once, on whole columns: an id's line, one step line,
        one line per extraction or patient row plus the quote and source lines of each distinct quote, and the
        trail of every other input (one line if it has no inputs itself); it leaves out the second and later
        distinct step lines, so it is never above the count."""
        if self._bounds is None:
            self._bounds = lower_bounds(self.auditor)
        found, bounds = self._bounds
        if found is None:
            return {}
        at = pc.index_in(pa.array(ids, pa.string()), value_set=found).to_pylist()
        return {ident: (0 if i is None else int(bounds[i])) for ident, i in zip(ids, at)}

    def _trail(self, ident: str, max_lines: int) -> list[str] | None:
        """The trail of ``ident`` (None: longer than max_lines); without lineage, the one line saying why."""
        try:
            return self.auditor.trail(ident, max_lines)
        except NoLineageError as error:
            self.missing.add(ident)
            return [str(error)]

    def _embed(self, ids: list[str]) -> dict[str, list[str]]:
        """Trails of ``ids``, most important first, while the budget lasts (a trail that would overrun it is left out)."""
        texts = {}
        at_least = self._at_least(ids) if ids else {}
        for ident in sorted(ids, key=lambda i: self.items[i]["priority"]):     # stable: first added first
            if self.used >= self.budget:
                break
            if at_least.get(ident, 0) > self.budget - self.used:
                continue
            lines = self._trail(ident, max_lines=self.budget - self.used)
            if lines is not None and self.used + len(lines) <= self.budget:
                texts[ident] = lines
                self.used += len(lines)
        return texts

    def render(self, record_title) -> Html:
        """Call trail() for the ids within the limit; a comparison without lineage gets its records' trails too."""
        order = {"pooled": 0, "comparison": 1, "record": 2}
        texts = self._embed([i for i, item in self.items.items() if item["call"] and item["kind"] != "record"])
        for ident in list(texts):
            if self.items[ident]["kind"] == "comparison" and ident in self.missing:
                for rid in self.items[ident]["made_from"]:
                    self.add(rid, "record", record_title(rid), priority=4)
        texts.update(self._embed([i for i, item in self.items.items() if item["kind"] == "record"]))
        skipped = f"not embedded: this page holds at most {self.budget} lines of audit trails (report.audit_trail_budget), " \
                  f"more important ones first. Print it with: livertrials audit {{}} --results {self.results}"
        blocks = []
        # grouped by kind, then by what the id is (outcome / window / ...), so a reader can also browse them
        for ident in sorted(self.items, key=lambda i: (order.get(self.items[i]["kind"], 9), self.items[i]["title"], i)):
            item = self.items[ident]
            if ident in texts:
                lines = texts[ident]
            elif item["call"]:
                lines = [skipped.format(ident)]
            else:
                lines = [f"{ident}: pooled.parquet has no pooled_id column yet, so pooled rows have no lineage of "
                         "their own; the comparisons pooled are linked below."]
            made = ""
            if not item["call"] or (ident in texts and ident in self.missing):    # no lineage yet: point to the inputs
                links = " ".join(trail_link(m, m) for m in item["made_from"] if m in self.items)
                made = f'<p class="made">Made from: {links}</p>' if links else ""
            blocks.append(f'<details id="{esc(trail_anchor(ident))}" class="trail {esc(item["kind"])}">'
                          f'<summary>{esc(item["kind"])} <code>{esc(ident)}</code>: {esc(item["title"])}</summary>'
                          f'<pre>{esc(chr(10).join(lines))}</pre>{made}</details>')
        wanted = sum(item["call"] for item in self.items.values())
        summary = para(f"{len(texts)} of {wanted} audit trails embedded; the others name the command that prints them.")
        return Html(summary + "".join(blocks))


def lower_bounds(auditor: Auditor) -> tuple[pa.Array | None, np.ndarray]:
    """(the lineage's output ids, a lower bound of the lines of each one's trail): see Trails._at_least."""
    if auditor.empty:
        return None, np.zeros(0, dtype=np.int64)
    table = auditor.lineage
    outputs = table.column("output_id").combine_chunks().dictionary_encode()
    found = outputs.dictionary
    node = outputs.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    below = pc.index_in(table.column("input_id"), value_set=found).to_numpy(zero_copy_only=False)
    below = np.where(np.isnan(below), -1, below).astype(np.int64) if below.dtype.kind == "f" else below.astype(np.int64)
    kind = table.column("input_kind")
    leaf = pc.is_in(kind, value_set=pa.array(LEAF_KINDS)).to_numpy(zero_copy_only=False)
    extraction = pc.equal(kind, "extraction_row").to_numpy(zero_copy_only=False)
    quotes = table.column("quote").combine_chunks().dictionary_encode().indices.to_numpy(zero_copy_only=False)
    quotes = np.where(np.isnan(quotes), -1, quotes).astype(np.int64) if quotes.dtype.kind == "f" else quotes.astype(np.int64)
    size = len(found)
    distinct = pd.DataFrame({"node": node[extraction], "quote": quotes[extraction]}).drop_duplicates()
    base = 2 + np.bincount(node[leaf], minlength=size) + 2 * np.bincount(distinct["node"].to_numpy(), minlength=size)
    inner, inner_below = node[~leaf], below[~leaf]
    bounds = base + np.bincount(inner, minlength=size)            # every other input counted as one line to start
    for _ in range(64):                                           # a level of the lineage per round (a handful)
        counted = np.where(inner_below >= 0, bounds[np.maximum(inner_below, 0)], 1)
        deeper = base + np.bincount(inner, weights=counted, minlength=size).astype(np.int64)
        if np.array_equal(deeper, bounds):
            break
        bounds = deeper
    return found, bounds
