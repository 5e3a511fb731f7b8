"""Fast pages: a long ledger is paged in the order of an index, quantities and the recall
list are computed in SQL and equal the same computation over every ledger row in Python, and
the lot list, the lot page and the genealogy page ask the same number of queries at small and
at large data (no N+1)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.urls import reverse

from reagents import selectors
from reagents.models import StockEntry
from reagents.services import adjust_stock, consume_lot, reverse_consumption
from tests.reagents.factories import lot as make_lot


def plan_of(queryset) -> str:
    """PostgreSQL's plan with sequential scans and sorts priced out: it shows whether an
    index can give the rows in the wanted order at all (on a test's few rows the planner
    would otherwise rightly prefer a scan and a sort)."""
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def mixed_ledger(lot, operator, qa_user, uses: int) -> list[StockEntry]:
    """Receipt (made with the lot), ``uses`` consumptions over fewer batches (some batches use
    the lot twice), every third consumption reversed, and two adjustments."""
    consumptions = []
    for n in range(uses):
        consumptions.append(consume_lot(
            user=operator, lot=lot, quantity=Decimal("0.5") + n % 3, material=lot.material,
            purpose=lot.site, batch_number=f"B-{n % max(uses // 2, 1):04d}",
            patient_coi=f"G1234260{n % max(uses // 2, 1):05d}"))
    for entry in consumptions[::3]:
        reverse_consumption(user=qa_user, entry=entry, reason="Wrong lot scanned")
    adjust_stock(user=qa_user, lot=lot, quantity=Decimal("-1.25"), reason="Spilled vial")
    adjust_stock(user=qa_user, lot=lot, quantity=Decimal("0.5"), reason="Recount")
    return consumptions


def python_recall(lot) -> list[tuple]:
    """The recall list computed the slow way, over every ledger row in Python."""
    groups: dict[tuple[str, str], list[StockEntry]] = defaultdict(list)
    for entry in StockEntry.objects.filter(lot=lot).order_by("pk"):
        if entry.kind in (StockEntry.Kind.CONSUMPTION, StockEntry.Kind.REVERSAL):
            groups[(entry.batch_number, entry.patient_coi)].append(entry)
    rows = [(batch, coi, -sum(e.quantity for e in entries),
             min(e.occurred_at for e in entries), max(e.occurred_at for e in entries),
             sum(1 for e in entries if e.kind == StockEntry.Kind.CONSUMPTION))
            for (batch, coi), entries in groups.items()]
    return sorted(rows, key=lambda row: (row[3], row[0], row[1]))


@pytest.mark.postgres
@pytest.mark.req("RGT-PERF-001:ledger-index")
def test_a_page_of_a_long_ledger_is_read_in_index_order_without_sorting_the_ledger(
        db, site, vector, operator, qa_user):
    lot = make_lot(site=site, material_=vector, quantity="100")
    mixed_ledger(lot, operator, qa_user, 12)
    plan = plan_of(selectors.ledger(lot)[:100])
    assert "reagents_ledger_order" in plan
    assert "Sort" not in plan.split("reagents_ledger_order")[0]  # nothing sorts above it


@pytest.mark.req("RGT-PERF-001:sql-equals-python")
def test_quantities_and_the_recall_list_from_sql_equal_the_python_computation(
        client, site, vector, operator, qa_user):
    lot = make_lot(site=site, material_=vector, quantity="100")
    mixed_ledger(lot, operator, qa_user, 30)
    lot.refresh_from_db()
    kinds = set(StockEntry.objects.filter(lot=lot).values_list("kind", flat=True))
    assert kinds == set(StockEntry.Kind.values)  # receipt, consumption, reversal, adjustment

    expected = python_recall(lot)
    got = [(u.batch_number, u.patient_coi, u.quantity, u.first_used, u.last_used,
            u.consumptions) for u in selectors.recall_list(lot)]
    assert got == expected
    assert lot.quantity_on_hand == sum(e.quantity for e in StockEntry.objects.filter(lot=lot))

    client.force_login(qa_user)
    page = client.get(reverse("reagents:lot-genealogy", args=[lot.pk]))
    shown = [(u.batch_number, u.patient_coi, u.quantity, u.consumptions)
             for u in (row["use"] for row in page.context["uses"])]
    assert shown == [(row[0], row[1], row[2], row[5]) for row in expected]
    assert page.context["page"].paginator.count == len(expected)
    assert f"{len(expected)} in all" in page.content.decode()
    detail = client.get(reverse("reagents:lot-detail", args=[lot.pk]))
    on_hand = sum(e.quantity for e in StockEntry.objects.filter(lot=lot))
    assert f'<dd id="on-hand"><span class="qty">{on_hand.normalize():f} mL</span></dd>' in \
        detail.content.decode()


def _queries(client, url, budget, assert_max) -> tuple[int, object]:
    client.get(url)  # warm the session and permission caches
    with assert_max(budget) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries), response


@pytest.mark.req("RGT-PERF-001:lot-list-budget")
def test_the_lot_list_asks_the_same_queries_for_3_and_for_30_lots(
        client, site, vector, operator, django_assert_max_num_queries):
    client.force_login(operator)
    url = reverse("reagents:lot-list")
    for n in range(3):
        make_lot(site=site, material_=vector, supplier_lot=f"S{n}")
    small, _ = _queries(client, url, 12, django_assert_max_num_queries)
    for n in range(27):
        make_lot(site=site, material_=vector, supplier_lot=f"N{n}")
    large, response = _queries(client, url, 12, django_assert_max_num_queries)
    assert len(response.context["page"]) == 30
    assert large == small


@pytest.mark.req("RGT-PERF-001:lot-page-budget")
def test_the_lot_page_asks_the_same_queries_with_3_and_with_30_uses(
        client, site, vector, operator, qa_user, django_assert_max_num_queries):
    small_lot = make_lot(site=site, material_=vector, quantity="100")
    large_lot = make_lot(site=site, material_=vector, quantity="100")
    mixed_ledger(small_lot, operator, qa_user, 3)
    mixed_ledger(large_lot, operator, qa_user, 30)
    client.force_login(qa_user)
    counts = []
    for lot in (small_lot, large_lot):
        count, response = _queries(client, reverse("reagents:lot-detail", args=[lot.pk]), 25,
                                   django_assert_max_num_queries)
        assert len(response.context["entries"]) == lot.entries.count()
        counts.append(count)
    assert counts[0] == counts[1]


@pytest.mark.req("RGT-PERF-001:genealogy-budget")
def test_the_genealogy_page_asks_the_same_queries_with_3_and_with_30_uses(
        client, site, vector, operator, qa_user, django_assert_max_num_queries):
    small_lot = make_lot(site=site, material_=vector, quantity="100")
    large_lot = make_lot(site=site, material_=vector, quantity="100")
    mixed_ledger(small_lot, operator, qa_user, 3)
    mixed_ledger(large_lot, operator, qa_user, 30)
    client.force_login(qa_user)
    counts = []
    for lot in (small_lot, large_lot):
        count, response = _queries(client, reverse("reagents:lot-genealogy", args=[lot.pk]),
                                   15, django_assert_max_num_queries)
        assert len(response.context["uses"]) == len(python_recall(lot))
        counts.append(count)
    assert counts[0] == counts[1]
