"""Unit factors and registry rules, checked against resources cited in the registry README."""

import pytest


@pytest.mark.parametrize(
    "outcome, unit, value, expected, digits",
    [
        # formulas-and-methods.md 3.1: albumin g/L = g/dL x 10 (exact)
        ("albumin", "g/dL", 3.5, 35.0, 9),
        # transplantr tests/testthat/test_units.R: bilirubin 5.4 mg/dL -> 92 umol/L (rounded)
        ("bilirubin", "mg/dL", 5.4, 92, 0),
        # transplantr: creatinine 3.5 mg/dL -> 309 umol/L (rounded)
        ("creatinine", "mg/dL", 3.5, 309, 0),
        ("bilirubin", "umol/L", 18.0, 18.0, 9),
        ("inr", "INR", 1.4, 1.4, 9),
    ],
)
def test_unit_factors(registry, outcome, unit, value, expected, digits):
    assert round(value * registry.outcome(outcome).factor(unit), digits) == expected


def test_inverse_vectors_round_trip(registry):
    # transplantr: bilirubin 18 umol/L -> 1.1 mg/dL; creatinine 270 umol/L -> 3.1 mg/dL
    assert round(18 / registry.outcome("bilirubin").factor("mg/dL"), 1) == 1.1
    assert round(270 / registry.outcome("creatinine").factor("mg/dL"), 1) == 3.1


def test_printed_spellings_resolve(registry):
    assert registry.unit("μmol/l") == "umol/L"  # Greek mu, lower-case l
    assert registry.unit("µmol/L") == "umol/L"  # micro sign
    assert registry.unit(" g/dl ") == "g/dL"
    assert registry.unit("mg/dL") == "mg/dL"
    assert registry.unit("furlongs") is None
    assert registry.unit("") == ""


def test_coagulation_measures_are_not_interconvertible(registry):
    # formulas-and-methods.md 3.2-3.4: PT seconds, INR and activity need lab constants
    pt, inr, pta = registry.outcome("prothrombin_time"), registry.outcome("inr"), registry.outcome("prothrombin_activity")
    assert len({pt.id, inr.id, pta.id}) == 3
    assert not pt.accepts("%") and not pt.accepts("ratio")
    assert not inr.accepts("s") and not pta.accepts("s")


def test_aliases_resolve_case_insensitively(registry):
    assert registry.outcome("total_bilirubin").id == "bilirubin"
    assert registry.outcome("MELD").id == "meld"
    assert registry.outcome("Child-Pugh_score").id == "child_pugh_score"
    assert registry.outcome("prothrombin_concentration").id == "prothrombin_activity"
    assert registry.outcome("albumn") is None
    assert registry.statistic("iqr_lower").id == "q1"


def test_every_outcome_has_canonical_unit_with_factor_one(registry):
    for outcome in registry.outcomes.values():
        assert outcome.factor(outcome.canonical_unit) == 1
        if outcome.kind == "continuous":
            assert outcome.plausible is not None, outcome.id
            assert outcome.benefit in {"higher", "lower", "none"}


def test_score_constants_agree_with_the_registry(registry):
    from livertrials.harmonize import scores

    assert registry.outcome("bilirubin").factor("mg/dL") == scores.BILIRUBIN_UMOL_L_PER_MG_DL
    assert registry.outcome("creatinine").factor("mg/dL") == scores.CREATININE_UMOL_L_PER_MG_DL
    assert registry.outcome("albumin").factor("g/dL") == scores.ALBUMIN_G_L_PER_G_DL


def _registry_copy(tmp_path, interventions_text: str | None):
    """outcomes.yaml copied into tmp_path, with the given interventions.yaml beside it (None: no file)."""
    from conftest import ROOT

    (tmp_path / "outcomes.yaml").write_bytes((ROOT / "resources" / "registry" / "outcomes.yaml").read_bytes())
    if interventions_text is not None:
        (tmp_path / "interventions.yaml").write_text(interventions_text, encoding="utf-8")
    return tmp_path / "outcomes.yaml"


def test_interventions_are_read_from_beside_the_outcome_registry(registry):
    from conftest import ROOT

    from livertrials.io.registry import registry_files

    assert registry.interventions_file.endswith("resources/registry/interventions.yaml")
    folder = ROOT / "resources" / "registry"
    assert registry_files(folder / "outcomes.yaml") == [folder / "outcomes.yaml", folder / "interventions.yaml"]
    assert {"cell_therapy", "mobilisation", "control"} <= set(registry.classes)
    assert registry.interventions["bm_msc"].class_id == "cell_therapy"
    assert registry.interventions["gcsf"].class_id == "mobilisation"
    assert registry.interventions["gcsf_bm_mnc"].class_id == "cell_therapy"  # a combination has its own id
    assert {registry.interventions[i].class_id for i in ("standard_care", "placebo")} == {"control"}
    for intervention in registry.interventions.values():
        assert intervention.class_id in registry.classes and intervention.label


def test_intervention_with_unknown_class_names_file_and_entry(tmp_path):
    from livertrials.io.registry import load_registry

    path = _registry_copy(tmp_path, "classes:\n  - {id: control, label: Control}\n"
                                    "interventions:\n  - {id: placebo, label: Placebo, class: control}\n"
                                    "  - {id: bm_msc, label: BM-MSC, class: cell_therapy}\n")
    with pytest.raises(ValueError) as error:
        load_registry(path)
    message = str(error.value)
    assert str(tmp_path / "interventions.yaml") in message
    assert "intervention 'bm_msc' has unknown class 'cell_therapy'" in message and "classes: control" in message


@pytest.mark.parametrize("text, words", [
    ("classes:\n  - {id: control, label: Control}\ninterventions:\n  - {id: placebo, label: Placebo, class: control}\n"
     "  - {id: placebo, label: Again, class: control}\n", "'placebo' is listed more than once"),
    ("classes:\n  - {id: control, label: Control}\ninterventions:\n  - {id: Placebo, label: Placebo, class: control}\n",
     "must be lower-case"),
    ("classes:\n  - {id: control, label: Control}\ninterventions:\n  - {id: placebo, class: control}\n", "needs an id and a label"),
    ("classes: []\ninterventions: []\n", "'classes' must be a non-empty list"),
])
def test_malformed_intervention_registry_is_refused_clearly(tmp_path, text, words):
    from livertrials.io.registry import load_registry

    with pytest.raises(ValueError, match="interventions.yaml: ") as error:
        load_registry(_registry_copy(tmp_path, text))
    assert words in str(error.value)


def test_missing_intervention_registry_is_a_clear_error(tmp_path):
    from livertrials.io.registry import load_registry

    with pytest.raises(FileNotFoundError, match="intervention registry is missing; it must sit beside"):
        load_registry(_registry_copy(tmp_path, None))


def _meta_issues(tmp_path, registry, change):
    from conftest import minimal_meta, row, write_study

    from livertrials.io.extraction import load_study
    from livertrials.validate.study import validate_study

    meta = minimal_meta("Arms")
    change(meta["arms"])
    folder = write_study(tmp_path / "Arms", meta, [row("R1", "cells", "week 4", "albumin", "mean", "30", "g/L")])
    return [i for i in validate_study(load_study(folder), registry) if i.severity == "error"]


@pytest.mark.parametrize("value", [None, "", "  "])
def test_empty_intervention_is_reported_once_with_what_to_add(tmp_path, registry, value):
    errors = _meta_issues(tmp_path, registry, lambda arms: arms[1].update(intervention=value))
    assert [(i.rule, i.column) for i in errors] == [("known intervention", "arms.1.intervention")], [str(i) for i in errors]
    assert 'arms[1] (control): no intervention: add "intervention: <id>" with an id from' in errors[0].message
    assert "interventions.yaml (standard_care, placebo," in errors[0].message  # a control arm: control ids first


def test_intervention_of_the_wrong_type_is_left_to_the_schema(tmp_path, registry):
    errors = _meta_issues(tmp_path, registry, lambda arms: arms[0].update(intervention=["bm_msc", "gcsf"]))
    assert [(i.rule, i.column) for i in errors] == [("study.yaml schema", "arms.0.intervention")]
    assert "must be text" in errors[0].message


def test_unknown_intervention_lists_every_known_id_closest_first(tmp_path, registry):
    errors = _meta_issues(tmp_path, registry, lambda arms: arms[0].update(intervention="G-CSF"))
    assert len(errors) == 1 and errors[0].value == "G-CSF"
    listed = errors[0].message.split("known ids, closest first: ")[1].split(", ")
    assert sorted(listed) == sorted(registry.interventions) and listed[0] == "gcsf"
    assert "did you mean 'gcsf'?" in errors[0].message


def test_closest_first_keeps_registry_order_for_ties():
    from livertrials.validate.interventions import closest_first

    assert closest_first("bm_msc", ["uc_msc", "bm_msc", "bm_mnc"])[0] == "bm_msc"
    assert closest_first("zzz", ["b", "a"]) == ["b", "a"]
