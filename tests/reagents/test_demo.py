import pytest

from mes import demo as kernel_demo
from mes.models import Site
from reagents import demo
from reagents.models import LotStatus, ReagentLot, StockEntry
from reagents.selectors import released_lots_expiring_within


@pytest.mark.req("RGT-DEMO-001:content", "RGT-DEMO-001:idempotent")
def test_the_demo_has_lots_in_every_status_and_is_idempotent(db):
    kernel_demo.load()
    demo.load()
    assert set(ReagentLot.objects.values_list("status", flat=True)) == set(LotStatus.values)
    lei = Site.objects.get(code="LEI")
    assert released_lots_expiring_within(site=lei, days=7).exists()
    assert StockEntry.objects.filter(kind=StockEntry.Kind.CONSUMPTION).count() >= 10
    assert StockEntry.objects.filter(kind=StockEntry.Kind.REVERSAL).count() == 1
    counts = (ReagentLot.objects.count(), StockEntry.objects.count())
    demo.load()
    assert (ReagentLot.objects.count(), StockEntry.objects.count()) == counts
