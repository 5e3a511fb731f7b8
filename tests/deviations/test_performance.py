"""Fast pages: the board reads its page in the order of an index, and the board and the
deviation page ask the same number of queries at small and at large data (no N+1)."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deviations import selectors
from deviations.models import Deviation
from deviations.services import workflow
from mes import audit
from tests.deviations.factories import raised


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def plan_of(queryset) -> str:
    """PostgreSQL's plan for ``queryset`` with sequential scans and sorts priced out, so the
    plan shows whether an index can give the rows in the wanted order at all (on a test's
    few rows the planner would otherwise rightly prefer a scan and a sort)."""
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def bulk_open(operator, site, count: int, *, first: int = 2) -> None:
    """``count`` open deviations with history rows (the only bulk insert allowed)."""
    now = datetime.now(UTC)
    batch = [Deviation(site=site, number=f"DEV-{site.code}-2026-{n:05d}", year=2026,
                       sequence=n, title=f"Deviation {n}", description="Bulk",
                       detected_by=operator, acknowledge_due_at=now + timedelta(minutes=n),
                       next_escalation_at=now + timedelta(minutes=n % 7))
             for n in range(first, first + count)]
    audit.bulk_create_with_history(batch, Deviation, user=operator, reason="Load test")


@pytest.mark.postgres
@pytest.mark.req("DEV-PERF-001:board-index")
def test_the_board_reads_its_page_in_index_order_without_sorting_the_open_deviations(
        db, site, operator, qa_user):
    bulk_open(operator, site, 30)
    plan = plan_of(selectors.board(qa_user)[:100])
    assert "deviations_board_order" in plan
    assert "Sort" not in plan.split("deviations_board_order")[0]  # nothing sorts above it
    # Filtered by class or by one open status, the same index gives the order.
    for filters in ({"classification": "critical"}, {"status": "open"}):
        plan = plan_of(selectors.board(qa_user, **filters)[:100])
        assert "deviations_board_order" in plan, filters


def _board_queries(client) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("deviations:board"))
    assert response.status_code == 200
    return len(captured), response


@pytest.mark.req("DEV-PERF-001:board-budget")
def test_the_board_asks_the_same_queries_for_3_and_for_30_open_deviations(
        db, site, operator, qa_user, django_assert_max_num_queries):
    bulk_open(operator, site, 3)
    client = client_for(qa_user)
    client.get(reverse("deviations:board"))  # warm the session and permission caches
    small, _ = _board_queries(client)
    bulk_open(operator, site, 27, first=100)
    with django_assert_max_num_queries(12):
        large, response = _board_queries(client)
    assert len(response.context["rows"]) == 30
    assert large == small


def _grow(deviation, operator, qa_user, count: int) -> None:
    """``count`` comments and CAPA actions (with their history) on ``deviation``."""
    for n in range(count):
        workflow.add_comment(actor=operator, deviation=deviation, text=f"Note {n}")
        workflow.add_capa(actor=qa_user, deviation=deviation, description=f"Action {n}",
                          owner=operator, due_date=dt.date.today() + timedelta(days=30))


@pytest.mark.req("DEV-PERF-001:detail-budget")
def test_the_deviation_page_asks_the_same_queries_with_3_and_with_30_records(
        db, site, operator, qa_user, password, django_assert_max_num_queries):
    small_one = raised(operator, site)
    large_one = raised(operator, site, title="Glove torn")
    for deviation, count in ((small_one, 3), (large_one, 30)):
        workflow.acknowledge_deviation(actor=qa_user, password=password, deviation=deviation)
        _grow(deviation, operator, qa_user, count)
    client = client_for(qa_user)
    counts = []
    for deviation, entries in ((small_one, 3), (large_one, 30)):
        url = reverse("deviations:detail", args=[deviation.pk])
        client.get(url)  # warm the session and permission caches
        with django_assert_max_num_queries(30) as captured:
            response = client.get(url)
        assert response.status_code == 200
        assert len(response.context["capas"]) == entries
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]
