"""Audit trails in the report: links to them and the <details> blocks that hold them.

Every forest-plot row, pooled estimate and published record links to a block holding the text of
``Auditor.trail()`` for its id (the same text as ``livertrials audit ID``). Where an id has no
lineage yet, the block says so and links to the ids it was made from (comparison -> records).

Which trails fit the budget, and their text, are reused from the cache (``cache``) while what they were made from
is unchanged: the lineage's id columns (trail_index.structure_digest: an edited number leaves them as they are),
and the other columns of the lineage rows the trails visited with the rows describing the ids they name
(trail_index.printed_digest: read for those rows only). A cached plan, keyed by the ids asked for and the id
columns, names those rows; the texts are keyed by the plan and the rows' content, so a plan from an older build
only costs a recompute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import quote

import numpy as np

from livertrials.io.cache import ContentCache
from livertrials.lineage.trails import Auditor, NoLineageError
from livertrials.report.html import Html, esc, para
from livertrials.report.trail_index import LineageIndex, printed_digest, structure_digest


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

    def __init__(self, results: Path, budget: int, cache: ContentCache | None = None):
        self.results = Path(results)
        self.cache = cache if cache is not None and cache.enabled else None
        self.visited: list[np.ndarray] | None = []   # lineage rows behind every trail counted (None: not known)
        self.items: dict[str, dict] = {}
        self.budget = budget
        self.used = 0
        self.missing: set[str] = set()          # ids with no lineage: their block says so
        self._auditor: Auditor | None = None
        self._index: LineageIndex | None = None

    @property
    def index(self) -> LineageIndex:
        """The lineage's id columns, read when the first trail is asked for (trail_index)."""
        if self._index is None:
            self._index = LineageIndex(self.results)
        return self._index

    def add(self, ident: str, kind: str, title: str, made_from: Iterable[str] | Callable[[], Iterable[str]] = (),
            call: bool = True, priority: int = 3) -> None:
        """made_from: the ids, or a function giving them when they are needed (a pooled row's hundreds of
        comparison ids are needed only if its trail is missing)."""
        if not ident:
            return
        if ident in self.items:                       # seen again from somewhere more important
            self.items[ident]["priority"] = min(priority, self.items[ident]["priority"])
            return
        self.items[ident] = {"kind": kind, "title": title, "made_from": made_from if callable(made_from)
                             else list(made_from), "call": call, "priority": priority}

    def made_from(self, ident: str) -> list[str]:
        item = self.items[ident]
        if callable(item["made_from"]):
            item["made_from"] = list(item["made_from"]())
        return item["made_from"]

    def _trail(self, ident: str, max_lines: int) -> list[str] | None:
        """The trail of ``ident`` (None: longer than max_lines); without lineage, the one line saying why."""
        try:
            return self._auditor.trail(ident, max_lines)
        except NoLineageError as error:
            self.missing.add(ident)
            return [str(error)]

    def _embed(self, ids: list[str]) -> dict[str, list[str]]:
        """Trails of ``ids``, most important first, while the budget lasts (a trail that would overrun it is left out).
        A trail whose lower bound (trail_index) is over what is left is not counted; the others are read from an
        Auditor over the rows of the next ones that may fit together, made again when the order reaches past them."""
        texts: dict[str, list[str]] = {}
        at_least = self.index.at_least(ids) if ids else {}
        order = sorted(ids, key=lambda i: self.items[i]["priority"])     # stable: first added first
        ready: set[str] = set()
        for position, ident in enumerate(order):
            if self.used >= self.budget:
                break
            if at_least.get(ident, 0) > self.budget - self.used:
                continue
            if ident not in ready:
                ready = self._next_fitting(order[position:], at_least)
                rows = None if self.index.empty else self.index.rows(sorted(ready))
                self._auditor = self.index.auditor_over(rows)
                if rows is None and not self.index.empty:     # an id not in the lineage: its trail says so
                    rows = self.index.rows(sorted(ready), known_only=True)
                self.visited = None if rows is None or self.visited is None else self.visited + [rows]
            lines = self._trail(ident, max_lines=self.budget - self.used)
            if lines is not None and self.used + len(lines) <= self.budget:
                texts[ident] = lines
                self.used += len(lines)
        return texts

    def _next_fitting(self, order: list[str], at_least: dict[str, int]) -> set[str]:
        """The first id of ``order`` and those after it whose lower bounds fit, together, in what is left."""
        room = self.budget - self.used
        chosen = {order[0]}
        room -= at_least.get(order[0], 0)
        for ident in order[1:]:
            need = at_least.get(ident, 0)
            if need <= room:
                chosen.add(ident)
                room -= max(need, 1)
            if room <= 0:
                break
        return chosen

    def _texts(self, record_title) -> dict[str, list[str]]:
        """The trails embedded (id -> lines), most important first; a comparison without lineage gets its records'
        trails too (added to the items)."""
        texts = self._embed([i for i, item in self.items.items() if item["call"] and item["kind"] != "record"])
        self._first = list(texts)
        self._add_records(self._first, record_title)
        texts.update(self._embed([i for i, item in self.items.items() if item["kind"] == "record"]))
        return texts

    def _add_records(self, embedded: list[str], record_title) -> None:
        for ident in embedded:
            if self.items[ident]["kind"] == "comparison" and ident in self.missing:
                for rid in self.made_from(ident):
                    self.add(rid, "record", record_title(rid), priority=4)

    def _cached_texts(self, record_title) -> dict[str, list[str]]:
        """_texts, reused while the lineage rows and described rows behind it are unchanged (see the module)."""
        asked = [[i, item["kind"], item["call"], item["priority"], self.made_from(i) if item["kind"] == "comparison"
                  else []] for i, item in self.items.items()]
        plan_key = self.cache.key("trail plan", str(self.results), self.budget, asked, structure_digest(self.results))
        found, plan = self.cache.get(plan_key)
        if found:
            used: dict = {}
            key = self.cache.key("trail texts", plan_key,
                                 printed_digest(self.results, plan["rows"], plan["nodes"], plan["known"], used))
            hit, value = self.cache.get(key)
            if hit:
                if used.keys() != plan["known"].keys():     # chunks changed: their digests for the next build
                    self.cache.put(plan_key, plan | {"known": used})
                texts, first, self.missing, self.used = value
                self._add_records(first, record_title)
                return texts
        texts = self._texts(record_title)
        if self.visited is not None:
            rows = np.unique(np.concatenate(self.visited)) if self.visited else np.zeros(0, dtype=np.int64)
            nodes = sorted(set(self.index.nodes(rows) if len(rows) else []) | set(texts))
            used = {}
            key = self.cache.key("trail texts", plan_key,
                                 printed_digest(self.results, rows, nodes, plan["known"] if found else {}, used))
            self.cache.put(plan_key, {"rows": rows, "nodes": nodes, "known": used})
            self.cache.put(key, (texts, self._first, self.missing, self.used))
        return texts

    def render(self, record_title) -> Html:
        """Call trail() for the ids within the limit; a comparison without lineage gets its records' trails too."""
        order = {"pooled": 0, "comparison": 1, "record": 2}
        texts = self._cached_texts(record_title) if self.cache else self._texts(record_title)
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
                links = " ".join(trail_link(m, m) for m in self.made_from(ident) if m in self.items)
                made = f'<p class="made">Made from: {links}</p>' if links else ""
            blocks.append(f'<details id="{esc(trail_anchor(ident))}" class="trail {esc(item["kind"])}">'
                          f'<summary>{esc(item["kind"])} <code>{esc(ident)}</code>: {esc(item["title"])}</summary>'
                          f'<pre>{esc(chr(10).join(lines))}</pre>{made}</details>')
        wanted = sum(item["call"] for item in self.items.values())
        summary = para(f"{len(texts)} of {wanted} audit trails embedded; the others name the command that prints them.")
        return Html(summary + "".join(blocks))

