"""Excursion arithmetic: periods, limits, gaps, duplicates, order, cumulative budget."""

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from custody.excursions import analyse

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LN2 = {"low": None, "high": D("-150")}
FRIDGE = {"low": D("2"), "high": D("8")}


def series(*values, step=5):
    return [(T0 + timedelta(minutes=i * step), D(str(v))) for i, v in enumerate(values)]


@pytest.mark.req("COI-CC-002:limits")
def test_exactly_at_the_limit_is_in_range():
    assert analyse(series(-190, -150, -150.00, -170), **LN2).periods == []
    assert analyse(series(2, 8, 2.0, 8.00), **FRIDGE).periods == []


@pytest.mark.req("COI-CC-002:period", "COI-CC-002:limits")
def test_just_over_the_limit_is_an_excursion_from_first_out_to_first_back_in():
    summary = analyse(series(-180, -149.99, -140, -160, -170), **LN2)
    [period] = summary.periods
    assert (period.started_at, period.ended_at) == (T0 + timedelta(minutes=5),
                                                   T0 + timedelta(minutes=15))
    assert (period.extreme, period.minutes, period.readings) == (D("-140"), D("10.0"), 2)


@pytest.mark.req("COI-CC-002:period")
def test_both_sides_of_a_two_sided_range_and_the_extreme_furthest_away():
    summary = analyse(series(5, 1.5, 0.5, 5, 9, 12, 5), **FRIDGE)
    assert [(p.extreme, p.minutes) for p in summary.periods] == [(D("0.5"), D("10.0")),
                                                                 (D("12"), D("10.0"))]


@pytest.mark.req("COI-CC-002:period")
def test_an_excursion_open_at_the_last_reading_lasts_until_that_reading():
    [period] = analyse(series(-180, -140, -130), **LN2).periods
    assert period.ongoing and period.minutes == D("5.0")


@pytest.mark.req("COI-CC-002:gaps")
def test_a_gap_in_the_readings_is_shown_and_counted_as_out_of_range_inside_an_excursion():
    readings = series(-180, -170) + [(T0 + timedelta(minutes=60), D("-140")),
                                     (T0 + timedelta(minutes=100), D("-175"))]
    summary = analyse(readings, **LN2, max_gap=timedelta(minutes=15))
    assert [(g.started_at, g.minutes) for g in summary.gaps] == [
        (T0 + timedelta(minutes=5), D("55.0")), (T0 + timedelta(minutes=60), D("40.0"))]
    [period] = summary.periods
    assert period.minutes == D("40.0")  # nothing shows it came back before the next reading


@pytest.mark.req("COI-CC-002:gaps")
def test_a_gap_between_readings_in_range_is_not_an_excursion():
    readings = series(-180) + [(T0 + timedelta(hours=3), D("-181"))]
    summary = analyse(readings, **LN2, max_gap=timedelta(minutes=15))
    assert summary.periods == [] and len(summary.gaps) == 1


@pytest.mark.req("COI-CC-002:invariant")
def test_duplicated_and_unordered_batches_give_the_same_result():
    readings = series(-180, -149, -140, -170, -120, -120, -165, step=7)
    expected = analyse(readings, **LN2)
    shuffled = readings * 3
    random.Random(6).shuffle(shuffled)
    again = analyse(shuffled, **LN2)
    assert again.readings == expected.readings == 7
    assert [(p.started_at, p.ended_at, p.extreme) for p in again.periods] == [
        (p.started_at, p.ended_at, p.extreme) for p in expected.periods]
    assert again.minutes_out_of_range == expected.minutes_out_of_range == D("28.0")


@pytest.mark.req("COI-CC-002:budget")
def test_the_cumulative_time_out_of_range_against_the_budget():
    readings = series(-180, -140, -180, -140, -140, -180)  # 5 + 10 minutes out
    assert analyse(readings, **LN2, budget_minutes=15).minutes_out_of_range == D("15.0")
    assert not analyse(readings, **LN2, budget_minutes=15).budget_exceeded  # exactly used up
    tight = analyse(readings, **LN2, budget_minutes=14)
    assert tight.budget_exceeded and tight.budget_left_minutes == D("-1.0")


@pytest.mark.req("COI-CC-002:empty")
def test_no_readings_no_conclusion():
    summary = analyse([], **LN2)
    assert (summary.readings, summary.periods, summary.minimum) == (0, [], None)
