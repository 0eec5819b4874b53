"""Synthesis settings: config["synthesis"] as typed values. Defaults come from the config schema only
(``livertrials.settings``); nothing here keeps one of its own."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cached_property

from scipy import stats

from livertrials.settings import with_defaults
from livertrials.synthesis.rows import optional_float

# Parquet metadata key of the settings JSON in every synthesis output (read by figures.forest.synthesis_settings)
SETTINGS_KEY = "livertrials.synthesis.settings"
_EPS = 1e-9   # day arithmetic: "month 4" is 121.75 d exactly, but be robust to rounding


@dataclass(frozen=True)
class Window:
    """An analysis window [from_days, to_days] (inclusive; to_days None = open-ended)."""

    label: str
    from_days: float
    to_days: float | None
    nominal_days: float

    def contains(self, days: float) -> bool:
        return days >= self.from_days - _EPS and (self.to_days is None or days <= self.to_days + _EPS)


@dataclass(frozen=True)
class Settings:
    windows: tuple[Window, ...]
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
    def from_config(cls, cfg: dict | None) -> Settings:
        """Settings from config["synthesis"]; missing keys take the schema's defaults (raises
        jsonschema.ValidationError for an unknown key or a value of the wrong kind)."""
        cfg = with_defaults({"synthesis": cfg or {}})["synthesis"]
        cc = cfg["continuity_correction"]
        settings = cls(
            windows=tuple(Window(w["label"], float(w["from_days"]), optional_float(w["to_days"]),
                                 float(w["nominal_days"])) for w in cfg["windows"]),
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
        ordered = sorted(self.windows, key=lambda w: w.from_days)
        for a, b in zip(ordered, ordered[1:]):
            if a.to_days is None or a.to_days >= b.from_days:
                raise ValueError(f"analysis windows {a.label!r} and {b.label!r} overlap: "
                                 "a timepoint must fall in at most one")
        labels = {w.label for w in self.windows}
        for item in self.not_stated_assignments:
            if item["window"] not in labels:
                raise ValueError(f"not_stated_assignments: unknown window {item['window']!r} (have {sorted(labels)})")
        if self.default_method not in self.methods or self.default_test not in self.tests:
            raise ValueError("default_method/default_test must be among methods/tests")

    @property
    def correlations(self) -> tuple[float, ...]:
        """Pre-post correlations to compute: the main value first, then the sensitivity values."""
        return (self.pre_post_correlation,) + tuple(r for r in self.pre_post_correlation_sensitivity
                                                    if r != self.pre_post_correlation)

    @cached_property
    def z(self) -> float:
        """Two-sided normal critical value of ``level`` (asked for once per comparisons row)."""
        return stats.norm.isf((1 - self.level) / 2)

    def as_json(self) -> str:
        return json.dumps(asdict(self), default=str)
