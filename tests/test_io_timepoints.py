import pytest

from livertrials.io.timepoints import TimepointError, parse_timepoint


@pytest.mark.parametrize(
    "text, kind, days",
    [
        ("baseline", "point", 0.0),
        ("week 4", "point", 28.0),
        ("month 3", "point", 3 * 365.25 / 12),
        ("month 3 (change from baseline)", "point", 3 * 365.25 / 12),
        ("year 2", "point", 730.5),
        ("day 90 (change from day 0)", "point", 90.0),
        ("3 months (change; conference abstract version)", "point", 3 * 365.25 / 12),
        ("to week 96", "point", 672.0),
        ("weeks 0-24", "range", 168.0),
        ("first 90 days", "range", 90.0),
        ("not stated", "not_stated", None),
        ("end of follow-up (up to 10 y)", "not_stated", None),
        ("follow-up (not stated)", "not_stated", None),
        ("single infusion", "schedule", None),
    ],
)
def test_printed_timepoints(text, kind, days):
    parsed = parse_timepoint(text)
    assert parsed.kind == kind
    assert parsed.days == (pytest.approx(days) if days is not None else None)
    assert parsed.text == text


def test_qualifier_is_kept():
    assert parse_timepoint("month 3 (change from baseline)").qualifier == "change from baseline"


def test_range_start():
    assert parse_timepoint("months 2-3").start_days == pytest.approx(2 * 30.4375)


@pytest.mark.parametrize("text", ["", "   ", "sometime", "week four", "wk4?"])
def test_unreadable_timepoints_raise(text):
    with pytest.raises(TimepointError):
        parse_timepoint(text)


@pytest.mark.parametrize("text", ["weeks 0-24", "weeks 0 – 24", "weeks 0 to 24", "weeks 0–24"])
def test_range_separators(text):
    parsed = parse_timepoint(text)
    assert (parsed.kind, parsed.start_days, parsed.days) == ("range", 0.0, 168.0)


@pytest.mark.parametrize("text", ["weeks 0 oooo 24", "weeks 0 tttt 24", "weeks 0 --to 24", "weeks 0 ot 24"])
def test_letters_t_and_o_are_not_a_range_separator(text):
    """The separator is one of -, – or the word "to", not any run of those characters."""
    with pytest.raises(TimepointError):
        parse_timepoint(text)
