"""Patient-level input: ``patients.csv`` in a study folder, one row per patient x visit.

Labs are validated (pandera), converted to the units each score needs, scored per
patient-visit (UNOS MELD, MELD-Na 2016, MELD 3.0, ALBI; Child-Pugh when ascites and
encephalopathy points are given), then summarized per arm x visit into harmonized
records (n, mean, SD, median, quartiles, range), each saying how many patient rows it
was computed from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from livertrials.harmonize import scores
from livertrials.harmonize.fields import arm_index, empty_quantities, record_id
from livertrials.io.extraction import read_measurements
from livertrials.io.registry import Registry
from livertrials.io.timepoints import TimepointError, parse_timepoint
from livertrials.validate.issues import Issue

PATIENTS_FILE = "patients.csv"
LAB_UNITS = {"bilirubin": "bilirubin_unit", "creatinine": "creatinine_unit", "albumin": "albumin_unit"}
REQUIRED = ["patient_id", "arm", "visit", "bilirubin", "bilirubin_unit", "inr", "creatinine", "creatinine_unit", "sex", "dialysis"]
OPTIONAL = ["sodium", "albumin", "albumin_unit", "ascites_points", "encephalopathy_points"]
# score outcome -> (registry outcome id, MELD variant recorded on the record)
SCORES = {"meld": "UNOS", "meld_na": "MELD-Na-UNOS2016", "meld_3": "MELD-3.0", "albi": None, "child_pugh_score": None}


def _numeric(name: str, required: bool) -> pa.Column:
    return pa.Column(float, nullable=not required, required=required, coerce=True, checks=pa.Check.gt(0, error=f"{name} must be > 0"))


def patient_schema(registry: Registry, arm_ids: set[str]) -> pa.DataFrameSchema:
    def unit_check(outcome: str) -> pa.Check:
        units = registry.outcomes[outcome].units
        return pa.Check(lambda s: s.map(lambda u: registry.unit(u) in units), error=f"unit allowed for {outcome} ({', '.join(units)})")

    def readable(value: str) -> bool:
        try:
            return parse_timepoint(value).kind in {"point", "range"}
        except TimepointError:
            return False

    columns = {
        "patient_id": pa.Column(str, nullable=False),
        "arm": pa.Column(str, pa.Check.isin(sorted(arm_ids), error="known arm"), nullable=False),
        "visit": pa.Column(str, pa.Check(lambda s: s.map(readable), error="readable visit timepoint"), nullable=False),
        "bilirubin": _numeric("bilirubin", True),
        "inr": _numeric("inr", True),
        "creatinine": _numeric("creatinine", True),
        "bilirubin_unit": pa.Column(str, unit_check("bilirubin")),
        "creatinine_unit": pa.Column(str, unit_check("creatinine")),
        "sex": pa.Column(str, pa.Check.isin(["F", "M"], error="sex is F or M"), nullable=False),
        "dialysis": pa.Column(int, pa.Check.isin([0, 1], error="dialysis is 0 or 1"), coerce=True),
        "sodium": _numeric("sodium", False),
        "albumin": _numeric("albumin", False),
        "albumin_unit": pa.Column(str, unit_check("albumin"), nullable=True, required=False),
        "ascites_points": pa.Column(float, pa.Check.isin([1, 2, 3], error="ascites points 1-3"), nullable=True, required=False, coerce=True),
        "encephalopathy_points": pa.Column(float, pa.Check.isin([1, 2, 3], error="encephalopathy points 1-3"), nullable=True, required=False, coerce=True),
    }
    return pa.DataFrameSchema(
        columns, strict=True,
        checks=[pa.Check(lambda df: ~df.duplicated(["patient_id", "visit"], keep=False), error="one row per patient and visit")],
    )


def read_patients(path) -> pd.DataFrame:
    """Read with the same safeguards as measurements.csv (regular file, size, UTF-8, table shape)."""
    frame = read_measurements(Path(path))
    frame.columns = [c.strip() for c in frame.columns]
    for column in OPTIONAL + REQUIRED:
        if column in frame.columns and column not in {"patient_id", "arm", "visit", "sex"} and not column.endswith("_unit"):
            frame[column] = frame[column].replace("", np.nan)
    return frame


def validate_patients(frame: pd.DataFrame, path, study_id: str, registry: Registry, arm_ids: set[str]) -> list[Issue]:
    try:
        patient_schema(registry, arm_ids).validate(frame, lazy=True)
    except SchemaErrors as errors:
        issues = []
        for case in errors.failure_cases.itertuples(index=False):
            has_row = case.index is not None and not (isinstance(case.index, float) and np.isnan(case.index))
            row = int(case.index) + 2 if has_row else None
            issues.append(Issue(study_id, str(path), row, str(frame.loc[int(case.index), "patient_id"]) if has_row and "patient_id" in frame else "",
                                str(case.column or ""), str(case.failure_case), "patients.csv schema", str(case.check)))
        return list(dict.fromkeys(issues))
    return []


def score_patients(frame: pd.DataFrame, registry: Registry) -> pd.DataFrame:
    """Add canonical-unit labs and one column per score; vectorized over all patient-visits."""
    def canonical(lab: str) -> np.ndarray:
        factors = frame[LAB_UNITS[lab]].map(lambda u: registry.outcomes[lab].units[registry.unit(u)])
        return frame[lab].astype(float).to_numpy() * factors.astype(float).to_numpy()

    out = frame.copy()
    out["bilirubin_umol_l"] = canonical("bilirubin")
    out["creatinine_umol_l"] = canonical("creatinine")
    bili_mg = scores.bilirubin_umol_to_mg_dl(out["bilirubin_umol_l"])
    creat_mg = scores.creatinine_umol_to_mg_dl(out["creatinine_umol_l"])
    inr = out["inr"].astype(float).to_numpy()
    dialysis = out["dialysis"].astype(int).to_numpy().astype(bool)
    out["meld"] = scores.meld_unos(bili_mg, inr, creat_mg, dialysis)
    sodium = out["sodium"].astype(float).to_numpy() if "sodium" in out else np.full(len(out), np.nan)
    out["meld_na"] = scores.meld_na_unos2016(bili_mg, inr, creat_mg, sodium, dialysis)
    if "albumin" in out:
        out["albumin_g_l"] = canonical("albumin")
        albumin_g_dl = scores.albumin_g_l_to_g_dl(out["albumin_g_l"])
        out["meld_3"] = scores.meld_3(bili_mg, inr, creat_mg, sodium, albumin_g_dl, (out["sex"] == "F").to_numpy(), dialysis)
        out["albi"] = scores.albi(out["bilirubin_umol_l"], out["albumin_g_l"])
        if {"ascites_points", "encephalopathy_points"} <= set(out.columns):
            out["child_pugh_score"] = scores.child_pugh(bili_mg, albumin_g_dl, inr, out["ascites_points"].astype(float),
                                                        out["encephalopathy_points"].astype(float)).score
    return out


def summarize(scored: pd.DataFrame, study_id: str, meta: dict, registry: Registry, collection: str) -> list[dict]:
    """One harmonized record per arm x visit x (score or lab), computed from the patient rows."""
    arms = arm_index(meta, registry)
    variables = {name: name for name in SCORES if name in scored}
    variables.update({"bilirubin": "bilirubin_umol_l", "creatinine": "creatinine_umol_l", "inr": "inr"})
    if "albumin_g_l" in scored:
        variables["albumin"] = "albumin_g_l"
    if "sodium" in scored:
        variables["sodium"] = "sodium"
    records = []
    for (arm_id, visit), group in scored.groupby(["arm", "visit"], sort=True):
        timepoint = parse_timepoint(visit)
        for outcome_id, column in variables.items():
            values = group[column].astype(float).dropna()
            if values.empty:
                continue
            outcome = registry.outcomes[outcome_id]
            record = empty_quantities()
            record.update(
                record_id=record_id(study_id, arm_id, visit, outcome_id, "patients"), study_id=study_id, collection=collection,
                arm_id=arm_id, arm_label=arms[arm_id]["label"], arm_role=arms[arm_id]["role"], is_contrast=False,
                **arms[arm_id]["fields"],
                outcome=outcome_id, outcome_label=outcome.label, outcome_as_printed=[column], kind=outcome.kind,
                timepoint_text=visit, timepoint_kind=timepoint.kind, timepoint_days=timepoint.days,
                timepoint_start_days=timepoint.start_days, unit=outcome.canonical_unit, unit_printed=outcome.canonical_unit,
                unit_factor=1.0, n=int(len(values)), mean=float(values.mean()),
                sd=float(values.std(ddof=1)) if len(values) > 1 else None, median=float(values.median()),
                q1=float(values.quantile(0.25)), q3=float(values.quantile(0.75)),
                minimum=float(values.min()), maximum=float(values.max()), p_value=None, t_statistic=None,
                meld_variant=SCORES.get(outcome_id), method=f"computed from {len(values)} patient rows (patients.csv)",
                source_row_ids=[f"patients.csv:{i + 2}" for i in group.index[group[column].notna()]],
                flags=["from_patient_level"],
            )
            records.append(record)
    return records
