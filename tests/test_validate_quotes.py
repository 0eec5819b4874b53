"""Value in quote: a value its own quote does not print is a warning naming row, value and quote."""

from __future__ import annotations

import csv

import pytest
from conftest import ROOT, minimal_meta, row, write_study

from livertrials.harmonize.study import process_study
from livertrials.io.evidence_sheet import GLOSS_FILE, SHEETS
from livertrials.io.extraction import load_study, study_folders
from livertrials.validate.quotes import QUOTE_FLAG, RULE, quote_warnings, value_in_quote
from livertrials.validate.rows import KNOWN_FLAGS


@pytest.mark.parametrize("value, quote", [
    ("36.4", "albumin was 36.4 +/- 7.8 g/L"),
    ("7.8", "albumin was 36.4 +/- 7.8 g/L"),
    ("7.8", "albumin was 36.4±7.8 g/L"),
    ("7.8", "albumin was 36.4+-7.8 g/L"),
    ("1234", "a total of 1,234 patients"),
    ("1234", "a total of 1 234 patients"),
    ("1234", "a total of 1\u00a0234 patients"),       # no-break space
    ("1234", "a total of 1\u202f234 patients"),       # narrow no-break space
    ("1234.5", "a total of 1.234,5 mL"),
    ("1234.5", "a total of 1 234,5 mL"),
    ("36.4", "Albumin 36,4 g/l"),                     # decimal comma
    ("36.4", "Albumin 36·4 g/L"),                     # middle dot (Lancet style)
    ("-19.13", "MD \u221219.13 (95% CI \u221225.59 to \u22129.27)"),  # U+2212 minus
    ("-9.27", "MD \u221219.13 (95% CI \u221225.59 to \u22129.27)"),
    ("-0.01", "95%CI: -2.45-(-0.01)"),
    ("36.4", "白蛋白(３６.４±７.８)g/L"),                # full-width digits
    ("36.4", "白蛋白（36．4±7．8）g/L"),                 # full-width point and brackets
    ("36.4", "白蛋白明显升高 [albumin rose to 36.4 g/L]"),  # the value only in the English gloss
    ("36.4", "Albumin 36.40 g/L"),                    # trailing zero as printed
    ("36.40", "Albumin 36.4 g/L"),
    ("53", "18 (53%) died"),
    ("53", "18 (53 %) died"),
    ("<0.05", "P < 0.05"),
    ("0.001", "(P =.001)"),
    ("0.03", "P = .03"),
    ("53", "Fifty-three patients (Group B)"),
    ("9", "17 patients had died and nine were lost to follow-up"),
    ("72", "Seventy-two patients with alcoholic cirrhosis"),
    ("2500000.0", "2.5 million cells/kg body weight"),
    ("1000000.0", "1× 106/kg"),                       # a superscript flattened in the copy: 1 x 10^6
    ("50000000", "injections of 5 × 10 7 BM-MSCs"),
    ("1000000.0", "10 x 10(5) cells/kg"),
    ("100000", "1 x 10^5 cells/kg"),
    ("100000", "1.0×10⁵ cells/kg"),
    ("2e5", "2 x 10^5 cells"),
    ("76", "median age 53 (range: 31-76) years"),
])
def test_printed_variants_of_the_value_are_found(value, quote):
    assert value_in_quote(value, quote)


@pytest.mark.parametrize("value, quote", [
    ("38.4", "albumin was 36.4 +/- 7.8 g/L"),         # the slip of the issue: 36.4 typed as 38.4
    ("6.4", "albumin was 36.4 g/L"),                  # part of a printed number is not the number
    ("3.64", "albumin was 36.4 g/L"),
    ("-2.1", "MELD fell by 2.1 points"),              # a sign the quote does not print
    ("364", "Albumin 36.4 g/L"),
    ("105", "1.0×10⁵ cells/kg"),                      # a superscript exponent is not a digit of the number
    ("100000", "1.0 to 10 x 10(5) cells/kg"),           # a shorthand read (the power of ten printed once): flag it
    ("54", "Fifty-three patients"),
])
def test_a_value_the_quote_does_not_print_is_not_found(value, quote):
    assert not value_in_quote(value, quote)


def test_values_that_are_not_numbers_are_left_to_the_value_rules():
    assert value_in_quote("3,5", "nothing")  # the comma is reported by "number as printed"
    assert value_in_quote("３", "nothing")    # a digit from another script: not a number as printed
    assert value_in_quote("nan", "nothing")


def study_with(tmp_path, rows):
    return write_study(tmp_path / "Quoted", minimal_meta("Quoted"), rows)


def test_a_warning_names_the_line_row_value_and_quote(tmp_path, registry):
    quote = "Albumin rose from 36.4 ± 7.8 g/L"
    folder = study_with(tmp_path, [
        row("R1", "cells", "baseline", "albumin", "mean", "38.4", "g/L", quote=quote),
        row("R2", "cells", "baseline", "albumin", "sd", "7.8", "g/L", quote=quote),
    ])
    records, _, issues = process_study(folder, "studies", registry)
    assert records  # a warning keeps the study
    (warning,) = [i for i in issues if i.rule == RULE]
    assert (warning.severity, warning.file, warning.row, warning.row_id, warning.column, warning.value) == (
        "warning", str(folder / "measurements.csv"), 2, "R1", "value", "38.4")
    assert repr(quote) in warning.message and "'38.4'" in warning.message and QUOTE_FLAG in warning.message
    assert f"[rule: {RULE}]" in str(warning)


def test_the_flag_skips_the_check_and_is_a_known_flag(tmp_path, registry):
    assert QUOTE_FLAG in KNOWN_FLAGS
    folder = study_with(tmp_path, [
        row("R1", "cells", "baseline", "albumin", "mean", "38.4", "g/L", quote="see Table 2", flags=QUOTE_FLAG),
        row("R2", "cells", "baseline", "albumin", "sd", "", "g/L", quote="SD not given", flags="not_printed"),
    ])
    _, _, issues = process_study(folder, "studies", registry)
    assert not [i for i in issues if i.rule == RULE]
    assert not [i for i in issues if i.severity == "error"], issues


def test_a_long_quote_is_cut_in_the_message(tmp_path):
    quote = "Albumin " + "x" * 5000
    folder = study_with(tmp_path, [row("R1", "cells", "baseline", "albumin", "mean", "30", "g/L", quote=quote)])
    (warning,) = quote_warnings(load_study(folder))
    assert len(warning.message) < 500


def shipped_folders():
    return [f for collection in ("studies", "comparators") for f in study_folders(ROOT / "resources" / collection)]


def gloss_file_rows():
    with open(ROOT / SHEETS[0].parent / GLOSS_FILE, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_shipped_corpus_has_no_value_in_quote_warning():
    warnings = [str(w) for folder in shipped_folders() for w in quote_warnings(load_study(folder))]
    assert warnings == []


def test_every_curated_gloss_row_is_flagged_says_why_and_would_warn_without_its_flag():
    curated = {r["row_id"]: r["reason"] for r in gloss_file_rows()}
    assert curated and all(reason.strip() for reason in curated.values())
    flagged = {}
    for folder in shipped_folders():
        for r in load_study(folder).measurements.to_dict("records"):
            if QUOTE_FLAG in r["flags"].split(";"):
                flagged[r["row_id"]] = r
    assert set(flagged) == set(curated)
    for row_id, r in flagged.items():
        assert not value_in_quote(r["value"], r["quote"]), f"{row_id}: the quote prints the value; drop it from {GLOSS_FILE}"


@pytest.mark.parametrize("quote", ["9" * 3_000_000, "1 x " * 500_000, "1.5e" * 500_000, "10^(" * 500_000,
                                   "fifty-" * 500_000, "1,2" * 1_000_000])
def test_a_huge_hostile_quote_is_checked_in_a_moment(quote):
    import time

    start = time.perf_counter()
    value_in_quote("38.4", quote + " 38.4")
    assert time.perf_counter() - start < 2
    assert not value_in_quote("38.4", quote + " 38.4")  # searched up to QUOTE_LIMIT characters only
