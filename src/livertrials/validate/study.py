"""Validate one study folder: every problem at once, each as file, row, column, value and rule.

``study.yaml`` is checked against ``src/livertrials/validate/schemas/study.schema.yaml``
(JSON schema) plus cross-references (validate.meta) and checks across keys (validate.cross_field);
``measurements.csv`` against a pandera schema built for the study (its arms) and the registry
(outcomes, units, statistics, plausible ranges; validate.rows), then across rows
(validate.cross_rows), by statistic (validate.statistics) and for the consistency of each cell
(validate.consistency), and whether each value is printed in its quote (validate.quotes). Errors
reject the study; warnings (a presumed unit, an SD of 0, the data flags harmonization will set, ...)
are carried downstream as flags, except a value its quote does not print (a warning only).
"""

from __future__ import annotations

from livertrials.io.extraction import StudyFolder
from livertrials.io.registry import Registry
from livertrials.io.tables import row_dicts
from livertrials.validate.interventions import validate_interventions
from livertrials.validate.issues import Issue
from livertrials.validate.meta import validate_study_meta
from livertrials.validate.quotes import quote_warnings
from livertrials.validate.rows import validate_measurements


def unit_warnings(study: StudyFolder, registry: Registry) -> list[Issue]:
    """A warning for every row whose unit was not printed but presumed by the extractor.

    Row flags (arm_attribution_uncertain, secondary_source, ...) are carried to the records as they are, not reported here.
    """
    file = str(study.folder / "measurements.csv")
    warnings = []
    if not {"unit", "unit_presumed", "row_id"} <= set(study.measurements.columns):
        return warnings
    for index, row in zip(study.measurements.index, row_dicts(study.measurements)):
        if not row["unit"].strip() and row.get("unit_presumed", "").strip():
            warnings.append(Issue(study.study_id, file, index + 2, row["row_id"], "unit_presumed", row["unit_presumed"],
                                  "presumed unit", "no unit printed; the presumed unit is used and flagged", "warning"))
    return warnings


def validate_rows(study: StudyFolder, registry: Registry) -> list[Issue]:
    """Errors and warnings of measurements.csv."""
    return validate_measurements(study, registry) + unit_warnings(study, registry) + quote_warnings(study)


def validate_study(study: StudyFolder, registry: Registry) -> list[Issue]:
    """All errors and warnings of one study folder."""
    meta_issues = validate_interventions(study, registry, validate_study_meta(study))
    return meta_issues + validate_rows(study, registry)
