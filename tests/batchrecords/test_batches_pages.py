"""The lifecycle pages of a batch (cancel, open by hand, open a later batch) and the batches
on the patient's chain: who may, what they see first, POST-redirect-GET, errors at the
field, and a patient page whose queries do not grow with the patient's batches."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batchrecords.models import Batch
from batchrecords.services.batches import open_batch
from custody.models import CustodyEvent
from mes import audit
from tests.batchrecords.test_batches import new_patient, set_status
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    NO_PERMISSION,
    OTHER_SITE,
    UI,
    assert_permission_matrix,
    expect,
    ui_client,
)


@pytest.fixture
def far_supervisor(other_site, roles):
    return person("Supervisor", sites=[other_site], username="super-far")


def state(batch):
    return lambda: (Batch.objects.count(), Batch.objects.get(pk=batch.pk).status,
                    Batch.objects.get(pk=batch.pk).history.count())


# --- Cancel ---------------------------------------------------------------------------------
@pytest.mark.req("EBR-LIFE-003:cancel", "EBR-LIFE-003:access")
def test_cancel_page_is_for_the_batch_site_and_the_permission(world, far_supervisor):
    url = reverse("batchrecords:batch-cancel", args=[world.batch.pk])
    people = {NO_PERMISSION: world.operator, OTHER_SITE: far_supervisor,
              ALLOWED: world.supervisor}
    assert_permission_matrix(ui_client, url, people, UI)
    refused_rows = {row: want for row, want in UI.items() if row != ALLOWED}
    assert_permission_matrix(ui_client, url, people, refused_rows, method="post",
                             data={"reason": "Patient withdrawn"}, state=state(world.batch))
    assert Batch.objects.get(pk=world.batch.pk).status == "planned"
    assert_permission_matrix(ui_client, url, people,
                             {ALLOWED: expect(302, redirect_to=url.split("cancel")[0])},
                             method="post", data={"reason": "Patient withdrawn"})
    assert Batch.objects.get(pk=world.batch.pk).status == "cancelled"


@pytest.mark.req("EBR-LIFE-003:cancel")
def test_cancelling_from_the_page_needs_a_reason_then_redirects_to_the_batch(world):
    client = ui_client(world.supervisor)
    url = reverse("batchrecords:batch-cancel", args=[world.batch.pk])
    page = client.get(url).content.decode()
    assert 'id="lifecycle-form"' in page and "Cancel the batch" in page
    before = state(world.batch)()
    refused = client.post(url, {"reason": "  "})
    html = refused.content.decode()
    assert refused.status_code == 400
    assert 'id="error-summary"' in html and 'href="#id_reason"' in html
    assert state(world.batch)() == before
    done = client.post(url, {"reason": "Patient withdrawn from the study"})
    assert done.status_code == 302
    assert done["Location"] == reverse("batchrecords:batch-detail", args=[world.batch.pk])
    batch = Batch.objects.get(pk=world.batch.pk)
    assert (batch.status, batch.status_reason) == ("cancelled", "Patient withdrawn from the study")
    # a finished batch: the page says why instead of offering the form
    again = client.get(url).content.decode()
    assert 'id="blocked"' in again and 'id="lifecycle-form"' not in again
    assert client.post(url, {"reason": "Again"}).status_code == 200
    assert Batch.objects.get(pk=world.batch.pk).history.count() == batch.history.count()


# --- A later batch ----------------------------------------------------------------------------
@pytest.mark.req("EBR-LIFE-003:follow-up")
def test_a_later_batch_is_offered_only_after_a_finished_one(world):
    client = ui_client(world.supervisor)
    url = reverse("batchrecords:batch-follow-up", args=[world.batch.pk])
    page = client.get(url).content.decode()
    assert 'id="blocked"' in page and "released, rejected or cancelled" in page
    client.post(url, {"origin": "remanufacture", "reason": "Failed"})
    assert Batch.objects.count() == 1
    set_status(world.batch, "rejected")
    assert 'id="lifecycle-form"' in client.get(url).content.decode()
    bad = client.post(url, {"origin": "first", "reason": ""})
    html = bad.content.decode()
    assert bad.status_code == 400 and 'href="#id_reason"' in html and "id_origin" in html
    assert Batch.objects.count() == 1
    done = client.post(url, {"origin": "remanufacture",
                             "reason": "Viability 55 % at harvest (DEV-7)"})
    later = Batch.objects.exclude(pk=world.batch.pk).get()
    assert done.status_code == 302
    assert done["Location"] == reverse("batchrecords:batch-detail", args=[later.pk])
    assert (later.origin, later.previous_id, later.origin_reason, later.opened_by) == (
        "remanufacture", world.batch.pk, "Viability 55 % at harvest (DEV-7)", world.supervisor)
    # the earlier batch is no longer the latest: nothing more follows it
    assert "latest batch" in client.get(url).content.decode()


@pytest.mark.req("EBR-LIFE-003:access")
def test_the_later_batch_page_needs_the_permission_and_the_site(world, far_supervisor):
    set_status(world.batch, "rejected")
    url = reverse("batchrecords:batch-follow-up", args=[world.batch.pk])
    assert_permission_matrix(
        ui_client, url, {NO_PERMISSION: world.operator, OTHER_SITE: far_supervisor,
                         ALLOWED: world.qa}, UI)


# --- Opening by hand ------------------------------------------------------------------------
@pytest.mark.req("EBR-LIFE-003:open")
def test_a_patient_without_a_batch_is_opened_by_hand(world):
    patient = new_patient(world)
    client = ui_client(world.supervisor)
    url = reverse("batchrecords:patient-open-batch", args=[patient.pk])
    page = client.get(url).content.decode()
    assert 'id="effect"' in page and "v1" in page
    refused = client.post(url, {"reason": "The signal did not fire"})
    assert refused.status_code == 409 and "has not been received" in refused.content.decode()
    assert not Batch.objects.filter(patient=patient).exists()
    with audit.acting_as(world.operator):
        CustodyEvent.objects.create(patient=patient, site=world.site, kind="received",
                                    performed_by=world.operator, container_id="BAG-1",
                                    label_scan=patient.isbt.barcode_data)
    assert client.post(url, {"reason": ""}).status_code == 400
    done = client.post(url, {"reason": "The master record was approved after receipt"})
    batch = Batch.objects.get(patient=patient)
    assert done.status_code == 302
    assert done["Location"] == reverse("batchrecords:batch-detail", args=[batch.pk])
    assert batch.origin_reason == "The master record was approved after receipt"
    assert 'id="blocked"' in client.get(url).content.decode()


@pytest.mark.req("EBR-LIFE-003:access")
def test_the_open_page_needs_the_permission_and_the_site(world, far_supervisor):
    patient = new_patient(world)
    assert_permission_matrix(
        ui_client, reverse("batchrecords:patient-open-batch", args=[patient.pk]),
        {NO_PERMISSION: world.operator, OTHER_SITE: far_supervisor, ALLOWED: world.supervisor},
        UI)


# --- The patient's chain ----------------------------------------------------------------------
def remanufactured(world, times: int) -> list[Batch]:
    """The patient's batch cancelled and made again ``times`` times."""
    batches = [world.batch]
    for n in range(times):
        set_status(batches[-1], "cancelled")
        batches.append(open_batch(actor=world.supervisor, patient=world.patient,
                                  origin="remanufacture", previous=batches[-1],
                                  reason=f"Remanufacture {n + 1}: expansion failed"))
    return batches


@pytest.mark.req("EBR-LIFE-004:shown")
def test_the_patients_page_and_report_show_every_batch_linked_to_the_earlier(world):
    first, second = remanufactured(world, 1)
    client = ui_client(world.supervisor)
    for name in ("custody:patient-detail", "custody:chain-report"):
        html = client.get(reverse(name, args=[world.patient.pk])).content.decode()
        assert 'id="patient-batches"' in html
        assert first.number in html and second.number in html
        assert "Remanufacture after a failure" in html
        assert "Remanufacture 1: expansion failed" in html
    page = client.get(reverse("custody:patient-detail", args=[world.patient.pk])).content
    assert reverse("batchrecords:batch-detail", args=[second.pk]) in page.decode()
    assert reverse("batchrecords:batch-cancel", args=[second.pk]) in page.decode()


@pytest.mark.req("EBR-LIFE-004:shown")
def test_the_patient_page_offers_to_open_a_batch_when_there_is_none(world):
    patient = new_patient(world)
    html = ui_client(world.supervisor).get(
        reverse("custody:patient-detail", args=[patient.pk])).content.decode()
    assert reverse("batchrecords:patient-open-batch", args=[patient.pk]) in html
    operator = ui_client(world.operator).get(
        reverse("custody:patient-detail", args=[patient.pk])).content.decode()
    assert 'id="patient-batches"' in operator and 'id="open-batch"' not in operator


@pytest.mark.req("EBR-LIFE-004:budget")
def test_the_patient_page_keeps_its_queries_as_batches_are_added(world):
    client = ui_client(world.supervisor)
    url = reverse("custody:patient-detail", args=[world.patient.pk])
    client.get(url)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured.captured_queries)

    one = queries()
    remanufactured(world, 3)
    assert queries() == one


@pytest.mark.req("EBR-LIFE-003:cancel", "EBR-LIFE-003:follow-up")
def test_the_overviews_lifecycle_actions_follow_the_status_and_the_rights(world):
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    def actions(user, batch) -> str:
        request = RequestFactory().get("/")
        request.user = user
        return render_to_string("batchrecords/_lifecycle_actions.html", {"batch": batch},
                                request=request)

    cancel = reverse("batchrecords:batch-cancel", args=[world.batch.pk])
    follow = reverse("batchrecords:batch-follow-up", args=[world.batch.pk])
    html = actions(world.supervisor, world.batch)
    assert cancel in html and follow not in html
    assert cancel not in actions(world.operator, world.batch)
    rejected = set_status(world.batch, "rejected")
    html = actions(world.qa, rejected)
    assert follow in html and cancel not in html


@pytest.mark.req("EBR-LIFE-003:overview")
def test_the_overview_offers_the_lifecycle_actions_to_those_who_may(client, world):
    overview = reverse("batchrecords:batch-detail", args=[world.batch.pk])
    cancel = reverse("batchrecords:batch-cancel", args=[world.batch.pk])
    follow_up = reverse("batchrecords:batch-follow-up", args=[world.batch.pk])
    client.force_login(world.supervisor)
    page = client.get(overview).content.decode()
    assert cancel in page and follow_up not in page
    client.force_login(world.operator)
    assert cancel not in client.get(overview).content.decode()
    set_status(world.batch, "rejected")
    client.force_login(world.supervisor)
    page = client.get(overview).content.decode()
    assert follow_up in page and cancel not in page
