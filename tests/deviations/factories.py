from __future__ import annotations

from deviations.services import raise_deviation


def raised(reporter, site, **kwargs):
    """A deviation raised through the service, as every app raises them."""
    fields = {"title": "Pressure differential low in suite B",
              "description": "Cascade alarm at 10:02, door B2 held open during transfer."}
    fields.update(kwargs)
    return raise_deviation(reporter=reporter, site=site, **fields)
