"""The temperature chart shows what its pixels can: decimated, never losing an excursion."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from custody.chart import COLUMNS, decimate, temperature_svg
from custody.excursions import analyse

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LN2 = {"low": None, "high": D("-150")}


def busy_series(seconds=20_000):
    """A reading a second, in range, with short excursions packed into single pixel columns:
    in one column a mild excursion (-140) and then a worse one (-120), so the column's
    highest reading is not the mild excursion's extreme."""
    values = {n: D("-180") - D(n % 7) for n in range(seconds)}
    for start in range(1000, seconds - 1000, 2500):
        values[start] = D("-140")        # excursion: one reading
        values[start + 4] = D("-120")    # a second excursion, worse, same column
        values[start + 9] = D("-145")    # a third, three readings with the extreme inside
        values[start + 10] = D("-131.5")
        values[start + 11] = D("-149")
    return [(T0 + timedelta(seconds=n), values[n]) for n in range(seconds)]


@pytest.mark.req("COI-PERF-002:extremes")
def test_the_decimated_chart_keeps_every_excursions_extreme():
    # given 20,000 readings with 24 excursions, several sharing one pixel column
    readings = busy_series()
    summary = analyse(readings, **LN2)
    assert len(summary.periods) == 24
    # when decimated to the pixels
    shown = decimate(readings, summary)
    # then every excursion's extreme reading is among the points drawn
    kept = set(shown)
    for period in summary.periods:
        assert any(period.started_at <= when <= period.last_out_at and celsius == period.extreme
                   for when, celsius in kept), period


@pytest.mark.req("COI-PERF-002:pixels")
def test_the_chart_draws_at_most_four_points_a_pixel_column():
    readings = busy_series()
    summary = analyse(readings, **LN2)
    shown = decimate(readings, summary)
    assert len(shown) <= 4 * COLUMNS + len(summary.periods)
    assert shown == sorted(shown) and shown[0] == readings[0] and shown[-1] == readings[-1]
    # the lowest and highest readings are drawn
    assert min(c for _, c in shown) == summary.minimum
    assert max(c for _, c in shown) == summary.maximum
    svg = temperature_svg(readings, summary, zone=UTC)
    [points] = re.findall(r'class="readings" points="([^"]*)"', svg)
    assert len(points.split()) == len(shown)
    assert svg.count('class="excursion"') == 24
    # a short series is drawn as it is
    assert decimate(readings[:100], summary) == readings[:100]
