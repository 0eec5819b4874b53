"""The outcome and unit registry (``resources/registry/outcomes.yaml``).

One home for what an outcome is: canonical unit, accepted printed units and their
factors, plausible range, direction of benefit and aliases. Harmonization converts
every printed outcome value with the registry's factor, never a constant of its own.
The one exception is the clinical scores (``livertrials.harmonize.scores``): their
published formulas take fixed units, so they keep the bilirubin, creatinine and
albumin factors as constants, equal to the registry's (``tests/test_registry.py``
checks this).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT_REGISTRY = Path("resources/registry/outcomes.yaml")
KINDS = ("continuous", "events", "effect", "duration", "descriptive")


@dataclass(frozen=True)
class Outcome:
    id: str
    label: str
    kind: str
    canonical_unit: str
    units: dict[str, float | None]
    benefit: str = "none"
    plausible: tuple[float, float] | None = None
    aliases: tuple[str, ...] = ()

    def factor(self, unit: str) -> float | None:
        """Factor to the canonical unit; None if the unit is recognised but not convertible."""
        return self.units[unit]

    def accepts(self, unit: str) -> bool:
        return unit in self.units


@dataclass(frozen=True)
class Statistic:
    id: str
    unit: str  # outcome | percent | ratio | none | any
    label: str
    ratio_units: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registry:
    outcomes: dict[str, Outcome]
    statistics: dict[str, Statistic]
    unit_spellings: dict[str, str]
    _outcome_aliases: dict[str, str] = field(repr=False, default_factory=dict)
    _statistic_aliases: dict[str, str] = field(repr=False, default_factory=dict)

    def outcome(self, name: str) -> Outcome | None:
        key = self._outcome_aliases.get(name.strip().casefold())
        return self.outcomes[key] if key else None

    def statistic(self, name: str) -> Statistic | None:
        key = self._statistic_aliases.get(name.strip().casefold())
        return self.statistics[key] if key else None

    def unit(self, printed: str) -> str | None:
        """The registry spelling of a printed unit, or None if unknown ("" stays "")."""
        text = printed.strip()
        if not text:
            return ""
        # micro sign (U+00B5) and Greek mu (U+03BC) both read as "u" in umol/L
        key = text.replace("\u00b5", "u").replace("\u03bc", "u").casefold()
        return self.unit_spellings.get(key)


def _parse(data: dict) -> Registry:
    outcomes, outcome_aliases = {}, {}
    for outcome_id, spec in data["outcomes"].items():
        if spec["kind"] not in KINDS:
            raise ValueError(f"registry: outcome {outcome_id} has unknown kind {spec['kind']!r}")
        plausible = spec.get("plausible")
        outcome = Outcome(
            id=outcome_id,
            label=spec["label"],
            kind=spec["kind"],
            canonical_unit=spec["canonical_unit"],
            units=dict(spec["units"]),
            benefit=spec.get("benefit", "none"),
            plausible=tuple(plausible) if plausible else None,
            aliases=tuple(spec.get("aliases", ())),
        )
        if outcome.canonical_unit not in outcome.units or outcome.units[outcome.canonical_unit] != 1:
            raise ValueError(f"registry: outcome {outcome_id} must accept its canonical unit with factor 1")
        outcomes[outcome_id] = outcome
        for alias in (outcome_id, *outcome.aliases):
            key = alias.casefold()
            if outcome_aliases.get(key, outcome_id) != outcome_id:
                raise ValueError(f"registry: alias {alias!r} names two outcomes")
            outcome_aliases[key] = outcome_id
    statistics, statistic_aliases = {}, {}
    for stat_id, spec in data["statistics"].items():
        statistics[stat_id] = Statistic(stat_id, spec["unit"], spec["label"], tuple(spec.get("ratio_units", ())))
        for alias in (stat_id, *spec.get("aliases", ())):
            statistic_aliases[alias.casefold()] = stat_id
    spellings = {k.casefold(): v for k, v in data["unit_spellings"].items()}
    return Registry(outcomes, statistics, spellings, outcome_aliases, statistic_aliases)


@lru_cache(maxsize=8)
def load_registry(path: str | Path = DEFAULT_REGISTRY) -> Registry:
    with open(path, encoding="utf-8") as handle:
        return _parse(yaml.safe_load(handle))
