"""The outcome and unit registry (``resources/registry/outcomes.yaml``).

One home for what an outcome is: canonical unit, accepted printed units and their
factors, plausible range, direction of benefit and aliases. Harmonization converts
every printed outcome value with the registry's factor, never a constant of its own.
The one exception is the clinical scores (``livertrials.harmonize.scores``): their
published formulas take fixed units, so they keep the bilirubin, creatinine and
albumin factors as constants, equal to the registry's (``tests/test_io_registry.py``
checks this).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT_REGISTRY = Path("resources/registry/outcomes.yaml")
# The intervention registry: one home for what an arm received (the ids study.yaml arms may name,
# each in one class: cell therapy, mobilisation, control, ...). Read from the folder of the outcome
# registry, so one path (config `registry`) names both.
INTERVENTIONS_FILE = "interventions.yaml"
INTERVENTION_ID = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
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
    # minimal important difference in the canonical unit (optional: only where a published MID can be cited);
    # the GRADE imprecision rule and the plain-language statement read it (docs/grade.md)
    mid: float | None = None

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
class InterventionClass:
    id: str
    label: str


@dataclass(frozen=True)
class Intervention:
    id: str
    label: str
    class_id: str  # an id in Registry.classes


@dataclass(frozen=True)
class Registry:
    outcomes: dict[str, Outcome]
    statistics: dict[str, Statistic]
    unit_spellings: dict[str, str]
    _outcome_aliases: dict[str, str] = field(repr=False, default_factory=dict)
    _statistic_aliases: dict[str, str] = field(repr=False, default_factory=dict)
    # in the order of interventions.yaml (messages list them in that order)
    interventions: dict[str, Intervention] = field(default_factory=dict)
    classes: dict[str, InterventionClass] = field(default_factory=dict)
    interventions_file: str = ""  # where they were read, for messages

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
        mid = spec.get("mid")
        if mid is not None and (isinstance(mid, bool) or not isinstance(mid, (int, float)) or not mid > 0):
            raise ValueError(f"registry: outcome {outcome_id} has mid {mid!r}; a minimal important difference is a "
                             f"positive number in the canonical unit {spec['canonical_unit']}")
        outcome = Outcome(
            id=outcome_id,
            label=spec["label"],
            kind=spec["kind"],
            canonical_unit=spec["canonical_unit"],
            units=dict(spec["units"]),
            benefit=spec.get("benefit", "none"),
            plausible=tuple(plausible) if plausible else None,
            aliases=tuple(spec.get("aliases", ())),
            mid=float(mid) if mid is not None else None,
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


def _parse_interventions(data, file: str) -> tuple[dict[str, InterventionClass], dict[str, Intervention]]:
    """Classes and interventions of interventions.yaml; any problem is a ValueError naming the file and entry."""
    def entries(key: str) -> list[dict]:
        listed = data.get(key) if isinstance(data, dict) else None
        if not isinstance(listed, list) or not listed:
            raise ValueError(f"{file}: '{key}' must be a non-empty list of entries like {{id: ..., label: ...}}")
        for number, entry in enumerate(listed, 1):
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not isinstance(entry.get("label"), str):
                raise ValueError(f"{file}: {key} entry {number} ({entry!r}) needs an id and a label")
            if not INTERVENTION_ID.match(entry["id"]):
                raise ValueError(f"{file}: {key} entry {number}: id {entry['id']!r} must be lower-case letters, digits "
                                 "and '_', starting with a letter (at most 60 characters)")
        ids = [e["id"] for e in listed]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"{file}: {key} id {twice[0]!r} is listed more than once")
        return listed

    classes = {e["id"]: InterventionClass(e["id"], e["label"]) for e in entries("classes")}
    interventions = {}
    for entry in entries("interventions"):
        class_id = entry.get("class")
        if class_id not in classes:
            raise ValueError(f"{file}: intervention {entry['id']!r} has unknown class {class_id!r} "
                             f"(classes: {', '.join(classes)})")
        interventions[entry["id"]] = Intervention(entry["id"], entry["label"], class_id)
    return classes, interventions


def registry_files(path: str | Path = DEFAULT_REGISTRY) -> list[Path]:
    """Every file ``load_registry(path)`` reads: what a workflow rule or a run manifest should list as inputs."""
    return [Path(path), Path(path).parent / INTERVENTIONS_FILE]


@lru_cache(maxsize=8)
def load_registry(path: str | Path = DEFAULT_REGISTRY) -> Registry:
    """The registry of ``path`` (outcomes.yaml) with the interventions.yaml beside it."""
    with open(path, encoding="utf-8") as handle:
        registry = _parse(yaml.safe_load(handle))
    file = registry_files(path)[1]
    if not file.is_file():
        raise FileNotFoundError(f"{file}: the intervention registry is missing; it must sit beside the outcome "
                                f"registry {path} (see resources/registry/README.md)")
    with open(file, encoding="utf-8") as handle:
        classes, interventions = _parse_interventions(yaml.safe_load(handle), str(file))
    return dataclasses.replace(registry, interventions=interventions, classes=classes, interventions_file=str(file))
