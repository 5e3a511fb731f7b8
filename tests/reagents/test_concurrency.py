"""On PostgreSQL: parallel consumptions of one lot never take it below zero."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from mes.errors import DomainError
from reagents.models import LotStatus, ReagentLot, StockEntry
from reagents.services import consume_lot
from tests.mes.factories import SiteFactory, person
from tests.reagents.factories import lot as make_lot
from tests.reagents.factories import material

pytestmark = pytest.mark.postgres


@pytest.fixture
def setting(transactional_db):
    from mes.roles import ensure_roles

    ensure_roles()
    site = SiteFactory(code="PLANT1", name="Plant One", time_zone="Europe/Amsterdam")
    operator = person("Operator", sites=[site], username="op1", full_name="Otto Operator")
    vector = material("LV-CD19", name="Lentiviral vector", unit="mL")
    return site, operator, vector


@pytest.mark.req("RGT-USE-003:concurrent")
def test_twenty_parallel_consumptions_of_a_lot_for_ten_succeed_exactly_ten_times(setting):
    site, operator, vector = setting
    lot = make_lot(site=site, material_=vector, quantity="10")
    start = threading.Barrier(20)
    outcomes: list[str] = []
    guard = threading.Lock()

    def consume(n: int) -> None:
        try:
            start.wait()
            consume_lot(user=operator, lot=lot, quantity="1", material=vector, purpose=site,
                        batch_number=f"B-{n:03d}", patient_coi=f"G12342600{n:04d}")
            outcome = "ok"
        except DomainError as error:
            outcome = error.code
        except Exception as error:  # noqa: BLE001 - any other failure is reported below
            outcome = f"{type(error).__name__}: {error}"
        finally:
            connection.close()
        with guard:
            outcomes.append(outcome)

    threads = [threading.Thread(target=consume, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == sorted(["ok"] * 10 + ["lot_depleted"] * 10)
    lot = ReagentLot.objects.get(pk=lot.pk)
    assert (lot.quantity_on_hand, lot.status) == (Decimal("0"), LotStatus.DEPLETED)
    consumptions = StockEntry.objects.filter(lot=lot, kind=StockEntry.Kind.CONSUMPTION)
    assert consumptions.count() == 10
    balances = sorted(consumptions.values_list("balance_after", flat=True))
    assert balances == [Decimal(n) for n in range(10)]  # each step seen once, never below 0
    assert lot.history.count() == 1 + 10  # created, then one saved change per consumption
