"""The QA workspace for batches: the list (scoped, filtered in the address, exceptions first,
CSV, query budget) and the batch overview (what it shows, its live fragment polled without
extending the session, and its query budget from 5 to 45 steps)."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batchrecords.models import Batch
from batchrecords.services.batches import cancel_batch, open_batch
from batchrecords.services.corrections import correct_value
from batchrecords.services.execution import add_comment
from mes import audit, identifiers
from mes.middleware import LAST_ACTIVITY
from tests.batchrecords.execution_kit import perform, verify
from tests.batchrecords.overview_kit import big_batch, flag_a_step, more_batches, stop_batch
from tests.batchrecords.world import run
from tests.mes.factories import SiteFactory, person
from tests.permission_matrix import (
    ALLOWED,
    NO_PERMISSION,
    OTHER_SITE,
    UI,
    assert_permission_matrix,
    ui_client,
)

LIST = "/batchrecords/batches/"


def detail_url(batch) -> str:
    return f"/batchrecords/batches/{batch.pk}/"


def live_url(batch) -> str:
    return f"/batchrecords/batches/{batch.pk}/live/"


@pytest.fixture
def outsider(world):
    return person("QA Reviewer", sites=[SiteFactory(code="PLANT2")], username="qa-far")


@pytest.fixture
def nobody(world):
    return person(None, sites=[world.site], username="nobody")


def numbers(response) -> list[str]:
    return [row["number"] for row in response.context["rows"]]


@pytest.mark.req("EBR-VIEW-001:scoped")
def test_the_list_and_the_overview_are_seen_only_at_the_batch_site(world, outsider, nobody):
    for url in (detail_url(world.batch), live_url(world.batch)):
        assert_permission_matrix(
            ui_client, url, {NO_PERMISSION: nobody, OTHER_SITE: outsider, ALLOWED: world.qa}, UI)
    assert numbers(ui_client(world.qa).get(LIST)) == [world.batch.number]
    assert numbers(ui_client(outsider).get(LIST)) == []
    assert ui_client(nobody).get(LIST).status_code == 403


@pytest.mark.req("EBR-VIEW-001:filters")
def test_each_filter_narrows_the_list_and_stays_in_the_page_links(world):
    others = more_batches(world, 2)
    client = ui_client(world.qa)
    everything = {world.batch.number, *(b.number for b in others)}
    assert set(numbers(client.get(LIST))) == everything

    perform(world, "R01")  # the world's batch is now in progress
    assert numbers(client.get(LIST, {"status": "in_progress"})) == [world.batch.number]
    assert set(numbers(client.get(LIST, {"status": "planned"}))) == {b.number for b in others}
    assert numbers(client.get(LIST, {"suite": world.suite.pk})) == [world.batch.number]
    assert set(numbers(client.get(LIST, {"product": world.product.code}))) == everything
    assert numbers(client.get(LIST, {"q": world.batch.number[-5:]})) == [world.batch.number]
    # the COI as people read it (spaces, flags, check character) and as the label scans it
    for typed in (identifiers.coi_text(world.patient), world.label):
        assert numbers(client.get(LIST, {"q": typed})) == [world.batch.number]
    page = client.get(LIST, {"status": "planned", "q": ""})
    assert "status=planned" in page.context["query"]
    assert f'href="/batchrecords/batches/export.csv?{page.context["query"]}' in (
        page.content.decode().replace("&amp;", "&"))


@pytest.mark.req("EBR-VIEW-001:exceptions-first")
def test_what_needs_a_decision_comes_first(world):
    closed, calm, flagged, stopped = more_batches(world, 4)
    perform(world, "R01")
    add_comment(actor=world.operator, run=run(world, "R01"), text="Bag slightly cold")
    flag_a_step(flagged, world)
    stop_batch(stopped, world)
    flag_a_step(closed, world)
    with audit.acting_as(world.supervisor):
        cancel_batch(actor=world.supervisor, batch=closed, reason="Order withdrawn")

    listed = numbers(ui_client(world.qa).get(LIST))

    assert listed == [stopped.number, flagged.number, world.batch.number, calm.number,
                      closed.number]


@pytest.mark.req("EBR-VIEW-001:csv")
def test_the_csv_holds_the_filtered_batches_with_formula_cells_quoted(world):
    others = more_batches(world, 1)
    with audit.acting_as(world.supervisor):
        cancel_batch(actor=world.supervisor, batch=others[0], reason="Order withdrawn")
    response = ui_client(world.qa).get("/batchrecords/batches/export.csv",
                                       {"status": "planned"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["Batch number", "Patient COI", "Product"]
    assert [row[0] for row in rows[1:]] == [world.batch.number]
    assert rows[1][1] == identifiers.coi_text(world.patient)
    assert rows[1][5] == world.suite.code
    from batchrecords.views_batches import _cell

    assert _cell("=1+1") == "'=1+1" and _cell("-3") == "'-3" and _cell("B-1") == "B-1"


def _list_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(LIST)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.req("EBR-VIEW-001:budget")
def test_the_list_runs_the_same_queries_for_3_and_for_30_batches(world):
    client = ui_client(world.qa)
    more_batches(world, 2)
    client.get(LIST)  # the first request of a session does its own bookkeeping
    few = _list_queries(client)
    more_batches(world, 27, start=2)
    assert Batch.objects.count() == 30
    assert _list_queries(client) == few


# --- the overview ----------------------------------------------------------------------------

def _made_with_departures(world):
    """R01 performed, S01 performed with an alert value, its volume corrected, a comment."""
    perform(world, "R01")
    perform(world, "S01", values={"vcc": "2.5", "volume": "100"})
    s01 = run(world, "S01")
    correct_value(actor=world.operator, password=world.password, run=s01,
                  revision=s01.revision, terminal=world.terminal, field_key="volume",
                  value="98", reason="Read the wrong graduation")
    add_comment(actor=world.verifier, run=run(world, "R01"), text="Label slightly creased")


@pytest.mark.req("EBR-VIEW-002:header", "EBR-VIEW-002:progress", "EBR-VIEW-002:people",
                 "EBR-VIEW-002:flagged", "EBR-VIEW-002:exceptions", "EBR-VIEW-002:materials",
                 "EBR-VIEW-002:checks")
def test_the_overview_shows_progress_people_departures_lots_and_checks(world):
    _made_with_departures(world)
    page = ui_client(world.qa).get(detail_url(world.batch))
    html = page.content.decode()
    assert page.status_code == 200 and 'class="qa-workspace"' in html
    # header
    assert world.batch.number in html and str(identifiers.coi(world.patient)) in html
    assert f'href="/batchrecords/versions/{world.version.pk}/"' in html
    assert world.product.code in html and world.suite.code in html
    assert 'data-status="in_progress"' in html
    # progress: R01 done, S01 back to pending after its correction
    progress = {op.code: (op.done, op.total) for op in page.context["operations"]}
    assert progress == {"RECEIPT": (1, 1), "SELECT": (0, 1), "TRANSDUCE": (0, 3)}
    assert [n.step.code for n in page.context["next_steps"]] == ["S01"]
    # people
    r01 = next(s for s in page.context["steps"] if s["code"] == "R01")
    assert r01["performed"]["name"] == world.operator.full_name
    assert r01["status_value"] == "done" and r01["verified"] is None
    # flagged values and the correction's original
    flagged = {(f["label"], f["flag"], f["original"]) for f in page.context["flagged"]}
    assert ("Viable cell concentration", "Outside alert limits", "") in flagged
    assert ("Culture volume", "", "100 mL") in flagged
    assert "Read the wrong graduation" in html and '<del class="original">100 mL</del>' in html
    # exceptions with their people
    kinds = [(e["kind_value"], e["step"], e["actor"]) for e in page.context["exceptions"]]
    assert ("alert_limit", "S01", world.operator.full_name) in kinds
    assert ("correction", "S01", world.operator.full_name) in kinds
    assert ("comment", "R01", world.verifier.full_name) in kinds
    # materials, lots and equipment
    [lot] = page.context["lots"]
    assert (lot["step"], lot["material"]) == ("S01", "MED-TEX")
    assert "TX-1" in str(lot["lot"]) and str(lot["quantity"]) == '<span class="qty">100 mL</span>'
    assert [(q["step"], q["identifier"]) for q in page.context["equipment"]] == [("S01", "CS-01")]
    # checks passed
    checks = page.context["checks"]
    assert (checks["label_scans_matched"], checks["lots_verified"],
            checks["equipment_verified"]) == (1, 1, 1)
    assert 'data-check="label_scans_matched">1<' in html


@pytest.mark.req("EBR-VIEW-002:exceptions", "EBR-VIEW-002:people")
def test_an_action_limit_shows_its_deviation_and_a_verification_its_verifier(world):
    from tests.batchrecords.execution_kit import up_to

    up_to(world, "T03")
    perform(world, "T03")
    verify(world, "T03")
    page = ui_client(world.qa).get(detail_url(world.batch))
    t03 = next(s for s in page.context["steps"] if s["code"] == "T03")
    assert t03["verified"]["name"] == world.verifier.full_name
    assert t03["performed"]["name"] == world.operator.full_name


@pytest.mark.req("EBR-VIEW-002:exceptions")
def test_a_deviation_raised_by_a_value_is_linked_from_its_exception(world):
    perform(world, "R01")
    perform(world, "S01", values={"vcc": "3.5", "volume": "100"})
    page = ui_client(world.qa).get(detail_url(world.batch))
    [action] = [e for e in page.context["exceptions"] if e["kind_value"] == "action_limit"]
    assert action["deviation"] and action["deviation_url"].startswith("/deviations/")
    assert [d["number"] for d in page.context["deviations"]] == [action["deviation"]]
    assert f'href="{action["deviation_url"]}"' in page.content.decode()


@pytest.mark.req("EBR-VIEW-002:links")
def test_the_overview_links_the_terminal_the_chain_and_the_remanufacture(world):
    with audit.acting_as(world.supervisor):
        cancel_batch(actor=world.supervisor, batch=world.batch, reason="Bag leaked at receipt")
        again = open_batch(actor=world.supervisor, patient=world.patient,
                           origin=Batch.Origin.REMANUFACTURE, previous=world.batch,
                           reason="Bag leaked; second collection")
    first = ui_client(world.qa).get(detail_url(world.batch)).content.decode()
    assert f'href="/batchrecords/batches/{world.batch.pk}/terminal/"' in first
    assert f'href="/custody/patients/{world.patient.pk}/"' in first
    assert f'href="/batchrecords/batches/{again.pk}/"' in first
    assert "Bag leaked; second collection" in first
    second = ui_client(world.qa).get(detail_url(again)).content.decode()
    assert f'id="previous-batch" href="/batchrecords/batches/{world.batch.pk}/"' in second
    assert "Remanufacture after a failure" in second


@pytest.mark.req("EBR-VIEW-003:poll", "EBR-VIEW-003:idle")
def test_the_overview_refreshes_in_the_background_without_extending_the_session(world):
    client = ui_client(world.qa)
    page = client.get(detail_url(world.batch))
    html = page.content.decode()
    assert f'hx-get="{live_url(world.batch)}"' in html
    assert f'"{settings.BACKGROUND_REQUEST_HEADER}": "1"' in html
    assert 'hx-trigger="every 20s"' in html

    perform(world, "R01")  # meanwhile at the suite
    session = client.session
    session[LAST_ACTIVITY] = session[LAST_ACTIVITY] - 300
    session.save()
    before = client.session[LAST_ACTIVITY]
    live = client.get(live_url(world.batch), headers={settings.BACKGROUND_REQUEST_HEADER: "1",
                                                      "HX-Request": "true"})
    assert live.status_code == 200
    assert "<html" not in live.content.decode()
    assert next(s for s in live.context["steps"] if s["code"] == "R01")["status_value"] == "done"
    assert client.session[LAST_ACTIVITY] == before  # the poll was not activity


def _overview_queries(client, batch) -> tuple[int, int]:
    counts = []
    for url in (detail_url(batch), live_url(batch)):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        counts.append(len(captured.captured_queries))
    return tuple(counts)


@pytest.mark.req("EBR-VIEW-004")
def test_the_overview_runs_the_same_queries_for_5_and_for_45_steps(world):
    perform(world, "R01")
    perform(world, "S01", values={"vcc": "3.5", "volume": "100"})  # a deviation raised
    s01 = run(world, "S01")
    correct_value(actor=world.operator, password=world.password, run=s01,
                  revision=s01.revision, terminal=world.terminal, field_key="volume",
                  value="98", reason="Read the wrong graduation")
    perform(world, "S01", values={}, lots=[], equipment_scan="")  # signed again
    client = ui_client(world.qa)
    client.get(detail_url(world.batch))  # the session's own first-request bookkeeping
    small = _overview_queries(client, world.batch)

    big = big_batch(world, steps=45)
    assert big.steps.count() == 45
    assert _overview_queries(client, big) == small


@pytest.mark.req("EBR-VIEW-002:header")
def test_a_stopped_batch_shows_the_stop_first(world):
    stop_batch(world.batch, world)
    html = ui_client(world.qa).get(detail_url(world.batch)).content.decode()
    assert 'id="batch-stop"' in html
    assert html.index('id="batch-stop"') < html.index('id="batch-exceptions"')


@pytest.mark.req("EBR-VIEW-002:resign")
def test_a_step_corrected_after_signing_shows_as_to_be_signed_again(world):
    _made_with_departures(world)
    page = ui_client(world.qa).get(detail_url(world.batch))

    statuses = {s["code"]: s["status"] for s in page.context["steps"]}
    assert statuses["S01"] == "To be signed again"
    assert statuses["T01"] == "Not started"


@pytest.mark.req("EBR-VIEW-002:values")
def test_a_moment_entered_at_a_step_reads_in_the_sites_zone(world):
    from tests.batchrecords.execution_kit import up_to

    up_to(world, "T03")
    perform(world, "T03")
    page = ui_client(world.qa).get(detail_url(world.batch))

    t03 = next(s for s in page.context["steps"] if s["code"] == "T03")
    added = next(v["text"] for v in t03["values"] if v["label"] == "Added at")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d (CET|CEST)", added), added


@pytest.mark.req("EBR-VIEW-002:exception-units")
def test_an_exceptions_value_carries_the_unit_of_its_field(world):
    _made_with_departures(world)
    page = ui_client(world.qa).get(detail_url(world.batch))

    values = {(e["kind_value"], e["field"]): e["value"] for e in page.context["exceptions"]}
    assert values[("alert_limit", "vcc")] == "2.5 10^6/mL"
    assert values[("correction", "volume")] == "98 mL"


@pytest.mark.req("EBR-VIEW-003:unchanged")
def test_a_poll_that_finds_nothing_changed_swaps_nothing(world):
    client = ui_client(world.qa)
    background = {settings.BACKGROUND_REQUEST_HEADER: "1", "HX-Request": "true"}
    page = client.get(detail_url(world.batch)).content.decode()
    assert "batchrecords/overview.js" in page

    first = client.get(live_url(world.batch), headers=background)
    digest = first["X-Overview-Digest"]
    same = client.get(live_url(world.batch),
                      headers={**background, "X-Overview-Digest": digest})
    perform(world, "R01")  # meanwhile at the suite
    changed = client.get(live_url(world.batch),
                         headers={**background, "X-Overview-Digest": digest})

    assert first.status_code == 200 and len(digest) == 32
    assert f'data-digest="{digest}"' in page  # the page's own copy: its first poll swaps nothing
    assert same.status_code == 204 and same.content == b""
    assert changed.status_code == 200 and changed["X-Overview-Digest"] != digest
