"""Risk of bias: validation of study.yaml's risk_of_bias (errors and warnings in words), the long table with
"not assessed", the schema fragment as study.schema.yaml will reference it, and the two figures (checked on
their matplotlib artists: colour and symbol per judgement, as docs/risk-of-bias.md specifies them)."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from conftest import minimal_meta
from matplotlib.colors import to_rgba
from matplotlib.patches import Circle, Rectangle

from livertrials.figures.files import is_palette_png
from livertrials.figures.risk_of_bias import (
    summary_bars,
    traffic_light,
    weighted_summary,
    write_summary_bars,
    write_traffic_light,
)
from livertrials.validate.meta import study_schema
from livertrials.validate.risk_of_bias import (
    overall_judgements,
    risk_of_bias_schema,
    risk_of_bias_table,
    schema_registry,
    validate_risk_of_bias,
)

FILE = "resources/studies/X/study.yaml"
ROB2_DOMAINS = ["randomization", "deviations", "missing_data", "measurement", "selection_of_reported_result"]
ROBINS_DOMAINS = ["confounding", "selection", "classification", "deviations", "missing_data", "measurement",
                  "selection_of_reported_result"]


def judged(domain: str, level: str, support: str | None = "“Patients were randomized by sealed envelopes.”",
           source: str | None = "Methods, p. 2") -> dict:
    entry = {"domain": domain, "judgement": level}
    if support is not None:
        entry["support"] = support
    if source is not None:
        entry["source"] = source
    return entry


def rob2(levels: dict[str, str] | None = None, overall: str = "high") -> dict:
    levels = levels or {"randomization": "low", "deviations": "some_concerns", "missing_data": "high",
                        "measurement": "some_concerns", "selection_of_reported_result": "low"}
    return {"tool": "rob2", "domains": [judged(d, lv) for d, lv in levels.items()],
            "overall": {"judgement": overall, "support": "missing data in 30% of one arm", "source": "Table 2"}}


def study(study_id: str = "X", randomized=True, assessment: dict | None = None) -> dict:
    meta = minimal_meta(study_id)
    meta["randomized"] = randomized
    if assessment is not None:
        meta["risk_of_bias"] = assessment
    return meta


def issues_of(meta: dict):
    return validate_risk_of_bias(meta, meta["id"], FILE)


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------

def test_a_complete_rob2_assessment_of_a_randomized_trial_has_no_issues():
    assert issues_of(study(assessment=rob2())) == []


def test_a_study_without_risk_of_bias_is_not_an_error_and_is_not_assessed():
    meta = study()
    assert issues_of(meta) == []
    table = risk_of_bias_table([meta])
    assert list(table["domain"]) == ROB2_DOMAINS + ["overall"]
    assert set(table["judgement"]) == {"not_assessed"}
    assert not table["assessed"].any()
    assert overall_judgements(table) == {"X": "not_assessed"}


def test_unknown_tool_is_an_error_with_a_hint():
    [issue] = issues_of(study(assessment={**rob2(), "tool": "RoB2"}))
    assert issue.severity == "error"
    assert issue.column == "risk_of_bias.tool" and issue.value == "RoB2"
    assert "unknown risk-of-bias tool 'RoB2'" in issue.message
    assert "did you mean 'rob2'?" in issue.message


def test_unknown_domain_is_an_error_naming_the_allowed_domains_and_the_closest():
    assessment = rob2()
    assessment["domains"][0]["domain"] = "randomisation"
    [issue] = issues_of(study(assessment=assessment))
    assert issue.severity == "error"
    assert issue.column == "risk_of_bias.domains.0.domain"
    assert "unknown RoB 2 domain 'randomisation'" in issue.message
    assert "did you mean 'randomization'?" in issue.message
    assert "allowed: randomization, deviations, missing_data, measurement, selection_of_reported_result" in issue.message


def test_a_domain_of_the_other_tool_says_where_it_belongs():
    assessment = rob2()
    assessment["domains"].append(judged("confounding", "low"))
    [issue] = issues_of(study(assessment=assessment))
    assert issue.column == "risk_of_bias.domains.5.domain"
    assert "'confounding' belongs to ROBINS-I, not RoB 2" in issue.message


@pytest.mark.parametrize("tool, level, other", [("rob2", "moderate", "ROBINS-I"), ("rob2", "serious", "ROBINS-I"),
                                                ("robins_i", "some_concerns", "RoB 2"), ("robins_i", "high", "RoB 2")])
def test_a_level_of_the_other_tool_is_an_error(tool, level, other):
    domain = "randomization" if tool == "rob2" else "confounding"
    assessment = {"tool": tool, "domains": [judged(domain, level)],
                  "overall": {"judgement": "low" if level != "low" else "high", "support": "s", "source": "p"}}
    randomized = tool == "rob2"
    errors = [i for i in issues_of(study(randomized=randomized, assessment=assessment)) if i.severity == "error"]
    assert len(errors) == 1
    assert errors[0].column == "risk_of_bias.domains.0.judgement" and errors[0].value == level
    assert f"belongs to {other}" in errors[0].message


def test_an_unknown_level_names_the_levels_of_the_tool():
    assessment = rob2()
    assessment["overall"]["judgement"] = "unclear"
    [issue] = issues_of(study(assessment=assessment))
    assert issue.column == "risk_of_bias.overall.judgement"
    assert "'unclear' is not a RoB 2 judgement for the overall judgement (allowed: low, some_concerns, high)" \
        in issue.message


@pytest.mark.parametrize("support", [None, "", "   "])
def test_a_judgement_without_a_support_quote_is_an_error(support):
    assessment = rob2()
    assessment["domains"][2] = judged("missing_data", "high", support=support)
    [issue] = issues_of(study(assessment=assessment))
    assert issue.severity == "error"
    assert issue.column == "risk_of_bias.domains.2.support"
    assert "the judgement 'high' for domain 'missing_data' has no support quote" in issue.message


def test_the_overall_judgement_needs_its_support_quote_too():
    assessment = rob2()
    del assessment["overall"]["support"]
    [issue] = issues_of(study(assessment=assessment))
    assert issue.column == "risk_of_bias.overall.support"


def test_a_support_quote_needs_its_source():
    assessment = rob2()
    assessment["domains"][0] = judged("randomization", "low", source=None)
    [issue] = issues_of(study(assessment=assessment))
    assert issue.column == "risk_of_bias.domains.0.source"
    assert "has no source" in issue.message


def test_no_information_needs_no_quote():
    assessment = {"tool": "robins_i", "domains": [judged("selection", "no_information", support=None, source=None),
                                                  judged("confounding", "serious")],
                  "overall": {"judgement": "serious", "support": "no adjustment for MELD", "source": "Table 1"}}
    assert issues_of(study(randomized=False, assessment=assessment)) == []


def test_a_domain_judged_twice_and_overall_in_the_list_are_errors():
    assessment = rob2()
    assessment["domains"] += [judged("randomization", "high"), judged("overall", "high")]
    issues = issues_of(study(assessment=assessment))
    assert [i.column for i in issues] == ["risk_of_bias.domains.5.domain", "risk_of_bias.domains.6.domain"]
    assert "judged twice" in issues[0].message
    assert "goes under risk_of_bias.overall" in issues[1].message


def test_every_problem_is_reported_at_once():
    assessment = rob2()
    assessment["domains"][0] = judged("randomisation", "moderate")            # unknown domain and level
    assessment["domains"][1] = judged("deviations", "high", support=None)     # no quote
    assessment["tool"] = "rob2"
    columns = sorted(i.column for i in issues_of(study(assessment=assessment)) if i.severity == "error")
    assert columns == ["risk_of_bias.domains.0.domain", "risk_of_bias.domains.0.judgement",
                       "risk_of_bias.domains.1.support"]


@pytest.mark.parametrize("randomized, stated", [(False, "false"), (None, "not stated (null)")])
def test_rob2_on_a_non_randomized_study_is_a_warning(randomized, stated):
    [issue] = issues_of(study(randomized=randomized, assessment=rob2()))
    assert issue.severity == "warning"
    assert issue.column == "risk_of_bias.tool"
    assert f"RoB 2 is for randomized trials but 'randomized' is {stated}" in issue.message


def test_robins_i_on_a_randomized_trial_is_a_warning():
    assessment = {"tool": "robins_i", "domains": [judged("confounding", "low")],
                  "overall": {"judgement": "low", "support": "s", "source": "p"}}
    warnings = [i for i in issues_of(study(randomized=True, assessment=assessment)) if i.severity == "warning"]
    assert any("ROBINS-I is for non-randomized studies" in w.message for w in warnings)


def test_an_overall_judgement_milder_than_the_worst_domain_is_a_warning():
    [issue] = issues_of(study(assessment=rob2(overall="some_concerns")))   # missing_data is high
    assert issue.severity == "warning"
    assert "milder than domain 'missing_data' ('high')" in issue.message


def test_overall_low_with_domains_not_assessed_is_a_warning():
    assessment = rob2(levels={"randomization": "low"}, overall="low")
    [issue] = issues_of(study(assessment=assessment))
    assert issue.severity == "warning"
    assert "deviations, missing_data, measurement, selection_of_reported_result are not assessed" in issue.message


def test_shape_problems_are_left_to_the_schema():
    broken = {"tool": "rob2", "domains": [{"domain": "randomization", "judgement": 3}, "text"], "overall": "high"}
    assert issues_of(study(assessment=broken)) == []
    assert issues_of(study(assessment="rob2")) == []


def test_issues_print_as_one_line():
    assessment = rob2()
    assessment["domains"][0]["support"] = ""
    [issue] = issues_of(study(assessment=assessment))
    text = str(issue)
    assert text.startswith(f"ERROR {FILE}: file, column 'risk_of_bias.domains.0.support'")
    assert text.endswith("[rule: risk of bias]") and "\n" not in text


# ---------------------------------------------------------------------------------------------
# the schema fragment, referenced from study.schema.yaml as the lead will do it
# ---------------------------------------------------------------------------------------------

def study_validator():
    schema = copy.deepcopy(study_schema())
    schema["properties"]["risk_of_bias"] = {"$ref": "risk_of_bias.schema.yaml"}
    return jsonschema.Draft202012Validator(schema, registry=schema_registry())


def test_the_fragment_is_a_valid_schema_and_accepts_a_full_assessment():
    jsonschema.Draft202012Validator.check_schema(risk_of_bias_schema())
    assert list(study_validator().iter_errors(study(assessment=rob2()))) == []
    assert list(study_validator().iter_errors(study())) == []


def test_the_fragment_reports_shape_problems_by_path():
    meta = study(assessment={"tool": "rob2", "domains": [{"domain": "randomization", "judgment": "low"}],
                             "overall": {"judgement": 2}})
    found = {(".".join(str(p) for p in e.path), e.validator) for e in study_validator().iter_errors(meta)}
    assert found == {("risk_of_bias.domains.0", "additionalProperties"), ("risk_of_bias.domains.0", "required"),
                     ("risk_of_bias.overall.judgement", "type")}


def test_the_fragment_requires_tool_and_domains_but_not_an_overall():
    errors = list(study_validator().iter_errors(study(assessment={})))
    assert sorted(e.message for e in errors) == sorted(f"'{k}' is a required property" for k in ("tool", "domains"))


def test_a_partial_assessment_without_overall_is_valid_and_its_overall_is_not_assessed():
    """A reviewer records the domains the source supports; the overall stays 'not assessed', never derived."""
    assessment = {"tool": "rob2", "domains": [judged("randomization", "some_concerns")]}
    assert issues_of(study(assessment=assessment)) == []
    table = risk_of_bias_table([study("P", assessment=assessment)])
    assert overall_judgements(table) == {"P": "not_assessed"}


# ---------------------------------------------------------------------------------------------
# the long table
# ---------------------------------------------------------------------------------------------

def test_table_rows_follow_the_tool_with_not_assessed_where_nothing_is_recorded():
    assessment = {"tool": "robins_i", "domains": [judged("confounding", "serious"), judged("bogus", "low")],
                  "overall": {"judgement": "serious", "support": "no adjustment", "source": "Table 1"}}
    table = risk_of_bias_table([study("C", randomized=False, assessment=assessment), study("U", randomized=False)])
    c = table[table["study_id"] == "C"]
    assert list(c["domain"]) == ROBINS_DOMAINS + ["overall"]
    assert dict(zip(c["domain"], c["judgement"]))["confounding"] == "serious"
    assert list(c["judgement"]).count("not_assessed") == 6          # the unknown domain is not read
    assert c.loc[c["domain"] == "confounding", "source"].item() == "Methods, p. 2"
    u = table[table["study_id"] == "U"]
    assert set(u["tool"]) == {"robins_i"} and set(u["judgement"]) == {"not_assessed"}
    assert overall_judgements(table) == {"C": "serious", "U": "not_assessed"}


# ---------------------------------------------------------------------------------------------
# figures: artists, not pixels
# ---------------------------------------------------------------------------------------------

# the specification (docs/risk-of-bias.md): Okabe-Ito colours and one symbol per judgement
SPEC = {"low": ("#56B4E9", "+"), "some_concerns": ("#F0E442", "−"), "moderate": ("#F0E442", "−"),
        "high": ("#D55E00", "×"), "serious": ("#D55E00", "×"), "critical": ("#000000", "!"),
        "no_information": ("#BBBBBB", "?"), "not_assessed": ("#FFFFFF", "NA")}


@pytest.fixture
def table():
    cohort = {"tool": "robins_i", "domains": [judged("confounding", "critical"),
                                              judged("selection", "no_information", None, None),
                                              judged("classification", "moderate"), judged("deviations", "serious")],
              "overall": {"judgement": "critical", "support": "s", "source": "p"}}
    return risk_of_bias_table([study("Trial2010", True, rob2()), study("Other2012", True),
                               study("Cohort2015", False, cohort)])


def marks(fig, prefix: str) -> dict[tuple, tuple]:
    """gid -> (face colour, symbol) for every judgement mark of the figure."""
    ax = fig.axes[0]
    colour = {p.get_gid(): p.get_facecolor() for p in ax.patches if (p.get_gid() or "").startswith(prefix + "|")}
    symbol = {t.get_gid().replace(prefix + "-symbol", prefix, 1): t.get_text() for t in ax.texts
              if (t.get_gid() or "").startswith(prefix + "-symbol|")}
    return {tuple(g.split("|")[1:]): (colour[g], symbol.get(g)) for g in colour}


def test_traffic_light_draws_every_study_and_domain_in_the_specified_colour_and_symbol(table):
    fig = traffic_light(table)
    cells = {k: v for k, v in marks(fig, "rob").items()}
    # 2 RoB 2 studies x 6 columns + 1 ROBINS-I study x 8 columns
    assert len(cells) == 2 * 6 + 8
    for (study_id, domain, level), (face, symbol) in cells.items():
        assert face == to_rgba(SPEC[level][0]), (study_id, domain, level)
        assert symbol == SPEC[level][1], (study_id, domain, level)
    assert cells[("Trial2010", "missing_data", "high")][1] == "×"
    assert cells[("Cohort2015", "confounding", "critical")][1] == "!"
    assert cells[("Cohort2015", "selection", "no_information")][1] == "?"
    other = {k: v for k, v in cells.items() if k[0] == "Other2012"}
    assert len(other) == 6 and {k[2] for k in other} == {"not_assessed"}
    assert all(v == (to_rgba("#FFFFFF"), "NA") for v in other.values())
    assert all(isinstance(p, Circle) for p in fig.axes[0].patches)


def test_traffic_light_legend_explains_every_mark_including_not_assessed(table):
    legend = {k[0]: v for k, v in marks(traffic_light(table), "rob-legend").items()}
    assert set(legend) == set(SPEC)
    assert all(legend[level] == (to_rgba(SPEC[level][0]), SPEC[level][1]) for level in SPEC)


def test_every_severity_has_its_own_symbol_so_colour_is_never_the_only_cue():
    classes = ["low", "some_concerns", "high", "critical", "no_information", "not_assessed"]
    assert len({SPEC[c][1] for c in classes}) == len(classes)


def test_traffic_light_files_are_written_deterministically(table, tmp_path):
    files = write_traffic_light(table, tmp_path / "a", ["png", "svg"])
    assert files == {"png": "risk_of_bias_traffic_light.png", "svg": "risk_of_bias_traffic_light.svg"}
    png = (tmp_path / "a" / files["png"]).read_bytes()
    assert is_palette_png(png)
    write_traffic_light(table, tmp_path / "b", ["svg"])
    assert (tmp_path / "a" / files["svg"]).read_bytes() == (tmp_path / "b" / files["svg"]).read_bytes()


def test_weighted_summary_shares_by_hand(table):
    weights = {"Trial2010": 60.0, "Other2012": 30.0, "Cohort2015": 10.0}
    shares = weighted_summary(table, weights)
    get = {(r["tool"], r["domain"], r["judgement"]): r["share"] for r in shares.to_dict("records")}
    # RoB 2 studies carry 90 of the 100: Trial2010 60/90, Other2012 (not assessed) 30/90
    assert get["rob2", "randomization", "low"] == pytest.approx(60 / 90)
    assert get["rob2", "randomization", "not_assessed"] == pytest.approx(30 / 90)
    assert get["rob2", "overall", "high"] == pytest.approx(60 / 90)
    assert get["rob2", "overall", "some_concerns"] == 0
    assert get["robins_i", "confounding", "critical"] == pytest.approx(1.0)
    tool_share = dict(zip(shares["tool"], shares["tool_share"]))
    assert tool_share == {"rob2": pytest.approx(0.9), "robins_i": pytest.approx(0.1)}
    for (tool, domain), group in shares.groupby(["tool", "domain"]):
        assert group["share"].sum() == pytest.approx(1.0), (tool, domain)


def test_summary_bars_have_the_shares_as_widths_and_the_specified_colours(table, tmp_path):
    weights = {"Trial2010": 75.0, "Other2012": 25.0}
    fig = summary_bars(table, weights, "Death at month 6")
    bars = {tuple(p.get_gid().split("|")[1:]): p for p in fig.axes[0].patches
            if isinstance(p, Rectangle) and (p.get_gid() or "").startswith("rob-bar|")}
    assert bars[("rob2", "missing_data", "high")].get_width() == pytest.approx(0.75)
    assert bars[("rob2", "missing_data", "not_assessed")].get_width() == pytest.approx(0.25)
    assert bars[("rob2", "missing_data", "not_assessed")].get_x() == pytest.approx(0.75)
    for (_, _, level), patch in bars.items():
        assert patch.get_facecolor() == to_rgba(SPEC[level][0])
    assert not any(k[0] == "robins_i" for k in bars)       # no ROBINS-I study in this pool
    files = write_summary_bars(table, weights, "Death at month 6", tmp_path, ["png"], "rob_summary_death_month6")
    assert (tmp_path / files["png"]).is_file()


def test_a_weighted_study_missing_from_the_table_is_refused(table):
    with pytest.raises(ValueError, match="Nowhere2020"):
        weighted_summary(table, {"Trial2010": 50.0, "Nowhere2020": 50.0})


def test_process_study_reports_a_bad_risk_of_bias_in_study_yaml(tmp_path, registry):
    """The checks run where every study.yaml check runs: an unknown domain rejects the study with a clear error."""
    from conftest import row, write_study

    from livertrials.harmonize.study import process_study

    meta = minimal_meta("ROBTEST")
    meta["risk_of_bias"] = {"tool": "rob2",
                            "domains": [{"domain": "randomisation_process", "judgement": "low",
                                         "support": "randomly assigned", "source": "Methods"}],
                            "overall": {"judgement": "low", "support": "randomly assigned", "source": "Methods"}}
    folder = write_study(tmp_path / "ROBTEST", meta,
                         [row("r1", "cells", "week 4", "albumin", "mean", "30", "g/L")])
    _, _, issues, *_ = process_study(folder, "studies", registry)
    errors = [i for i in issues if i.severity == "error"]
    assert any("randomisation_process" in str(i) and i.rule == "risk of bias" for i in errors), errors
