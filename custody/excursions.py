"""Cold-chain arithmetic: out-of-range periods, cumulative time out of range, data gaps.

Pure functions over (time, °C) pairs, so the rules are tested without a database. The
limits are inclusive (exactly at the limit is in range). A period starts at the first
reading out of range and ends at the next reading back in range: the time between the two
is counted as out of range, because nothing shows it was not. A period still open at the
last reading lasts until that reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal


@dataclass
class Period:
    started_at: datetime
    ended_at: datetime | None  # None: still out of range at the last reading
    last_out_at: datetime
    extreme: Decimal
    readings: int = 1

    @property
    def ongoing(self) -> bool:
        return self.ended_at is None

    @property
    def duration(self) -> timedelta:
        return (self.ended_at or self.last_out_at) - self.started_at

    @property
    def minutes(self) -> Decimal:
        return Decimal(self.duration.total_seconds() / 60).quantize(Decimal("0.1"))


@dataclass
class Gap:
    started_at: datetime
    ended_at: datetime

    @property
    def minutes(self) -> Decimal:
        return Decimal((self.ended_at - self.started_at).total_seconds() / 60).quantize(
            Decimal("0.1"))


@dataclass
class ColdChainSummary:
    readings: int
    low: Decimal | None
    high: Decimal | None
    budget_minutes: int
    periods: list[Period] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    first_at: datetime | None = None
    last_at: datetime | None = None

    @property
    def minutes_out_of_range(self) -> Decimal:
        return sum((p.minutes for p in self.periods), Decimal("0.0"))

    @property
    def budget_exceeded(self) -> bool:
        return self.minutes_out_of_range > self.budget_minutes

    @property
    def budget_left_minutes(self) -> Decimal:
        return Decimal(self.budget_minutes) - self.minutes_out_of_range

    @property
    def in_range(self) -> bool:
        return not self.periods


def out_of_range(celsius: Decimal, low: Decimal | None, high: Decimal | None) -> bool:
    return (low is not None and celsius < low) or (high is not None and celsius > high)


def _distance(celsius: Decimal, low, high) -> Decimal:
    if low is not None and celsius < low:
        return low - celsius
    if high is not None and celsius > high:
        return celsius - high
    return Decimal(0)


def analyse(readings: Iterable[tuple[datetime, Decimal]], *, low: Decimal | None,
            high: Decimal | None, budget_minutes: int = 0,
            max_gap: timedelta | None = None) -> ColdChainSummary:
    """Out-of-range periods, gaps and extremes of ``readings`` (any order, duplicates of
    the same instant counted once: the first value given wins)."""
    by_time: dict[datetime, Decimal] = {}
    for when, celsius in readings:
        by_time.setdefault(when, Decimal(celsius))
    summary = ColdChainSummary(readings=0, low=low, high=high, budget_minutes=budget_minutes)
    resume(summary, sorted(by_time.items()), max_gap=max_gap)
    return summary


def resume(summary: ColdChainSummary, ordered: list[tuple[datetime, Decimal]], *,
           max_gap: timedelta | None = None) -> ColdChainSummary:
    """Carry ``summary`` on over further readings, each later than its last one (sorted,
    one per instant): the same result as analysing every reading again, in time
    proportional to the new ones only."""
    if not ordered:
        return summary
    if summary.last_at is not None and ordered[0][0] <= summary.last_at:
        raise ValueError("resume() takes only readings later than the last one analysed")
    values = [c for _, c in ordered]
    low, high = summary.low, summary.high
    previous_at = summary.last_at
    summary.readings += len(ordered)
    summary.first_at = summary.first_at or ordered[0][0]
    summary.last_at = ordered[-1][0]
    summary.minimum = min(values if summary.minimum is None else [summary.minimum, *values])
    summary.maximum = max(values if summary.maximum is None else [summary.maximum, *values])
    current = summary.periods.pop() if summary.periods and summary.periods[-1].ongoing else None
    for when, celsius in ordered:
        if max_gap is not None and previous_at is not None and when - previous_at > max_gap:
            summary.gaps.append(Gap(previous_at, when))
        previous_at = when
        if out_of_range(celsius, low, high):
            if current is None:
                current = Period(started_at=when, ended_at=None, last_out_at=when,
                                 extreme=celsius)
            else:
                current.readings += 1
                current.last_out_at = when
                if _distance(celsius, low, high) > _distance(current.extreme, low, high):
                    current.extreme = celsius
        elif current is not None:
            current.ended_at = when
            summary.periods.append(current)
            current = None
    if current is not None:
        summary.periods.append(current)
    return summary
