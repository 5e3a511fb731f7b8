import pytest

from deviations import demo
from deviations.models import Deviation, EscalationEvent, Status
from mes import demo as kernel_demo


@pytest.mark.req("DEV-DEMO-001:stages", "DEV-DEMO-001:idempotent")
def test_the_demo_shows_every_stage_and_loads_once(db, roles):
    kernel_demo.load()
    demo.load()
    statuses = set(Deviation.objects.values_list("status", flat=True))
    assert statuses == set(Status.values)
    escalated = Deviation.objects.get(title=demo.MARKER)
    assert list(EscalationEvent.objects.filter(deviation=escalated)
                .values_list("level", flat=True)) == [2, 3]
    count = Deviation.objects.count()
    demo.load()
    assert Deviation.objects.count() == count
