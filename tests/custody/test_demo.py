import pytest

from custody import demo
from custody.models import CustodyEvent, ExcursionDeviation, Order, ScanRefusal
from mes import demo as kernel_demo


@pytest.mark.req("COI-DEMO-001:stages", "COI-DEMO-001:excursion", "COI-DEMO-001:idempotent")
def test_the_demo_shows_every_stage_and_an_excursion_and_loads_once(db):
    kernel_demo.load()
    demo.load()
    stages = set(Order.objects.values_list("status", flat=True))
    assert stages == set(Order.Status.values)
    assert ExcursionDeviation.objects.filter(kind="excursion").count() == 1
    assert ScanRefusal.objects.filter(reason="other_patient").count() == 1
    counts = (Order.objects.count(), CustodyEvent.objects.count())
    demo.load()
    assert (Order.objects.count(), CustodyEvent.objects.count()) == counts
