"""Sequence rules of the chain of custody (21 CFR 11.10(f)).

Events are recorded as they happen, even out of the expected order, because refusing to
record a real handoff would lose it; what does not follow the rules shows as a break.
"""

from __future__ import annotations

from collections.abc import Sequence

from custody.models.custody import EXPECTED_BEFORE, RECEIVING, EventKind


def chain_breaks(events: Sequence) -> dict[int, str]:
    """{event pk: why the chain is broken just before it}, for events in time order."""
    breaks: dict[int, str] = {}
    previous = None
    for event in events:
        kind_label = EventKind(event.kind).label.lower()
        prev_kind = previous.kind if previous is not None else None
        problem = None
        if prev_kind not in EXPECTED_BEFORE[event.kind]:
            if event.kind in RECEIVING and prev_kind != RECEIVING[event.kind]:
                shipped = EventKind(RECEIVING[event.kind]).label.lower()
                problem = f"Receipt without a shipment: no “{shipped}” event comes before it."
            elif previous is None:
                problem = f"The chain starts with “{kind_label}”: the collection is not recorded."
            else:
                expected = " or ".join(f"“{EventKind(k).label.lower()}”"
                                       for k in sorted(k for k in EXPECTED_BEFORE[event.kind] if k))
                problem = (f"Gap: “{EventKind(prev_kind).label.lower()}” is followed by "
                           f"“{kind_label}”; expected {expected} in between.")
        elif (previous is not None and previous.site_id != event.site_id
              and event.kind not in RECEIVING):
            problem = "The material changed site without a shipment and receipt."
        if problem:
            breaks[event.pk] = problem
        previous = event
    return breaks
