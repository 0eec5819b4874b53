"""Study characteristics: one row per study x arm (design, population, intervention with its registry label and
class, cell source, route, dose, sizes, flags); and each study's risk of bias, one row per domain of its tool."""

from __future__ import annotations

from livertrials.harmonize.fields import intervention_fields, record_id
from livertrials.io.registry import Registry
from livertrials.validate.risk_of_bias import risk_of_bias_rows


def characteristics(meta: dict, study_id: str, collection: str, registry: Registry) -> list[dict]:
    flags = [f"{f.get('code')}: {f.get('detail', '')}" for f in meta.get("flags") or []]
    base = {k: meta.get(k) for k in ("kind", "citation", "doi_or_pmid", "design", "randomized", "condition",
                                      "population", "etiology", "country")}
    base.update(study_id=study_id, collection=collection, meld_variant=meta.get("meld_variant", "not_stated"), study_flags=flags)
    rows = []
    for arm in meta.get("arms") or []:
        row = dict(base, characteristic_id=record_id(study_id, arm["id"], "characteristics"), arm_id=arm["id"],
                   arm_label=arm.get("label"), arm_role=arm.get("role"),
                   **intervention_fields(arm.get("intervention"), registry))
        for key in ("n_randomized", "n_analysed", "cell_source", "cell_type", "origin", "route", "dose", "infusions", "co_intervention"):
            row[key] = arm.get(key)
        rows.append(row)
    return rows


def risk_of_bias(meta: dict, study_id: str, collection: str) -> list[dict]:
    """The study's risk-of-bias rows (validate.risk_of_bias.RISK_OF_BIAS_TABLE: a row per domain of its tool and
    overall, "not_assessed" where study.yaml records nothing). Only pooled studies are assessed: a published
    meta-analysis (collection "comparators") gets none."""
    if collection != "studies":
        return []
    return [dict(row, study_id=study_id) for row in risk_of_bias_rows(meta)]
