"""Three safety rules, each refused through every path that reaches it (service, page, API),
each refusal asserting its code and that nothing changed: consumption past expiry, release by
the person who received the lot, receipt of a lot already past its expiry."""

import datetime as dt
from decimal import Decimal

import pytest
from axes.models import AccessAttempt
from django.urls import reverse
from django.utils import timezone

from mes.errors import DomainError
from mes.models import ElectronicSignature, Meaning
from reagents.models import LotStatus, LotStatusChange, ReagentLot, StockEntry
from reagents.services import consume_lot, receive_lot, release_lot
from tests.permission_matrix import api_client
from tests.reagents.factories import VECTOR_GTIN
from tests.reagents.factories import lot as make_lot

YESTERDAY = dt.date.today() - dt.timedelta(days=1)


def state(lot):
    """Everything a refused action must leave as it was."""
    lot = ReagentLot.objects.get(pk=lot.pk)
    return (lot.status, lot.quantity_on_hand, lot.coa_reference, lot.history.count(),
            StockEntry.objects.count(), LotStatusChange.objects.count(),
            ElectronicSignature.objects.count())


def receipts():
    return (ReagentLot.objects.count(), StockEntry.objects.count(),
            LotStatusChange.objects.count(), ReagentLot.history.model.objects.count())


# --- consumption past expiry ---------------------------------------------------------------
@pytest.fixture
def past_expiry(site, vector):
    """A lot still marked released (the nightly job has not run) but past its expiry date."""
    return make_lot(site=site, material_=vector, quantity="5", expiry=YESTERDAY - dt.timedelta(
        days=1), received_at=timezone.now() - dt.timedelta(days=30))


@pytest.mark.req("RGT-USE-001:expired")
def test_the_service_refuses_to_consume_a_released_lot_past_its_expiry(operator, past_expiry):
    assert past_expiry.status == LotStatus.RELEASED
    before = state(past_expiry)
    with pytest.raises(DomainError) as refused:
        consume_lot(user=operator, lot=past_expiry, quantity="1", material=past_expiry.material,
                    purpose=None, batch_number="B-1", patient_coi="G123426000001")
    assert refused.value.code == "lot_expired"
    assert state(past_expiry) == before


@pytest.mark.req("RGT-USE-001:expired", "RGT-API-001:consume")
def test_the_api_refuses_to_consume_a_released_lot_past_its_expiry(operator, past_expiry):
    before = state(past_expiry)
    answer = api_client(operator).post(
        f"/api/v1/reagents/lots/{past_expiry.pk}/consume/",
        {"quantity": "1", "material": past_expiry.material.code, "batch_number": "B-1"},
        format="json")
    assert answer.status_code == 409
    assert answer.json()["code"] == "lot_expired"
    assert state(past_expiry) == before


# --- release by the receiver ---------------------------------------------------------------
@pytest.fixture
def received_by_qa(site, vector, qa_user):
    return make_lot(site=site, material_=vector, status=LotStatus.QUARANTINE,
                    received_by=qa_user)


@pytest.mark.req("RGT-QA-001:independence")
@pytest.mark.parametrize("password_given", ["right", "wrong"])
def test_the_service_refuses_release_by_the_receiver_before_the_password(
        qa_user, password, received_by_qa, password_given):
    before = state(received_by_qa)
    with pytest.raises(DomainError) as refused:
        release_lot(user=qa_user, lot=received_by_qa, coa_reference="COA-1",
                    password=password if password_given == "right" else "wrong")
    assert refused.value.code == "receiver_cannot_release"
    assert refused.value.status == 403
    assert state(received_by_qa) == before
    assert not AccessAttempt.objects.exists()  # the password was never tried


@pytest.mark.req("RGT-QA-001:independence")
def test_the_record_itself_refuses_the_receivers_release_signature(qa_user, received_by_qa):
    # the last line of defence, should a service forget: the status change's signer check
    change = LotStatusChange(site=received_by_qa.site, lot=received_by_qa,
                             from_status=LotStatus.QUARANTINE, to_status=LotStatus.RELEASED,
                             reason="r", decided_by=qa_user)
    with pytest.raises(DomainError) as refused:
        change.check_signer(qa_user, Meaning.RELEASED)
    assert refused.value.code == "receiver_cannot_release"


@pytest.mark.req("RGT-QA-001:independence", "RGT-UI-001:qa-flows")
@pytest.mark.parametrize("htmx", [True, False])
def test_the_page_says_why_the_receiver_cannot_release_instead_of_asking_the_password(
        client, qa_user, password, received_by_qa, htmx):
    before = state(received_by_qa)
    client.force_login(qa_user)
    url = reverse("reagents:lot-decide", args=[received_by_qa.pk, "release"])
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    opened = client.post(url, {"coa_reference": "COA-1"}, **headers)
    html = opened.content.decode()
    assert opened.status_code == 403
    assert "received lot" in html and "cannot also release it" in html
    assert 'type="password"' not in html
    signed = client.post(url, {"coa_reference": "COA-1", "password": password}, **headers)
    assert signed.status_code == 403 and "cannot also release it" in signed.content.decode()
    assert state(received_by_qa) == before


@pytest.mark.req("RGT-QA-001:independence", "RGT-API-001:decide")
def test_the_api_refuses_release_by_the_receiver(qa_user, password, received_by_qa):
    before = state(received_by_qa)
    answer = api_client(qa_user).post(f"/api/v1/reagents/lots/{received_by_qa.pk}/release/",
                                      {"password": password, "coa_reference": "COA-1"},
                                      format="json")
    assert answer.status_code == 403
    assert answer.json()["code"] == "receiver_cannot_release"
    assert state(received_by_qa) == before


@pytest.mark.req("RGT-QA-001:release", "RGT-API-001:decide")
def test_another_qa_reviewer_releases_through_the_api_signed(qa_user, qa2, password,
                                                             received_by_qa):
    answer = api_client(qa2).post(f"/api/v1/reagents/lots/{received_by_qa.pk}/release/",
                                  {"password": password, "coa_reference": "COA-9"},
                                  format="json")
    assert answer.status_code == 200, answer.json()
    assert (answer.json()["status"], answer.json()["coa_reference"]) == ("released", "COA-9")
    signature = ElectronicSignature.objects.get()
    assert (signature.signer, signature.meaning) == (qa2, Meaning.RELEASED)


@pytest.mark.req("RGT-API-001:decide")
def test_holding_and_rejecting_through_the_api_need_a_reason_and_the_password(
        site, vector, operator, qa_user, password):
    lot = make_lot(site=site, material_=vector, received_by=operator)
    api = api_client(qa_user)
    before = state(lot)
    no_reason = api.post(f"/api/v1/reagents/lots/{lot.pk}/hold/", {"password": password},
                         format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["fields"]
    wrong = api.post(f"/api/v1/reagents/lots/{lot.pk}/hold/",
                     {"password": "wrong", "reason": "Recall"}, format="json")
    assert wrong.status_code == 403 and wrong.json()["code"] == "wrong_password"
    assert state(lot) == before
    held = api.post(f"/api/v1/reagents/lots/{lot.pk}/hold/",
                    {"password": password, "reason": "Recall R-1"}, format="json")
    assert held.status_code == 200 and held.json()["status"] == "on_hold"
    rejected = api.post(f"/api/v1/reagents/lots/{lot.pk}/reject/",
                        {"password": password, "reason": "Recall confirmed"}, format="json")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert api_client(operator).post(f"/api/v1/reagents/lots/{lot.pk}/reject/",
                                     {"password": password, "reason": "x"},
                                     format="json").status_code == 403


# --- receipt of a lot already past its expiry ----------------------------------------------
EXPIRED_SCAN = f"]d201{VECTOR_GTIN}17{YESTERDAY:%y%m%d}10OLD-1"
NO_EXPIRY_SCAN = f"(01){VECTOR_GTIN}(10)OLD-2"


@pytest.mark.req("RGT-RCV-003:expired")
@pytest.mark.parametrize("scan, expiry_date", [(EXPIRED_SCAN, None),
                                               (NO_EXPIRY_SCAN, YESTERDAY)])
def test_the_service_refuses_to_receive_a_lot_past_its_expiry(operator, site, vector, scan,
                                                              expiry_date):
    with pytest.raises(DomainError) as refused:
        receive_lot(user=operator, site=site, scan=scan, quantity=1, storage_location="F1",
                    expiry_date=expiry_date)
    assert refused.value.code == "lot_expired"
    assert receipts() == (0, 0, 0, 0)


@pytest.mark.req("RGT-RCV-003:expired", "RGT-UI-001:receiving")
@pytest.mark.parametrize("scan, expiry_date", [(EXPIRED_SCAN, ""),
                                               (NO_EXPIRY_SCAN, f"{YESTERDAY:%Y-%m-%d}")])
def test_the_receiving_page_refuses_a_lot_past_its_expiry(client, operator, site, vector,
                                                          scan, expiry_date):
    client.force_login(operator)
    page = client.post(reverse("reagents:receive"), {
        "site": site.pk, "scan": scan, "quantity": "1", "storage_location": "F1",
        "expiry_date": expiry_date})
    assert page.status_code == 400
    assert f"expired on {YESTERDAY:%Y-%m-%d}" in page.content.decode()
    assert receipts() == (0, 0, 0, 0)


@pytest.mark.req("RGT-RCV-003:expired", "RGT-API-001:receive")
@pytest.mark.parametrize("scan, expiry_date", [(EXPIRED_SCAN, None),
                                               (NO_EXPIRY_SCAN, f"{YESTERDAY:%Y-%m-%d}")])
def test_the_api_refuses_to_receive_a_lot_past_its_expiry(operator, site, vector, scan,
                                                          expiry_date):
    answer = api_client(operator).post("/api/v1/reagents/lots/receive/", {
        "site": site.code, "scan": scan, "quantity": "1", "storage_location": "F1",
        "expiry_date": expiry_date}, format="json")
    assert answer.status_code == 400
    assert answer.json()["code"] == "lot_expired"
    assert receipts() == (0, 0, 0, 0)


@pytest.mark.req("RGT-RCV-003:expired")
def test_a_lot_expiring_today_is_still_received(operator, site, vector):
    today = timezone.localtime(timezone.now(), site.zone).date()
    lot = receive_lot(user=operator, site=site, scan=f"(01){VECTOR_GTIN}(17){today:%y%m%d}"
                      "(10)LAST-DAY", quantity=1, storage_location="F1")
    assert lot.expiry_date == today and lot.quantity_on_hand == Decimal("1")


@pytest.mark.req("RGT-QA-001:independence", "RGT-UI-001:qa-flows")
def test_the_lot_page_says_why_the_receiver_cannot_release_instead_of_the_form(
        client, qa_user, qa2, received_by_qa):
    url = reverse("reagents:lot-detail", args=[received_by_qa.pk])
    client.force_login(qa_user)
    html = client.get(url).content.decode()
    assert 'id="release-refusal"' in html and "cannot also release it" in html
    assert 'id="release-form"' not in html and 'id="reject-form"' in html
    client.force_login(qa2)
    html = client.get(url).content.decode()
    assert 'id="release-form"' in html and 'id="release-refusal"' not in html
