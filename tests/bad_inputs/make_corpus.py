"""Write the bad-input corpus: one small study folder per defect, plus expected.yaml.

Every case starts from the same minimal valid study (``base_valid``: two arms, one
contrast, eight measurement rows) and changes ONE thing. The folders are committed so
a reviewer can open them, but this script is their source: run

    python tests/bad_inputs/make_corpus.py

to rewrite them (tests/test_validate_bad_inputs.py checks the committed copy is identical).
Binary and odd cases (byte-order mark, CRLF, Latin-1, UTF-16, NUL bytes) are written
here byte by byte; the > 20 MiB file is made at test time, never committed.

expected.yaml maps each case to the issue validation must report:
rule, column ("" = no column), row (line in the file, 1 = header; null = whole
file), the file the issue is about, and a substring of the message. Cases with
``accept: true`` must produce no error at all (a BOM or CRLF is harmless).
"""

from __future__ import annotations

import copy
import csv
import io
import shutil
import sys
from datetime import date
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
COLUMNS = ["row_id", "arm", "arm_as_printed", "timepoint", "outcome", "statistic", "value", "unit",
           "unit_presumed", "source", "location", "quote", "note", "flags"]
SOURCE = "https://example.org/trial-2020"
QUOTE_ALB = "Albumin at week 24 was 32.5 +/- 4.1 g/L with MSC and 30.2 +/- 3.9 g/L with SMT (P < 0.05)."
QUOTE_DEATH = "Two patients in the MSC group and five in the SMT group died by week 24."

BASE_META = {
    "id": None,  # set to the case (folder) name
    "kind": "trial",
    "citation": "Example A, Sample B. Bone marrow MSC in decompensated cirrhosis: a randomized trial. J Test Hepatol. 2020;1:1-10.",
    "design": "open-label randomized controlled trial",
    "randomized": True,
    "population": "HBV-related decompensated cirrhosis",
    "condition": "decompensated_cirrhosis",
    "etiology": "HBV",
    "country": "China",
    "meld_variant": "not_stated",
    "follow_up": "24 weeks",
    "arms": [
        {"id": "cell", "label": "BM-MSC + SMT", "role": "intervention", "intervention": "bm_msc", "n_randomized": 20,
         "cell_source": "bone_marrow", "cell_type": "MSC", "origin": "autologous", "route": "peripheral_vein",
         "dose": "1 x 10^6 cells/kg", "infusions": 1, "co_intervention": "standard medical therapy"},
        {"id": "smt", "label": "SMT", "role": "control", "intervention": "standard_care", "n_randomized": 20, "cell_source": "none",
         "cell_type": "none", "origin": "none", "route": "none", "dose": None, "infusions": None,
         "co_intervention": "standard medical therapy"},
    ],
    "contrasts": [
        {"id": "cell_vs_smt", "label": "BM-MSC vs SMT", "intervention": "cell", "control": "smt", "n_total": 40},
    ],
    "sources": [SOURCE],
}


def _row(row_id, arm, printed, timepoint, outcome, statistic, value, unit, quote):
    return {"row_id": row_id, "arm": arm, "arm_as_printed": printed, "timepoint": timepoint, "outcome": outcome,
            "statistic": statistic, "value": value, "unit": unit, "unit_presumed": "", "source": SOURCE,
            "location": "Table 2", "quote": quote, "note": "", "flags": ""}


# line in measurements.csv = position + 2 (line 1 is the header): E01 is line 2 ... E08 line 9
BASE_ROWS = [
    _row("E01", "cell", "MSC", "baseline", "n_randomized", "count", "20", "patients", "Forty patients were randomized (20 per group)."),
    _row("E02", "cell", "MSC", "week 24", "albumin", "mean", "32.5", "g/L", QUOTE_ALB),
    _row("E03", "cell", "MSC", "week 24", "albumin", "sd", "4.1", "g/L", QUOTE_ALB),
    _row("E04", "smt", "SMT", "week 24", "albumin", "mean", "30.2", "g/L", QUOTE_ALB),
    _row("E05", "smt", "SMT", "week 24", "albumin", "sd", "3.9", "g/L", QUOTE_ALB),
    _row("E06", "cell_vs_smt", "MSC vs SMT", "week 24", "albumin", "p_value", "<0.05", "", QUOTE_ALB),
    _row("E07", "cell", "MSC", "week 24", "death", "count", "2", "patients", QUOTE_DEATH),
    _row("E08", "smt", "SMT", "week 24", "death", "count", "5", "patients", QUOTE_DEATH),
]
LINE = {row["row_id"]: i + 2 for i, row in enumerate(BASE_ROWS)}


def csv_text(rows: list[dict], columns: list[str] = COLUMNS, delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", delimiter=delimiter, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def yaml_text(meta: dict) -> str:
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)


class Case:
    """A copy of the base study, edited in place by the case's recipe."""

    def __init__(self, name: str):
        self.name = name
        self.meta = copy.deepcopy(BASE_META)
        self.meta["id"] = name
        self.rows = copy.deepcopy(BASE_ROWS)
        self.columns = list(COLUMNS)
        self.study_bytes: bytes | None = None  # raw file content overriding meta
        self.csv_bytes: bytes | None = None  # raw file content overriding rows
        self.omit: set[str] = set()
        self.links: dict[str, str] = {}  # file name -> symbolic link target (written instead of the file)
        self.folders: set[str] = set()  # file names written as a folder (holding a README) instead of the file
        self.extra: dict[str, bytes] = {}  # other files of the folder, e.g. patients.csv

    def edit(self, target: str, /, **changes) -> "Case":
        """Change cells of the row whose row_id is target."""
        for row in self.rows:
            if row["row_id"] == target:
                row.update(changes)
                return self
        raise KeyError(target)

    def study_yaml(self) -> bytes:
        return self.study_bytes if self.study_bytes is not None else yaml_text(self.meta).encode("utf-8")

    def measurements(self) -> bytes:
        return self.csv_bytes if self.csv_bytes is not None else csv_text(self.rows, self.columns).encode("utf-8")

    def write(self, root: Path) -> None:
        folder = root / self.name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        files = {"study.yaml": self.study_yaml(), "measurements.csv": self.measurements(), **self.extra}
        for name, data in files.items():
            if name in self.omit:
                continue
            if name in self.links:
                (folder / name).symlink_to(self.links[name])
            elif name in self.folders:
                (folder / name).mkdir()
                (folder / name / "README").write_bytes(b"a folder where the table should be\n")
            else:
                (folder / name).write_bytes(data)


CASES: dict[str, tuple] = {}  # name -> (recipe, expected)


def E(rule, column="", row=None, message="", file="measurements.csv"):
    return {"rule": rule, "column": column, "row": row, "file": file, "message": message}


def W(rule, column="", row=None, message="", file="measurements.csv"):
    """A warning: the study is still built, and validation must report this."""
    return dict(E(rule, column, row, message, file), severity="warning")


def simple(name, expected, recipe):
    CASES[name] = (recipe, expected)


# ---------------------------------------------------------------- accepted (no error)
simple("base_valid", {"accept": True, "file": "measurements.csv"}, lambda c: None)


def _bom(c: Case):
    c.csv_bytes = b"\xef\xbb\xbf" + c.measurements()


def _bom_yaml(c: Case):
    c.study_bytes = b"\xef\xbb\xbf" + c.study_yaml()


def _crlf(c: Case):
    c.csv_bytes = c.measurements().replace(b"\n", b"\r\n")


def _crlf_yaml(c: Case):
    c.study_bytes = c.study_yaml().replace(b"\n", b"\r\n")


def _bom_crlf_both(c: Case):
    _crlf(c)
    _crlf_yaml(c)
    c.csv_bytes = b"\xef\xbb\xbf" + c.csv_bytes
    c.study_bytes = b"\xef\xbb\xbf" + c.study_bytes


simple("accept_bom_measurements", {"accept": True, "file": "measurements.csv"}, _bom)
simple("accept_bom_study_yaml", {"accept": True, "file": "study.yaml"}, _bom_yaml)
simple("accept_crlf_measurements", {"accept": True, "file": "measurements.csv"}, _crlf)
simple("accept_crlf_study_yaml", {"accept": True, "file": "study.yaml"}, _crlf_yaml)
simple("accept_bom_crlf_both", {"accept": True, "file": "measurements.csv"}, _bom_crlf_both)

# ---------------------------------------------------------------- measurements.csv: columns and layout


def _drop(column):
    def recipe(c: Case):
        c.columns.remove(column)
    return recipe


def _rename(old, new):
    def recipe(c: Case):
        c.columns[c.columns.index(old)] = new
        for row in c.rows:
            row[new] = row.pop(old)
    return recipe


def _extra_column(c: Case):
    c.columns.append("comment")
    for row in c.rows:
        row["comment"] = "checked"


def _duplicate_column(c: Case):
    text = csv_text(c.rows, c.columns)
    lines = text.splitlines()
    lines[0] += ",value"
    lines[1:] = [line + ",1" for line in lines[1:]]
    c.csv_bytes = ("\n".join(lines) + "\n").encode()


simple("missing_column_unit", E("required columns", "unit", 1, "required column 'unit' is missing"), _drop("unit"))
simple("missing_column_value", E("required columns", "value", 1, "required column 'value' is missing"), _drop("value"))
simple("missing_column_quote", E("required columns", "quote", 1, "required column 'quote' is missing"), _drop("quote"))
simple("misspelled_column", E("known columns", "statistc", 1, "is not part of the format"), _rename("statistic", "statistc"))
simple("extra_column", E("known columns", "comment", 1, "'comment' is not part of the format"), _extra_column)


def _header_trailing_comma(c: Case):
    lines = csv_text(c.rows, c.columns).splitlines()
    c.csv_bytes = ("\n".join(line + "," for line in lines) + "\n").encode()


simple("header_trailing_comma", E("known columns", "", 1, "a column with no name"), _header_trailing_comma)
simple("duplicate_column", E("unique column names", "", None, "column 'value' appears more than once"), _duplicate_column)


def _raw_csv(data: bytes):
    def recipe(c: Case):
        c.csv_bytes = data
    return recipe


simple("empty_file", E("non-empty table", "", None, "measurements.csv is empty"), _raw_csv(b""))
simple("whitespace_only_file", E("non-empty table", "", None, "measurements.csv is empty"), _raw_csv(b"\n  \n\n"))
simple("only_empty_cells", E("non-empty table", "", None, "no header line"), _raw_csv(b",,,\n,,,\n"))
simple("header_only", E("at least one measurement", "", None, "header but no rows"),
       _raw_csv((",".join(COLUMNS) + "\n").encode()))


def _delimited(delimiter):
    def recipe(c: Case):
        c.csv_bytes = csv_text(c.rows, c.columns, delimiter=delimiter).encode()
    return recipe


def _semicolon_comma_decimal(c: Case):
    for row in c.rows:
        row["value"] = row["value"].replace(".", ",")
    c.csv_bytes = csv_text(c.rows, c.columns, delimiter=";").encode()


simple("semicolon_separated", E("comma-separated table", "", None, "separated by semicolons"), _delimited(";"))
simple("semicolon_comma_decimals", E("comma-separated table", "", None, "separated by semicolons"), _semicolon_comma_decimal)
simple("tab_separated", E("comma-separated table", "", None, "separated by tabs"), _delimited("\t"))


def _line_edit(line_no, func):
    """Edit one physical line (1 = header) of the written CSV text."""
    def recipe(c: Case):
        lines = csv_text(c.rows, c.columns).split("\n")
        lines[line_no - 1] = func(lines[line_no - 1])
        c.csv_bytes = "\n".join(lines).encode()
    return recipe


simple("ragged_row_extra_field", E("comma-separated table", "", None, "line 5 has 15 fields"),
       _line_edit(5, lambda line: line.replace("Table 2", "Table 2, left column", 1)))
simple("ragged_first_row_extra_field", E("comma-separated table", "", None, "line 2 has 15 fields"),
       _line_edit(2, lambda line: line.replace("Table 2", "Table 2, left column", 1)))
simple("ragged_row_missing_fields", E("comma-separated table", "", None, "line 6 has 9 fields"),
       _line_edit(6, lambda line: ",".join(next(csv.reader([line]))[:9])))
simple("unclosed_quote", E("comma-separated table", "", None, "quote"),
       _line_edit(4, lambda line: line.replace("Table 2", '"Table 2', 1)))
simple("nul_byte", E("plain text", "", None, "contains a NUL byte on line 3"),
       _line_edit(3, lambda line: line.replace("Table 2", "Table\x002", 1)))


def _blank_line_then_bad_unit(c: Case):
    c.edit("E05", unit="furlongs")
    lines = csv_text(c.rows, c.columns).split("\n")
    lines.insert(3, "")  # a blank line after E02: E05 moves from line 6 to line 7
    c.csv_bytes = "\n".join(lines).encode()


simple("multiline_quote_shifts_lines", E("unit allowed for outcome", "unit", LINE["E05"] + 1, "unit 'furlongs' is unknown"),
       lambda c: c.edit("E03", quote="Albumin rose with MSC.\nIt fell with SMT.").edit("E05", unit="furlongs"))
simple("blank_line_shifts_lines", E("unit allowed for outcome", "unit", LINE["E05"] + 1, "unit 'furlongs' is unknown"),
       _blank_line_then_bad_unit)


def _latin1(c: Case):
    c.edit("E02", quote="Albumin (\u00b5mol? no: g/L) rose in the MSC group; na\u00efve patients; caf\u00e9.")
    c.csv_bytes = csv_text(c.rows, c.columns).encode("latin-1")


def _latin1_yaml(c: Case):
    c.meta["citation"] = "M\u00fcller A, Garc\u00eda B. Cellules souches et cirrhose. Gastroent\u00e9rologie. 2020;1:1-10."
    c.study_bytes = yaml_text(c.meta).encode("latin-1")


def _utf16(c: Case):
    c.csv_bytes = csv_text(c.rows, c.columns).encode("utf-16")


simple("latin1_measurements", E("UTF-8 encoding", "", None, "not UTF-8"), _latin1)
simple("latin1_study_yaml", E("UTF-8 encoding", "", None, "not UTF-8", file="study.yaml"), _latin1_yaml)
simple("utf16_measurements", E("UTF-8 encoding", "", None, "not UTF-8"), _utf16)
simple("binary_measurements", E("UTF-8 encoding", "", None, "not UTF-8"),
       _raw_csv(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\xff\xfe"))

# ---------------------------------------------------------------- measurements.csv: values


def _value(row_id, value, **more):
    return lambda c: c.edit(row_id, value=value, **more)


simple("comma_decimal", E("number as printed", "value", LINE["E02"], "comma"), _value("E02", "32,5"))
simple("thousands_separator", E("number as printed", "value", LINE["E02"], "comma"),
       _value("E02", "1,250", outcome="alt", unit="U/L"))
simple("nan_value", E("number as printed", "value", LINE["E03"], "finite number"), _value("E03", "NaN"))
simple("inf_value", E("number as printed", "value", LINE["E02"], "finite number"), _value("E02", "inf"))
simple("negative_infinity", E("number as printed", "value", LINE["E04"], "finite number"), _value("E04", "-Infinity"))
simple("overflow_value", E("number as printed", "value", LINE["E02"], "finite number"), _value("E02", "1e999"))
simple("blank_value", E("number as printed", "value", LINE["E04"], "the value is empty"), _value("E04", ""))
simple("text_in_numeric", E("number as printed", "value", LINE["E02"], "not a number"), _value("E02", "about 32"))
simple("value_with_unit", E("number as printed", "value", LINE["E02"], "not a number"), _value("E02", "32.5 g/L"))
simple("mean_plus_minus_sd", E("number as printed", "value", LINE["E02"], "not a number"), _value("E02", "32.5 \u00b1 4.1"))
simple("negative_sd", E("SD and SE are not negative", "value", LINE["E03"], "cannot be negative"), _value("E03", "-4.1"))
simple("negative_se", E("SD and SE are not negative", "value", LINE["E05"], "cannot be negative"),
       _value("E05", "-0.9", statistic="se"))


def _quantiles(low_stat, low_value, high_stat, high_value):
    def recipe(c: Case):
        c.edit("E02", statistic=high_stat, value=high_value)
        c.edit("E03", statistic=low_stat, value=low_value)
    return recipe


simple("q1_gt_median", E("q1 <= median", "value", LINE["E03"], "q1 (34.0) is larger than median (32.5"),
       _quantiles("q1", "34.0", "median", "32.5"))
simple("median_gt_q3", E("median <= q3", "value", LINE["E03"], "median (36.0) is larger than q3 (32.5"),
       _quantiles("median", "36.0", "q3", "32.5"))
simple("min_gt_max", E("min <= max", "value", LINE["E03"], "min (40.0) is larger than max (32.5"),
       _quantiles("min", "40.0", "max", "32.5"))
simple("ci_lower_gt_upper", E("ci95_lower <= ci95_upper", "value", LINE["E03"], "ci95_lower (35.0) is larger than ci95_upper"),
       _quantiles("ci95_lower", "35.0", "ci95_upper", "33.0"))
simple("count_above_arm_size", E("count within arm size", "value", LINE["E07"], "larger than the arm size (20)"),
       _value("E07", "25"))
simple("negative_count", E("count within arm size", "value", LINE["E08"], "cannot be negative"), _value("E08", "-1"))
simple("percentage_above_100", E("percentage within 0-100", "value", LINE["E07"], "between 0 and 100"),
       _value("E07", "120", statistic="proportion", unit="%"))
simple("negative_percentage", E("percentage within 0-100", "value", LINE["E08"], "between 0 and 100"),
       _value("E08", "-5", statistic="proportion", unit="%"))
simple("p_value_above_1", E("number as printed", "value", LINE["E06"], "p value must be a number between 0 and 1"),
       _value("E06", "1.5"))
simple("p_value_text", E("number as printed", "value", LINE["E06"], "p value must be a number between 0 and 1"),
       _value("E06", "n.s."))
simple("p_value_percent", E("number as printed", "value", LINE["E06"], "p value must be a number between 0 and 1"),
       _value("E06", "5%"))

# ---------------------------------------------------------------- measurements.csv: units


def _unit(row_id, unit, **more):
    return lambda c: c.edit(row_id, unit=unit, **more)


simple("unknown_unit", E("unit allowed for outcome", "unit", LINE["E02"], "unit 'g/LL' is unknown"), _unit("E02", "g/LL"))
simple("misspelled_unit", E("unit allowed for outcome", "unit", LINE["E04"], "unit 'gr/L' is unknown"), _unit("E04", "gr/L"))
simple("unit_not_allowed_albumin_seconds", E("unit allowed for outcome", "unit", LINE["E02"], "unit 's' is not allowed for albumin"),
       _unit("E02", "s"))
simple("unit_not_allowed_bilirubin_g_l", E("unit allowed for outcome", "unit", LINE["E02"], "not allowed for bilirubin"),
       _unit("E02", "g/L", outcome="total_bilirubin", value="45"))
simple("missing_unit", E("unit allowed for outcome", "unit", LINE["E02"], "no unit given for albumin"), _unit("E02", ""))
simple("bad_unit_presumed", E("unit allowed for outcome", "unit_presumed", LINE["E02"], "unit 'furlongs' is unknown"),
       _unit("E02", "", unit_presumed="furlongs"))
simple("p_value_with_unit", E("unit allowed for outcome", "unit", LINE["E06"], "has no unit"), _unit("E06", "%"))
simple("proportion_not_percent", E("unit allowed for outcome", "unit", LINE["E07"], "is a percentage"),
       _unit("E07", "patients", statistic="proportion", value="10"))

# ---------------------------------------------------------------- measurements.csv: implausible values
# Each: E02 becomes one printed mean whose value, in the outcome's canonical unit, is impossible.
IMPLAUSIBLE = {
    "implausible_albumin_400_g_l": ("albumin", "400", "g/L", "400 g/L"),
    "implausible_albumin_g_l_value_typed_as_g_dl": ("albumin", "32.5", "g/dL", "325 g/L"),
    "implausible_albumin_low": ("albumin", "3.2", "g/L", "3.2 g/L"),
    "implausible_bilirubin_umol_value_typed_as_mg_dl": ("total_bilirubin", "300", "mg/dL", "5130 umol/L"),
    "implausible_bilirubin_low": ("bilirubin", "0.5", "umol/L", "0.5 umol/L"),
    "implausible_creatinine_umol_value_typed_as_mg_dl": ("creatinine", "95", "mg/dL", "8398 umol/L"),
    "implausible_creatinine_high": ("creatinine", "4000", "umol/L", "4000 umol/L"),
    "implausible_inr": ("inr", "25", "INR", "25 ratio"),
    "implausible_prothrombin_time": ("pt", "300", "s", "300 s"),
    "implausible_prothrombin_activity": ("pta", "250", "%", "250 %"),
    "implausible_meld": ("meld", "75", "points", "75 points"),
    "implausible_meld_negative": ("meld", "-3", "points", "-3 points"),
    "implausible_sodium": ("sodium", "14", "mmol/L", "14 mmol/L"),
    "implausible_child_pugh": ("child_pugh_score", "22", "points", "22 points"),
    "implausible_alt": ("alt", "9000", "U/L", "9000 U/L"),
    "implausible_spleen_cm": ("spleen_length", "140", "cm", "1400 mm"),
    "implausible_liver_arfi": ("liver_arfi", "12", "m/s", "12 m/s"),
}
for _name, (_outcome, _value_text, _unit_text, _shown) in IMPLAUSIBLE.items():
    simple(_name, E("plausible range", "value", LINE["E02"], f"of {_shown} is outside the plausible range"),
           _value("E02", _value_text, outcome=_outcome, unit=_unit_text))

# ---------------------------------------------------------------- measurements.csv: identity and references


def _duplicate_row(c: Case):
    c.rows.append(dict(c.rows[-1], row_id="E09"))


simple("duplicate_rows", E("no duplicate rows", "", LINE["E08"] + 1, "repeats an earlier row"), _duplicate_row)
simple("duplicate_row_id", E("unique row_id", "row_id", LINE["E04"], "row_id 'E04' is used by more than one row (lines 5, 6)"),
       lambda c: c.edit("E05", row_id="E04"))
simple("empty_row_id", E("not empty", "row_id", LINE["E03"], "must not be empty"), lambda c: c.edit("E03", row_id=""))
simple("unknown_arm", E("known arm", "arm", LINE["E04"], "not an arm or contrast id"), lambda c: c.edit("E04", arm="placebo"))
simple("arm_label_instead_of_id", E("known arm", "arm", LINE["E04"], "not an arm or contrast id"), lambda c: c.edit("E04", arm="SMT"))
simple("unknown_outcome", E("known outcome", "outcome", LINE["E02"], "not in the registry"), lambda c: c.edit("E02", outcome="hemoglobin"))
simple("misspelled_outcome", E("known outcome", "outcome", LINE["E04"], "not in the registry"), lambda c: c.edit("E04", outcome="albumn"))
simple("unknown_statistic", E("known statistic", "statistic", LINE["E02"], "statistic is not one the format knows"),
       lambda c: c.edit("E02", statistic="average"))
simple("unparseable_timepoint", E("readable timepoint", "timepoint", LINE["E02"], "timepoint 'wk24' is not readable"),
       lambda c: c.edit("E02", timepoint="wk24"))
simple("empty_timepoint", E("readable timepoint", "timepoint", LINE["E03"], "timepoint is empty"),
       lambda c: c.edit("E03", timepoint=""))
simple("empty_source", E("not empty", "source", LINE["E07"], "must not be empty"), lambda c: c.edit("E07", source=""))
simple("empty_quote", E("not empty", "quote", LINE["E08"], "must not be empty"), lambda c: c.edit("E08", quote="  "))
simple("unknown_flag", E("known flag", "flags", LINE["E02"], "flag is not one of"), lambda c: c.edit("E02", flags="secondary_source;guessed"))

# ---------------------------------------------------------------- study.yaml: file level


def _raw_yaml(text: str):
    def recipe(c: Case):
        c.study_bytes = text.replace("{id}", c.name).encode()
    return recipe


def _yaml_lines(func):
    def recipe(c: Case):
        c.study_bytes = func(yaml_text(c.meta)).encode()
    return recipe


def Y(rule, column="", message="", row=None):
    return E(rule, column, row, message, file="study.yaml")


simple("yaml_malformed", Y("valid YAML", "", "study.yaml is not valid YAML at line"),
       _yaml_lines(lambda t: t.replace("kind: trial", "kind: [trial", 1)))
simple("yaml_tab_indentation", Y("valid YAML", "", "study.yaml is not valid YAML at line"),
       _yaml_lines(lambda t: t.replace("\n  label: SMT", "\n\tlabel: SMT", 1)))
simple("yaml_python_tag_os_system", Y("valid YAML", "", "tag"),
       _raw_yaml('!!python/object/apply:os.system ["touch /tmp/pwned"]\n'))
simple("yaml_python_tag_in_value", Y("valid YAML", "", "tag"),
       _yaml_lines(lambda t: t.replace("kind: trial", 'kind: !!python/object/apply:os.system ["touch /tmp/pwned"]', 1)))
simple("yaml_not_mapping", Y("valid YAML", "", "must be a mapping"), _raw_yaml("- id: {id}\n- kind: trial\n"))
simple("yaml_empty", Y("valid YAML", "", "study.yaml is empty"), _raw_yaml(""))
simple("yaml_duplicate_key", Y("valid YAML", "", "key 'kind' appears more than once"),
       _yaml_lines(lambda t: t.replace("kind: trial\n", "kind: trial\nkind: cohort\n", 1)))


def _omit(name):
    def recipe(c: Case):
        c.omit.add(name)
    return recipe


simple("yaml_unhashable_key", Y("valid YAML", "", "found unhashable key"),
       _yaml_lines(lambda t: t.replace("kind: trial\n", "kind: trial\n? [a, b]\n: c\n", 1)))
simple("missing_study_yaml", Y("required file", "", "study.yaml is missing"), _omit("study.yaml"))
simple("missing_measurements_csv", E("required file", "", None, "measurements.csv is missing"), _omit("measurements.csv"))

# ---------------------------------------------------------------- study.yaml: content


def _meta(func):
    def recipe(c: Case):
        func(c.meta)
    return recipe


def _set(key, value):
    return _meta(lambda m: m.__setitem__(key, value))


def _drop_key(key):
    return _meta(lambda m: m.pop(key))


def _arm(index, **changes):
    return _meta(lambda m: m["arms"][index].update(changes))


simple("id_not_folder_name", Y("id matches folder", "id", "must equal the folder name"), _set("id", "OtherStudy2020"))
simple("id_with_spaces", Y("study.yaml schema", "id", "letters, digits"), _set("id", "Bad Id 2020"))
simple("id_with_slash", Y("study.yaml schema", "id", "letters, digits"), _set("id", "studies/Lin2017"))
simple("id_with_dotdot", Y("study.yaml schema", "id", "letters, digits"), _set("id", "../escape"))
simple("id_not_string", Y("study.yaml schema", "id", "must be text"), _set("id", 2017))
simple("id_list", Y("study.yaml schema", "id", "must be text"), _set("id", ["a", "b"]))
simple("missing_id", Y("study.yaml schema", "id", "required key 'id' is missing"), _drop_key("id"))
simple("missing_citation", Y("study.yaml schema", "citation", "required key 'citation' is missing"), _drop_key("citation"))
simple("missing_arms", Y("study.yaml schema", "arms", "required key 'arms' is missing"), _drop_key("arms"))
simple("empty_citation", Y("study.yaml schema", "citation", "must not be empty"), _set("citation", ""))
simple("unknown_key", Y("study.yaml schema", "contry", "unknown key 'contry'"), _set("contry", "China"))
simple("unknown_arm_key", Y("study.yaml schema", "arms.0.n_randmized", "unknown key 'n_randmized'"), _arm(0, n_randmized=20))
simple("non_string_key", Y("study.yaml schema", "2020", "unknown key '2020'"), _meta(lambda m: m.__setitem__(2020, "x")))
simple("bad_enum_kind", Y("study.yaml schema", "kind", "'rct' is not one of"), _set("kind", "rct"))
simple("bad_enum_condition", Y("study.yaml schema", "condition", "'cirrhosis (decompensated)' is not one of"),
       _set("condition", "cirrhosis (decompensated)"))
simple("bad_enum_arm_role", Y("study.yaml schema", "arms.1.role", "'placebo' is not one of"), _arm(1, role="placebo"))
simple("randomized_not_boolean", Y("study.yaml schema", "randomized", "must be true, false or null"), _set("randomized", "yes"))
simple("n_randomized_text", Y("study.yaml schema", "arms.0.n_randomized", "must be a whole number"), _arm(0, n_randomized="20 patients"))
simple("n_randomized_negative", Y("study.yaml schema", "arms.0.n_randomized", "must be at least 0"), _arm(0, n_randomized=-20))
simple("arm_id_uppercase", Y("study.yaml schema", "arms.0.id", "lower-case"), _arm(0, id="Cell"))
simple("arm_id_list", Y("study.yaml schema", "arms.0.id", "must be text"), _arm(0, id=["cell"]))
simple("duplicate_arm_id", Y("unique arm ids", "arms", "arm or contrast id 'smt' is used twice"),
       _meta(lambda m: m["arms"].append({"id": "smt", "label": "SMT (second listing)", "role": "control",
                                         "intervention": "standard_care"})))
simple("contrast_id_equals_arm_id", Y("unique arm ids", "arms", "arm or contrast id 'cell' is used twice"),
       _meta(lambda m: m["contrasts"].append({"id": "cell", "label": "again", "intervention": "cell", "control": "smt"})))
simple("contrast_unknown_arm", Y("contrast refers to an arm", "contrasts.cell_vs_smt", "unknown arm 'placebo'"),
       _meta(lambda m: m["contrasts"][0].update(control="placebo")))
simple("contrast_intervention_number", Y("study.yaml schema", "contrasts.0.intervention", "must be text, a list or null"),
       _meta(lambda m: m["contrasts"][0].update(intervention=5)))
simple("arm_id_number", Y("study.yaml schema", "arms.0.id", "must be text; found a number: 5"), _arm(0, id=5))
simple("contrast_missing_id", Y("study.yaml schema", "contrasts.0.id", "required key 'id' is missing in 'contrasts.0'"),
       _meta(lambda m: m["contrasts"][0].pop("id")))
simple("contrast_control_list", Y("study.yaml schema", "contrasts.0.control", "must be text or null"),
       _meta(lambda m: m["contrasts"][0].update(control=["smt"])))
simple("follow_up_date", Y("study.yaml schema", "follow_up", "must be text or null; found date"), _set("follow_up", date(2020, 1, 1)))
simple("flags_entries_not_mappings", Y("study.yaml schema", "flags.1", "must be a mapping"), _set("flags", [1, "x"]))
simple("arms_not_list_string", Y("study.yaml schema", "arms", "must be a list"), _set("arms", "cell, smt"))
simple("arms_mapping", Y("study.yaml schema", "arms", "must be a list"),
       _meta(lambda m: m.__setitem__("arms", {a["id"]: a for a in m["arms"]})))
simple("arms_integer", Y("study.yaml schema", "arms", "must be a list"), _set("arms", 2))
simple("arms_list_of_strings", Y("study.yaml schema", "arms.0", "must be a mapping"), _set("arms", ["cell", "smt"]))
simple("arms_empty", Y("study.yaml schema", "arms", "at least one"), _set("arms", []))
simple("contrasts_not_list", Y("study.yaml schema", "contrasts", "must be a list"), _set("contrasts", 3))
simple("contrasts_list_of_strings", Y("study.yaml schema", "contrasts.0", "must be a mapping"), _set("contrasts", ["cell_vs_smt"]))
simple("flags_not_list", Y("study.yaml schema", "flags", "must be a list"), _set("flags", "possible overlap with Lin2017"))
# every arm names an intervention id from resources/registry/interventions.yaml
simple("missing_intervention",
       Y("known intervention", "arms.1.intervention",
         'arms[1] (smt): no intervention: add "intervention: <id>" with an id from'),
       _meta(lambda m: m["arms"][1].pop("intervention")))
simple("unknown_intervention",
       Y("known intervention", "arms.0.intervention", "intervention 'stem cells' is not in "),
       _arm(0, intervention="stem cells"))
simple("intervention_typo",
       Y("known intervention", "arms.0.intervention", "did you mean 'bm_msc'? known ids, closest first: bm_msc, "),
       _arm(0, intervention="bm_mcs"))


# ================================================================ issue 12: cross-field, kind and character checks
# ---------------------------------------------------------------- digits of other scripts, minus signs


def _add(*rows):
    """Append rows (dicts of the cells that differ from E02's) as E09, E10, ...: lines 10, 11, ..."""
    def recipe(c: Case):
        for changes in rows:
            c.rows.append(dict(BASE_ROWS[1], row_id=f"E{len(c.rows) + 1:02d}", **changes))
    return recipe


def _then(*recipes):
    def recipe(c: Case):
        for step in recipes:
            step(c)
    return recipe


simple("arabic_indic_digits_value", E("number as printed", "value", LINE["E02"], "'٣' (U+0663 ARABIC-INDIC DIGIT THREE)"),
       _value("E02", "٣٢.٥"))
simple("extended_arabic_digits_value", E("number as printed", "value", LINE["E04"], "(U+06F3 EXTENDED ARABIC-INDIC DIGIT THREE)"),
       _value("E04", "۳۰.۲"))
simple("fullwidth_digits_value", E("number as printed", "value", LINE["E03"], "'４' (U+FF14 FULLWIDTH DIGIT FOUR)"),
       _value("E03", "４.１"))
simple("devanagari_digit_count", E("number as printed", "value", LINE["E07"], "(U+0968 DEVANAGARI DIGIT TWO) is not an ASCII digit"),
       _value("E07", "२"))
simple("arabic_indic_digits_p_value", E("number as printed", "value", LINE["E06"], "(U+0660 ARABIC-INDIC DIGIT ZERO)"),
       _value("E06", "<٠.٠٥"))
simple("arabic_indic_digits_timepoint", E("ASCII digits", "timepoint", LINE["E02"], "'٢' (U+0662 ARABIC-INDIC DIGIT TWO)"),
       lambda c: c.edit("E02", timepoint="week ٢٤"))
simple("fullwidth_digits_timepoint", E("ASCII digits", "timepoint", LINE["E05"], "(U+FF12 FULLWIDTH DIGIT TWO)"),
       lambda c: c.edit("E05", timepoint="week ２４"))
simple("unicode_minus_sign", E("number as printed", "value", LINE["E02"], "'−' (U+2212 MINUS SIGN) is not a plain minus"),
       _value("E02", "−1.2", outcome="meld_change", unit="points", statistic="mean_change"))
simple("en_dash_as_minus", E("number as printed", "value", LINE["E02"], "(U+2013 EN DASH) is not a plain minus"),
       _value("E02", "–1.2", outcome="meld_change", unit="points", statistic="mean_change"))
simple("fullwidth_minus", E("number as printed", "value", LINE["E02"], "(U+FF0D FULLWIDTH HYPHEN-MINUS)"),
       _value("E02", "－1.2", outcome="meld_change", unit="points", statistic="mean_change"))

# ---------------------------------------------------------------- look-alike letters and line breaks in ids
simple("cyrillic_letter_in_arm_reference", E("known arm", "arm", LINE["E04"], "'ѕ' (U+0455 CYRILLIC SMALL LETTER DZE)"),
       lambda c: c.edit("E04", arm="ѕmt"))
simple("cyrillic_letter_in_arm_reference_e07", E("known arm", "arm", LINE["E07"], "'с' (U+0441 CYRILLIC SMALL LETTER ES)"),
       lambda c: c.edit("E07", arm="сell"))
simple("cyrillic_letter_in_outcome", E("known outcome", "outcome", LINE["E02"], "'а' (U+0430 CYRILLIC SMALL LETTER A)"),
       lambda c: c.edit("E02", outcome="аlbumin"))
simple("cyrillic_letter_in_statistic", E("known statistic", "statistic", LINE["E03"], "(U+0455 CYRILLIC SMALL LETTER DZE)"),
       lambda c: c.edit("E03", statistic="ѕd"))
simple("greek_letter_in_unit", E("unit allowed for outcome", "unit", LINE["E02"], "'ο' (U+03BF GREEK SMALL LETTER OMICRON)"),
       _value("E02", "135", outcome="sodium", unit="mmοl/L"))
simple("cyrillic_letter_in_study_id", Y("study.yaml schema", "id", "(U+0435 CYRILLIC SMALL LETTER IE) is not a Latin letter"),
       lambda c: c.meta.update(id=c.name.replace("e", "е", 1)))
simple("cyrillic_letter_in_arm_id", Y("study.yaml schema", "arms.0.id", "'с' (U+0441 CYRILLIC SMALL LETTER ES)"),
       _arm(0, id="сell"))
simple("greek_letter_in_contrast_id", Y("study.yaml schema", "contrasts.0.id", "(U+03BD GREEK SMALL LETTER NU)"),
       _meta(lambda m: m["contrasts"][0].update(id="cell_νs_smt")))
simple("id_trailing_newline", Y("study.yaml schema", "id", "ends with a line break"), lambda c: c.meta.update(id=c.name + "\n"))
simple("arm_id_trailing_newline", Y("study.yaml schema", "arms.1.id", "ends with a line break"), _arm(1, id="smt\n"))
simple("contrast_id_trailing_newline", Y("study.yaml schema", "contrasts.0.id", "ends with a line break"),
       _meta(lambda m: m["contrasts"][0].update(id="cell_vs_smt\n")))

# ---------------------------------------------------------------- YAML reading a value as true/false or a number
simple("country_no_read_as_false", Y("study.yaml schema", "country", 'put the text in quotes, e.g. country: "NO"'),
       _yaml_lines(lambda t: t.replace("country: China", "country: NO", 1)))
simple("etiology_yes_read_as_true", Y("study.yaml schema", "etiology", 'e.g. etiology: "YES"'),
       _yaml_lines(lambda t: t.replace("etiology: HBV", "etiology: yes", 1)))
simple("n_randomized_arabic_indic_digits", Y("study.yaml schema", "arms.0.n_randomized", "(U+0662 ARABIC-INDIC DIGIT TWO)"),
       _arm(0, n_randomized="٢٠"))
simple("follow_up_number_unquoted", Y("study.yaml schema", "follow_up", 'put it in quotes, e.g. follow_up: "24"'),
       _set("follow_up", 24))

# ---------------------------------------------------------------- reading: separators, Excel's sep= line, folders, links


def _quoted_delimited(delimiter):
    def recipe(c: Case):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=c.columns, lineterminator="\n", delimiter=delimiter, quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(c.rows)
        c.csv_bytes = out.getvalue().encode()
    return recipe


def _excel_sep_line(delimiter):
    def recipe(c: Case):
        c.csv_bytes = f"sep={delimiter}\n".encode() + csv_text(c.rows, c.columns, delimiter=delimiter).encode()
    return recipe


def _link(name, target):
    def recipe(c: Case):
        c.links[name] = target
    return recipe


def _folder(name):
    def recipe(c: Case):
        c.folders.add(name)
    return recipe


def _patients(data: bytes):
    def recipe(c: Case):
        c.omit.add("measurements.csv")
        c.extra["patients.csv"] = data
    return recipe


simple("semicolon_quoted_cells", E("comma-separated table", "", None, "separated by semicolons (';')"), _quoted_delimited(";"))
simple("tab_quoted_cells", E("comma-separated table", "", None, "separated by tabs"), _quoted_delimited("\t"))
simple("pipe_separated", E("comma-separated table", "", None, "separated by vertical bars ('|')"), _delimited("|"))
simple("excel_sep_line", E("comma-separated table", "", None, "a separator hint Excel writes, not a header: delete that line"),
       _excel_sep_line(","))
simple("excel_sep_line_semicolons", E("comma-separated table", "", None, "and save the file with commas as separator"),
       _excel_sep_line(";"))
simple("measurements_is_a_folder", E("required file", "", None, "measurements.csv is a folder, not a file"),
       _folder("measurements.csv"))
simple("measurements_symlink_outside", E("file inside the study folder", "", None, "is a symbolic link to a file outside the study folder"),
       _link("measurements.csv", "../base_valid/measurements.csv"))
simple("study_yaml_symlink_outside", Y("file inside the study folder", "", "study.yaml is a symbolic link to a file outside"),
       _link("study.yaml", "../base_valid/study.yaml"))
simple("patients_csv_empty", E("non-empty table", "", None, "patients.csv is empty", file="patients.csv"), _patients(b""))
simple("patients_csv_semicolons", E("comma-separated table", "", None, "patients.csv appears to be separated by semicolons",
                                    file="patients.csv"),
       _patients(b"patient_id;arm;visit;bilirubin;bilirubin_unit;inr;creatinine;creatinine_unit;sex;dialysis\n"
                 b"P1;cell;baseline;2,1;mg/dL;1,4;0,9;mg/dL;M;0\n"))

# ---------------------------------------------------------------- study.yaml: sizes, contrasts, where a meta-analysis belongs
simple("contrast_arm_against_itself", Y("contrast of two different arms", "contrasts.0.control", "compares arm 'cell' with itself"),
       _meta(lambda m: m["contrasts"][0].update(control="cell")))
simple("contrast_lists_arm_twice", Y("contrast of two different arms", "contrasts.0.intervention", "lists arm 'cell' twice"),
       _meta(lambda m: m["contrasts"][0].update(intervention=["cell", "cell"])))
simple("n_analysed_above_randomized", Y("n analysed within n randomized", "arms.0.n_analysed",
                                        "n_analysed (25) is larger than n_randomized (20)"), _arm(0, n_analysed=25))
simple("n_analysed_above_randomized_control", Y("n analysed within n randomized", "arms.1.n_analysed",
                                                "n_analysed (21) is larger than n_randomized (20)"), _arm(1, n_analysed=21))
simple("meta_analysis_kind_in_studies", Y("meta-analysis filed as a study", "kind", "move it to comparators/"),
       _set("kind", "meta_analysis"))
simple("trial_listing_kind_in_studies", Y("meta-analysis filed as a study", "kind", "its kind is trial_listing"),
       _set("kind", "trial_listing"))
simple("meta_analysis_design_in_studies", Y("meta-analysis filed as a study", "design", "its design describes a meta-analysis"),
       _set("design", "meta-analysis of 7 RCTs (RevMan 5.3)"))
simple("systematic_review_design_in_studies", Y("meta-analysis filed as a study", "design", "move it to comparators/"),
       _set("design", "Systematic review and meta-analysis of randomized trials"))

# ---------------------------------------------------------------- measurements.csv: the statistic fits the outcome and the arm
simple("count_of_albumin", E("statistic fits outcome kind", "statistic", LINE["E02"], "albumin is a continuous outcome: a number of patients"),
       _value("E02", "12", statistic="count"))
simple("proportion_of_albumin", E("statistic fits outcome kind", "statistic", LINE["E04"], "albumin is a continuous outcome"),
       _value("E04", "40", statistic="proportion", unit="%"))
simple("odds_ratio_of_albumin", E("statistic fits outcome kind", "statistic", LINE["E06"], "use statistic effect_printed_as_or"),
       _value("E06", "1.4", statistic="odds_ratio", unit=""))
simple("mean_of_deaths", E("statistic fits outcome kind", "statistic", LINE["E07"], "death is an events outcome"),
       lambda c: c.edit("E07", statistic="mean"))
simple("sd_of_deaths", E("statistic fits outcome kind", "statistic", LINE["E08"], "a standard deviation does not fit"),
       lambda c: c.edit("E08", statistic="sd"))
simple("median_of_deaths", E("statistic fits outcome kind", "statistic", LINE["E07"], "give the number of patients as statistic count"),
       lambda c: c.edit("E07", statistic="median"))
simple("value_of_deaths", E("statistic fits outcome kind", "statistic", LINE["E08"], "death is an events outcome"),
       lambda c: c.edit("E08", statistic="value"))
simple("count_of_survival_time", E("statistic fits outcome kind", "statistic", LINE["E02"], "survival_time is a duration outcome"),
       _value("E02", "12", outcome="survival_time", statistic="count", unit="months"))
simple("mean_on_contrast", E("statistic fits arm or contrast", "statistic", LINE["E06"], "'cell_vs_smt' is a contrast but a mean"),
       _value("E06", "2.3", statistic="mean", unit="g/L"))
simple("sd_on_contrast", E("statistic fits arm or contrast", "statistic", LINE["E06"], "put the row on the arm it describes"),
       _value("E06", "1.1", statistic="sd", unit="g/L"))
simple("count_on_contrast", E("statistic fits arm or contrast", "statistic", LINE["E06"], "is a contrast but a number of patients"),
       _value("E06", "7", outcome="death", statistic="count", unit="patients"))
simple("mean_difference_on_arm", E("statistic fits arm or contrast", "statistic", LINE["E02"], "compares two arms but 'cell' is one arm"),
       lambda c: c.edit("E02", statistic="mean_difference", value="2.3"))
simple("risk_ratio_on_arm", E("statistic fits arm or contrast", "statistic", LINE["E07"], "a risk ratio compares two arms"),
       _value("E07", "0.4", statistic="risk_ratio", unit=""))

# ---------------------------------------------------------------- measurements.csv: counts, ratios, spreads, flags
simple("fractional_event_count", E("whole count", "value", LINE["E07"], "a count of patients is a whole number, not '2.5'"),
       _value("E07", "2.5"))
simple("fractional_arm_size_count", E("whole count", "value", LINE["E01"], "is a whole number, not '19.5'"), _value("E01", "19.5"))
simple("negative_hazard_ratio", E("ratio above 0", "value", LINE["E06"], "a hazard ratio is above 0, not '-0.5'"),
       _value("E06", "-0.5", outcome="death", statistic="hazard_ratio", unit=""))
simple("odds_ratio_zero", E("ratio above 0", "value", LINE["E06"], "an odds ratio is above 0, not '0'"),
       _value("E06", "0", outcome="death", statistic="odds_ratio", unit=""))
simple("risk_ratio_zero", E("ratio above 0", "value", LINE["E06"], "a risk ratio is above 0, not '0.0'"),
       _value("E06", "0.0", outcome="death", statistic="risk_ratio", unit=""))
simple("negative_ci_of_odds_ratio", E("ratio above 0", "value", LINE["E08"] + 1, "a confidence limit of an odds ratio must be above 0"),
       _then(_value("E06", "0.5", outcome="death", statistic="odds_ratio", unit=""),
             _add(dict(arm="cell_vs_smt", outcome="death", statistic="ci95_lower", value="-0.1", unit=""),
                  dict(arm="cell_vs_smt", outcome="death", statistic="ci95_upper", value="0.9", unit=""))))
simple("not_printed_with_value", E("not_printed has no value", "flags", LINE["E04"], "flagged not_printed but has the value '30.2'"),
       lambda c: c.edit("E04", flags="not_printed"))
simple("sex_count_above_arm_size", E("count within arm size", "value", LINE["E08"] + 1, "larger than the arm size (20) in study.yaml"),
       _add(dict(timepoint="baseline", outcome="sex_male", statistic="count", value="25", unit="patients")))
simple("count_above_csv_n_without_yaml_size", E("count within arm size", "value", LINE["E07"], "in measurements.csv (outcome n)"),
       _then(_arm(0, n_randomized=None), _arm(1, n_randomized=None), _meta(lambda m: m["contrasts"][0].update(n_total=None)),
             _value("E07", "21")))
simple("count_above_n_analysed", E("count within arm size", "value", LINE["E07"], "larger than the arm size (15)"),
       _then(_arm(0, n_analysed=15), _value("E07", "18")))

# ---------------------------------------------------------------- measurements.csv: estimates and their CIs, row ids
simple("estimate_outside_its_ci_md", E("estimate within its CI", "value", LINE["E06"], "the mean difference (2.3) lies outside its own 95% CI (2.5 to 4.0"),
       _then(_value("E06", "2.3", statistic="mean_difference", unit="g/L"),
             _add(dict(arm="cell_vs_smt", statistic="ci95_lower", value="2.5"), dict(arm="cell_vs_smt", statistic="ci95_upper", value="4.0"))))
simple("estimate_outside_its_ci_or", E("estimate within its CI", "value", LINE["E06"], "the odds ratio (3.0) lies outside"),
       _then(_value("E06", "3.0", outcome="death", statistic="odds_ratio", unit=""),
             _add(dict(arm="cell_vs_smt", outcome="death", statistic="ci95_lower", value="0.5", unit=""),
                  dict(arm="cell_vs_smt", outcome="death", statistic="ci95_upper", value="2.0", unit=""))))
simple("mean_outside_its_ci", E("estimate within its CI", "value", LINE["E02"], "the mean (32.5) lies outside its own 95% CI (33.0 to 36.0"),
       _add(dict(statistic="ci95_lower", value="33.0"), dict(statistic="ci95_upper", value="36.0")))
simple("ci_inverted_after_unit_conversion", E("ci95_lower <= ci95_upper", "value", LINE["E08"] + 1, "once both are converted to one unit"),
       _then(_value("E06", "2.3", statistic="mean_difference", unit="g/L"),
             _add(dict(arm="cell_vs_smt", statistic="ci95_lower", value="0.5", unit="g/dL"),
                  dict(arm="cell_vs_smt", statistic="ci95_upper", value="4.0", unit="g/L"))))
simple("q1_above_median_after_unit_conversion", E("q1 <= median", "value", LINE["E03"], "q1 (3.1 g/dL = 31 g/L) is larger than median (30.0"),
       _then(lambda c: c.edit("E02", statistic="median", value="30.0"), lambda c: c.edit("E03", statistic="q1", value="3.1", unit="g/dL")))
simple("row_id_differs_only_in_case", E("distinct row_id", "row_id", LINE["E05"], "row_id 'e04' differs from 'E04' (line 5) only in spaces"),
       lambda c: c.edit("E05", row_id="e04"))
simple("row_id_differs_only_in_trailing_space", E("distinct row_id", "row_id", LINE["E05"], "row_id 'E04 ' differs from 'E04'"),
       lambda c: c.edit("E05", row_id="E04 "))
simple("row_id_differs_only_in_inner_space", E("distinct row_id", "row_id", LINE["E03"], "row_id 'E 02' differs from 'E02'"),
       lambda c: c.edit("E03", row_id="E 02"))

# ---------------------------------------------------------------- warnings: the study is built, the flag is said at validation
simple("sd_zero", W("SD above 0", "value", LINE["E03"], "will be dropped from pooling"), _value("E03", "0"))
simple("se_zero", W("SD above 0", "value", LINE["E05"], "a standard error of the mean of 0"), _value("E05", "0.0", statistic="se"))
simple("timepoint_spelled_differently_mean_sd", W("one spelling per timepoint", "timepoint", LINE["E03"],
                                                  "this sd is at '24 weeks' but its mean (line 3) is at 'week 24'"),
       lambda c: c.edit("E03", timepoint="24 weeks"))
simple("timepoint_case_differs_mean_sd", W("one spelling per timepoint", "timepoint", LINE["E05"], "splits the pair into two records"),
       lambda c: c.edit("E05", timepoint="Week 24"))
simple("conflicting_values_one_cell", W("conflicting values", "value", LINE["E08"] + 1, "differs from the one on line 3 ('32.5')"),
       _add(dict(value="33.5", location="Abstract")))
simple("inconsistent_percentage", W("percentage matches count", "value", LINE["E08"] + 1, "50% does not match the count 2 of 20 patients"),
       _add(dict(outcome="death", statistic="proportion", value="50", unit="%", quote=QUOTE_DEATH)))
simple("mixed_units_one_cell", W("one unit per cell", "unit", LINE["E03"], "is in g/dL but line 3"),
       lambda c: c.edit("E03", value="0.41", unit="g/dL"))
simple("unit_not_convertible", W("unit not convertible", "unit", LINE["E02"], "'folds of ULN' has no conversion to U/L"),
       _value("E02", "1.5", outcome="alt", unit="folds of ULN"))
simple("contrast_total_far_from_arms", W("contrast total matches its arms", "contrasts.0.n_total", None,
                                         "n_total (80) is far from the sum of its arms' sizes (40)", file="study.yaml"),
       _meta(lambda m: m["contrasts"][0].update(n_total=80)))
simple("ratio_ci_bound_zero", W("ratio above 0", "value", LINE["E08"] + 1, "a printed 0 is a small number rounded"),
       _then(_value("E06", "0.05", outcome="death", statistic="odds_ratio", unit=""),
             _add(dict(arm="cell_vs_smt", outcome="death", statistic="ci95_lower", value="0.00", unit=""),
                  dict(arm="cell_vs_smt", outcome="death", statistic="ci95_upper", value="0.6", unit=""))))


def write_corpus(root: Path = HERE) -> dict:
    """Write every case folder and expected.yaml under root; return the expectations."""
    root.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (recipe, expect) in CASES.items():
        c = Case(name)
        recipe(c)
        c.write(root)
        expected[name] = expect
    header = ("# Written by make_corpus.py (do not edit by hand): case -> the issue validation must report.\n"
              "# column '' = no column; row = line in the file (1 = header), null = whole file;\n"
              "# accept: true = a harmless oddity that must produce no error.\n")
    (root / "expected.yaml").write_text(header + yaml.safe_dump(expected, sort_keys=False, width=200), encoding="utf-8")
    return expected


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    cases = write_corpus(target)
    print(f"wrote {len(cases)} cases to {target}")
