"""Synthesis settings: config["synthesis"] as typed values. Defaults come from the config schema only
(``livertrials.settings``); nothing here keeps one of its own."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cached_property

from livertrials import distributions
from livertrials.settings import with_defaults
from livertrials.synthesis.rows import optional_float

# Parquet metadata key of the settings JSON in every synthesis output (read by figures.forest.synthesis_settings)
SETTINGS_KEY = "livertrials.synthesis.settings"
_EPS = 1e-9   # day arithmetic: "month 4" is 121.75 d exactly, but be robust to rounding


# The pseudo-window of the longest follow-up analysis (each study's latest timepoint; windows.mark_used)
LONGEST_FOLLOW_UP = "longest follow-up"


@dataclass(frozen=True)
class Window:
    """An analysis window [from_days, to_days): half-open, so a window that starts where another ends leaves no
    day out and no day in both (to_days None = open-ended)."""

    label: str
    from_days: float
    to_days: float | None
    nominal_days: float

    def contains(self, days: float) -> bool:
        return days >= self.from_days - _EPS and (self.to_days is None or days < self.to_days - _EPS)

    def words(self) -> str:
        """The window in days, as the report and lineage state it: 'days 49 to <137'."""
        end = "on" if self.to_days is None else f"to <{self.to_days:.10g}"
        return f"days {self.from_days:.10g} {end}"


@dataclass(frozen=True)
class ComparisonSide:
    """One side of a declared comparison: intervention ids and classes of the intervention registry. ``label``
    names the side in figures; matching.resolve_comparisons fills it from the registry when config gives none."""

    interventions: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    label: str | None = None


@dataclass(frozen=True)
class Comparison:
    """A declared comparison (config ``comparisons``): every effect and pool lies within one."""

    id: str
    label: str
    experimental: ComparisonSide
    control: ComparisonSide

    def side_of(self, intervention: str | None, intervention_class: str | None) -> int | None:
        """1 (experimental), 2 (control) or None for an arm: a side naming the arm's intervention id wins over
        a side naming its class, so "bm_msc vs other cell therapy" puts bm_msc arms on side 1."""
        sides = ((1, self.experimental), (2, self.control))
        for number, side in sides:
            if intervention is not None and intervention in side.interventions:
                return number
        for number, side in sides:
            if intervention_class is not None and intervention_class in side.classes:
                return number
        return None


def _side(cfg: dict) -> ComparisonSide:
    return ComparisonSide(tuple(cfg.get("interventions", ())), tuple(cfg.get("classes", ())), cfg.get("label"))


@dataclass(frozen=True)
class Settings:
    comparisons: tuple[Comparison, ...]
    windows: tuple[Window, ...]
    longest_follow_up: bool
    not_stated_assignments: tuple[dict, ...]
    methods: tuple[str, ...]
    default_method: str
    tests: tuple[str, ...]
    default_test: str
    fallback: str
    prediction_interval: str
    level: float
    continuous_measures: tuple[str, ...]
    event_measures: tuple[str, ...]
    continuity_add: float
    continuity_to: str
    continuity_drop00: bool
    event_methods: tuple[str, ...]        # MH / Peto rows beside the inverse-variance main analysis (event_pools)
    subgroup_difference_test: bool
    small_study_tests: tuple[str, ...]    # regtest / trimfill (small_study)
    small_study_min_k: int
    pre_post_correlation: float
    pre_post_correlation_sensitivity: tuple[float, ...]
    pool_across_meld_variants: bool
    include_meld_approximations: bool
    subgroups: dict
    sensitivity_exclusions: tuple[tuple[str, tuple[str, ...]], ...]
    exclude_non_randomized: bool
    leave_one_out_min_k: int
    leave_one_out_max_k: int

    @classmethod
    def from_config(cls, cfg: dict | None, comparisons: list[dict] | None = None) -> Settings:
        """Settings from config["synthesis"] and config["comparisons"]; missing keys take the schema's defaults
        (raises jsonschema.ValidationError for an unknown key or a value of the wrong kind)."""
        given = {"synthesis": cfg or {}} | ({} if comparisons is None else {"comparisons": list(comparisons)})
        full = with_defaults(given)
        cfg = full["synthesis"]
        cc = cfg["continuity_correction"]
        settings = cls(
            comparisons=tuple(Comparison(c["id"], c["label"], _side(c["experimental"]), _side(c["control"]))
                              for c in full["comparisons"]),
            windows=tuple(Window(w["label"], float(w["from_days"]), optional_float(w["to_days"]),
                                 float(w["nominal_days"])) for w in cfg["windows"]),
            longest_follow_up=bool(cfg["longest_follow_up"]),
            not_stated_assignments=tuple(dict(a) for a in cfg["not_stated_assignments"]),
            methods=tuple(cfg["methods"]), default_method=cfg["default_method"],
            tests=tuple(cfg["tests"]), default_test=cfg["default_test"],
            fallback=cfg["fallback"], prediction_interval=cfg["prediction_interval"], level=cfg["level"],
            continuous_measures=tuple(cfg["continuous_measures"]), event_measures=tuple(cfg["event_measures"]),
            continuity_add=float(cc["add"]), continuity_to=cc["to"], continuity_drop00=bool(cc["drop00"]),
            event_methods=tuple(cfg["event_methods"]), subgroup_difference_test=cfg["subgroup_difference_test"],
            small_study_tests=tuple(cfg["small_study_tests"]), small_study_min_k=cfg["small_study_min_k"],
            pre_post_correlation=cfg["pre_post_correlation"],
            pre_post_correlation_sensitivity=tuple(cfg["pre_post_correlation_sensitivity"]),
            pool_across_meld_variants=cfg["pool_across_meld_variants"],
            include_meld_approximations=cfg["include_meld_approximations"],
            subgroups={k: dict(v or {}) for k, v in cfg["subgroups"].items()},
            sensitivity_exclusions=tuple((s["name"], tuple(s["flags"])) for s in cfg["sensitivity_exclusions"]),
            exclude_non_randomized=cfg["exclude_non_randomized"],
            leave_one_out_min_k=cfg["leave_one_out_min_k"], leave_one_out_max_k=cfg["leave_one_out_max_k"],
        )
        settings.check()
        return settings

    @classmethod
    def default(cls) -> Settings:
        """The settings of an empty config (the schema's defaults)."""
        return cls.from_config({})

    def check(self) -> None:
        for window in self.windows:
            if window.to_days is not None and window.to_days <= window.from_days:
                raise ValueError(f"analysis window {window.label!r}: to_days must be after from_days "
                                 "(windows are [from_days, to_days))")
            if window.label == LONGEST_FOLLOW_UP:
                raise ValueError(f"analysis window label {LONGEST_FOLLOW_UP!r} names the longest follow-up analysis")
        ordered = sorted(self.windows, key=lambda w: w.from_days)
        for a, b in zip(ordered, ordered[1:]):
            if a.to_days is None or a.to_days > b.from_days + _EPS:
                raise ValueError(f"analysis windows {a.label!r} and {b.label!r} overlap: "
                                 "a timepoint must fall in at most one")
        labels = [w.label for w in self.windows]
        if len(set(labels)) < len(labels):
            raise ValueError(f"analysis window labels must be unique: {labels}")
        self._check_comparisons()
        for item in self.not_stated_assignments:
            if item["window"] not in labels:
                raise ValueError(f"not_stated_assignments: unknown window {item['window']!r} (have {sorted(labels)})")
        if self.default_method not in self.methods or self.default_test not in self.tests:
            raise ValueError("default_method/default_test must be among methods/tests")

    def _check_comparisons(self) -> None:
        ids = [c.id for c in self.comparisons]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"comparisons: id {twice[0]!r} is declared more than once")
        for c in self.comparisons:
            for what in ("interventions", "classes"):
                both = sorted(set(getattr(c.experimental, what)) & set(getattr(c.control, what)))
                if both:
                    raise ValueError(f"comparison {c.id!r}: {', '.join(both)} on both sides ({what}); an arm must "
                                     "fall on one side")

    def comparison(self, comparison_id: str) -> Comparison:
        return next(c for c in self.comparisons if c.id == comparison_id)

    @property
    def correlations(self) -> tuple[float, ...]:
        """Pre-post correlations to compute: the main value first, then the sensitivity values."""
        return (self.pre_post_correlation,) + tuple(r for r in self.pre_post_correlation_sensitivity
                                                    if r != self.pre_post_correlation)

    @cached_property
    def z(self) -> float:
        """Two-sided normal critical value of ``level`` (asked for once per comparisons row)."""
        return distributions.norm_isf((1 - self.level) / 2)

    def as_json(self) -> str:
        return json.dumps(asdict(self), default=str)
