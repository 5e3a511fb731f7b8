"""The temperature chart, drawn on the server as SVG (no JavaScript, no CDN): the allowed
range shaded, the readings as a line, each excursion marked, data gaps hatched."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

from custody.excursions import ColdChainSummary

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 40


def _nice_step(span: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 20, 25, 50, 100):
        if span / step <= 8:
            return step
    return 200


COLUMNS = 600  # the plot's width in pixels, give or take: more points cannot be seen


def decimate(readings: list[tuple[datetime, Decimal]], summary: ColdChainSummary, *,
             columns: int = COLUMNS) -> list[tuple[datetime, Decimal]]:
    """What the pixels can show of ``readings`` (sorted by time): per pixel column its first,
    lowest, highest and last reading, in time order, so the line's envelope is drawn as it
    is; and every excursion's extreme reading, so no excursion loses its worst point."""
    if len(readings) <= 4 * columns:
        return readings
    t0 = readings[0][0]
    span = max((readings[-1][0] - t0).total_seconds(), 1.0)
    keep: set[int] = set()
    column, first = None, 0
    low = high = 0
    for index, (when, celsius) in enumerate(readings):
        here = min(int((when - t0).total_seconds() / span * columns), columns - 1)
        if here != column:
            if column is not None:
                keep.update((first, low, high, index - 1))
            column, first, low, high = here, index, index, index
        elif celsius < readings[low][1]:
            low = index
        elif celsius > readings[high][1]:
            high = index
    keep.update((first, low, high, len(readings) - 1))
    times = [when for when, _ in readings]
    for period in summary.periods:
        start = bisect_left(times, period.started_at)
        end = bisect_right(times, period.last_out_at)
        worst = next((i for i in range(start, end) if readings[i][1] == period.extreme), None)
        if worst is not None:
            keep.add(worst)
    return [readings[i] for i in sorted(keep)]


def temperature_svg(readings: list[tuple[datetime, Decimal]], summary: ColdChainSummary, *,
                    zone, title: str = "") -> str:
    """An SVG document; ``readings`` sorted by time (decimated to what the pixels show)."""
    readings = decimate(readings, summary)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'width="{WIDTH}" height="{HEIGHT}" role="img" class="temperature-chart" '
           f'font-family="sans-serif" font-size="11">',
           f"<title>{escape(title or 'Temperature')}</title>",
           f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>']
    if not readings:
        out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
                   'fill="#5d6d7e">No temperature readings yet.</text></svg>')
        return "".join(out)
    values = [float(c) for _, c in readings]
    limits = [float(v) for v in (summary.low, summary.high) if v is not None]
    lo, hi = min(values + limits), max(values + limits)
    pad = max((hi - lo) * 0.1, 1.0)
    lo, hi = lo - pad, hi + pad
    t0, t1 = readings[0][0], readings[-1][0]
    span = max((t1 - t0).total_seconds(), 60.0)

    def x(when: datetime) -> float:
        return round(LEFT + (when - t0).total_seconds() / span * plot_w, 1)

    def y(celsius: float) -> float:
        return round(TOP + (hi - celsius) / (hi - lo) * plot_h, 1)

    # The allowed range, shaded.
    band_top = y(float(summary.high)) if summary.high is not None else TOP
    band_bottom = y(float(summary.low)) if summary.low is not None else TOP + plot_h
    out.append(f'<rect class="allowed-range" x="{LEFT}" y="{band_top}" width="{plot_w}" '
               f'height="{round(band_bottom - band_top, 1)}" fill="#e6f4ea"/>')
    for limit in (summary.low, summary.high):
        if limit is not None:
            out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(float(limit))}" '
                       f'y2="{y(float(limit))}" stroke="#1e7d32" stroke-dasharray="4 3"/>')
    # Gaps in the data, hatched grey; excursions, red.
    for gap in summary.gaps:
        out.append(f'<rect class="gap" x="{x(gap.started_at)}" y="{TOP}" '
                   f'width="{max(x(gap.ended_at) - x(gap.started_at), 1)}" height="{plot_h}" '
                   f'fill="#d5dbe1" fill-opacity="0.6"><title>No readings for {gap.minutes} '
                   f'min</title></rect>')
    for number, period in enumerate(summary.periods, start=1):
        end = period.ended_at or period.last_out_at
        width = max(x(end) - x(period.started_at), 2)
        out.append(f'<rect class="excursion" x="{x(period.started_at)}" y="{TOP}" '
                   f'width="{width}" height="{plot_h}" fill="#b3261e" fill-opacity="0.18" '
                   f'stroke="#b3261e"><title>Excursion {number}: {period.minutes} min, '
                   f'extreme {period.extreme:g} °C</title></rect>')
        out.append(f'<text x="{x(period.started_at) + 2}" y="{TOP - 6}" fill="#b3261e" '
                   f'font-weight="bold">E{number}</text>')
    # Axes and ticks.
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
               'stroke="#5d6d7e"/>')
    step = _nice_step(hi - lo)
    tick = (int(lo / step) - 1) * step
    while tick <= hi:
        if tick >= lo:
            out.append(f'<line x1="{LEFT - 4}" x2="{LEFT}" y1="{y(tick)}" y2="{y(tick)}" '
                       f'stroke="#5d6d7e"/><text x="{LEFT - 6}" y="{y(tick) + 4}" '
                       f'text-anchor="end" fill="#17202a">{tick:g}</text>')
        tick += step
    for i in range(5):
        when = t0 + timedelta(seconds=span * i / 4)
        label = when.astimezone(zone).strftime("%Y-%m-%d %H:%M")  # ISO 8601 (UI.md)
        out.append(f'<text x="{x(when)}" y="{TOP + plot_h + 16}" text-anchor="middle" '
                   f'fill="#17202a">{label}</text>')
    zone_name = t0.astimezone(zone).strftime("%Z")
    out.append(f'<text x="{LEFT}" y="{HEIGHT - 4}" fill="#5d6d7e">°C · time in {escape(zone_name)}'
               '</text>')
    # The readings.
    points = " ".join(f"{x(w)},{y(float(c))}" for w, c in readings)
    out.append(f'<polyline class="readings" points="{points}" fill="none" stroke="#0b5394" '
               'stroke-width="1.5"/>')
    low, high = summary.low, summary.high
    for when, celsius in readings:
        if (low is not None and celsius < low) or (high is not None and celsius > high):
            out.append(f'<circle class="out-of-range" cx="{x(when)}" cy="{y(float(celsius))}" '
                       'r="2.5" fill="#b3261e"/>')
    out.append("</svg>")
    return "".join(out)
