"""Issue 12's cross-field and character checks beyond the bad-input corpus (tests/bad_inputs).

- every data flag harmonization sets on a record is also a validation warning of that study (the shipped
  corpus and constructed cases), from one home (``validate.consistency``, imported by ``harmonize.records``);
- a meta-analysis is an error under studies/ only: the CLI reads the collection from the parent folder;
- the character hints name each look-alike character with its code point; numbers take ASCII digits only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from livertrials import cli
from livertrials.harmonize import records as harmonize_records
from livertrials.harmonize.study import process_study
from livertrials.io.numbers import explain_number, p_value_number, parse_number
from livertrials.io.registry import load_registry
from livertrials.io.text import character_hint, describe_character, foreign_digits, with_article
from livertrials.validate import consistency

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "bad_inputs"
REGISTRY_PATH = ROOT / "resources" / "registry" / "outcomes.yaml"
# harmonization flag -> the validation rule that warns of it
FLAG_RULES = {"conflicting_reports": "conflicting values", "inconsistent_percentage": "percentage matches count",
              "mixed_units": "one unit per cell", "unit_not_convertible": "unit not convertible",
              "unit_presumed": "presumed unit"}
SHIPPED = sorted(p for c in ("studies", "comparators") for p in (ROOT / "resources" / c).iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def registry():
    return load_registry(REGISTRY_PATH)


def _flags_and_rules(folder: Path, registry) -> tuple[set[str], set[str], list]:
    records, _, issues = process_study(folder, folder.parent.name, registry)
    flags = {f for r in records for f in r["flags"] if f in FLAG_RULES}
    return flags, {i.rule for i in issues if i.severity == "warning"}, issues


@pytest.mark.parametrize("case, flag", [("conflicting_values_one_cell", "conflicting_reports"),
                                        ("inconsistent_percentage", "inconsistent_percentage"),
                                        ("mixed_units_one_cell", "mixed_units"),
                                        ("unit_not_convertible", "unit_not_convertible")])
def test_each_flag_is_set_by_harmonization_and_warned_by_validation(case, flag, registry):
    flags, rules, issues = _flags_and_rules(CORPUS / case, registry)
    assert flag in flags, f"{case}: harmonization no longer sets {flag}"
    assert FLAG_RULES[flag] in rules, [str(i) for i in issues]


@pytest.fixture(scope="module")
def shipped(registry):
    return {folder.name: _flags_and_rules(folder, registry) for folder in SHIPPED}


def test_shipped_corpus_every_data_flag_is_warned(shipped):
    """On the shipped corpus: a study whose records carry a data flag has the matching validation warning."""
    missing = [f"{name}: {flag}" for name, (flags, rules, _) in shipped.items() for flag in flags if FLAG_RULES[flag] not in rules]
    assert missing == []


def test_shipped_corpus_has_no_errors(shipped):
    assert [str(i) for _, _, issues in shipped.values() for i in issues if i.severity == "error"] == []


def test_harmonization_uses_the_shared_checks():
    """One home: harmonize.records imports the checks instead of keeping a copy."""
    for name in ("cell_key", "conflicting", "outcome_unit", "percentage_inconsistent"):
        assert getattr(harmonize_records, name) is getattr(consistency, name)
    assert not hasattr(harmonize_records, "PERCENT_TOLERANCE")


def test_percentage_tolerance_is_rounding():
    assert not consistency.percentage_inconsistent(18, 60.0, 30)
    assert not consistency.percentage_inconsistent(1, 33.3, 3)  # 33.33...% printed to one decimal
    assert consistency.percentage_inconsistent(18, 53.0, 30)
    assert not consistency.percentage_inconsistent(18, 53.0, None)  # no denominator: nothing to compare


def _meta_analysis_folder(parent: Path) -> Path:
    folder = parent / "SomeMA2020"
    shutil.copytree(CORPUS / "base_valid", folder)
    meta = yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8"))
    meta.update(id="SomeMA2020", kind="meta_analysis", design="meta-analysis of 5 RCTs")
    (folder / "study.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    return folder


@pytest.mark.parametrize("collection, rejected", [("studies", True), ("comparators", False)])
def test_meta_analysis_is_an_error_under_studies_only(tmp_path, registry, collection, rejected, capsys):
    folder = _meta_analysis_folder(tmp_path / collection)
    _, _, issues = process_study(folder, collection, registry)
    assert any(i.rule == "meta-analysis filed as a study" and i.severity == "error" for i in issues) is rejected
    assert cli.main(["validate", str(folder), "--registry", str(REGISTRY_PATH)]) == int(rejected)
    assert ("REJECTED" in capsys.readouterr().out) is rejected


def test_a_trial_that_a_meta_analysis_lists_is_not_one(tmp_path, registry):
    """A design that only mentions a meta-analysis (e.g. 'listed as RCT in SCRT 2023 meta-analysis') is a trial."""
    folder = tmp_path / "studies" / "Trial2020"
    shutil.copytree(CORPUS / "base_valid", folder)
    meta = yaml.safe_load((folder / "study.yaml").read_text(encoding="utf-8"))
    meta.update(id="Trial2020", design="matched controlled (abstract); listed as RCT in SCRT 2023 meta-analysis")
    (folder / "study.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    _, _, issues = process_study(folder, "studies", registry)
    assert [str(i) for i in issues if i.severity == "error"] == []


@pytest.mark.parametrize("text, named", [
    ("сell", "'с' (U+0441 CYRILLIC SMALL LETTER ES) is not a Latin letter"),
    ("smt\n", "ends with a line break"),
    ("٣٢", "'٣' (U+0663 ARABIC-INDIC DIGIT THREE), '٢' (U+0662 ARABIC-INDIC DIGIT TWO) are not ASCII digits"),
    ("−1", "'−' (U+2212 MINUS SIGN) is not a plain minus or hyphen: use '-' (U+002D)"),
    ("a\u00a0b", "'\\xa0' (U+00A0 NO-BREAK SPACE) is not a plain space"),
])
def test_character_hint_names_the_character_and_its_code_point(text, named):
    assert named in character_hint(text)


@pytest.mark.parametrize("text", ["cell", "week 24", "32.5", "-1.2", "E0001", "g/L"])
def test_character_hint_is_silent_on_plain_text(text):
    assert character_hint(text) == ""


def test_describe_character_and_foreign_digits():
    assert describe_character("Ι") == "'Ι' (U+0399 GREEK CAPITAL LETTER IOTA)"
    assert foreign_digits("week ٢٤ or ２４ and 24") == ["٢", "٤", "２", "４"]
    assert with_article("odds ratio") == "an odds ratio" and with_article("mean") == "a mean"


@pytest.mark.parametrize("text", ["٣٢.٥", "３２", "२", "−4.1", "–4.1"])
def test_numbers_take_ascii_digits_and_a_plain_minus_only(text):
    assert parse_number(text) is None
    assert "U+" in explain_number(text)


def test_plain_numbers_and_p_values_still_parse():
    assert parse_number("-4.1") == -4.1 and parse_number(" 1e3 ") == 1000.0 and parse_number(".5") == 0.5
    assert p_value_number("<0.05") == 0.05 and p_value_number("≤0.001") == 0.001
    assert p_value_number("<٠.٠٥") is None
