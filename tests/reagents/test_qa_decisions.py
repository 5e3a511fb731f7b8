"""QA's signed decisions: release (with CoA), reject, hold, release again."""

import datetime as dt

import pytest
from django.urls import reverse

from mes.errors import DomainError
from mes.models import ElectronicSignature, Meaning
from reagents.models import LotStatus, LotStatusChange, ReagentLot
from reagents.services import hold_lot, reject_lot, release_lot
from tests.reagents.factories import lot as make_lot


def state(lot):
    lot = ReagentLot.objects.get(pk=lot.pk)
    return (lot.status, lot.coa_reference, lot.history.count(),
            LotStatusChange.objects.count(), ElectronicSignature.objects.count())


@pytest.mark.req("RGT-QA-001:release")
def test_qa_releases_a_quarantined_lot_signed_as_released(db, site, operator, qa_user,
                                                          password, vector):
    lot = make_lot(site=site, material_=vector, status=LotStatus.QUARANTINE,
                   received_by=operator)
    change = release_lot(user=qa_user, password=password, lot=lot, coa_reference="COA-77812")
    lot.refresh_from_db()
    assert (lot.status, lot.coa_reference) == (LotStatus.RELEASED, "COA-77812")
    assert (change.from_status, change.to_status, change.decided_by, change.coa_reference) == (
        LotStatus.QUARANTINE, LotStatus.RELEASED, qa_user, "COA-77812")
    signature = ElectronicSignature.objects.get()
    assert (signature.record, signature.meaning, signature.signer) == (
        change, Meaning.RELEASED, qa_user)
    assert lot.history.order_by("-history_id").first().history_user == qa_user


@pytest.mark.req("RGT-QA-001:hold", "RGT-QA-001:release")
def test_hold_and_release_again_are_each_signed(db, site, operator, qa_user, password, vector):
    lot = make_lot(site=site, material_=vector, received_by=operator)
    hold_lot(user=qa_user, password=password, lot=lot, reason="Supplier recall notice R-12")
    lot.refresh_from_db()
    assert lot.status == LotStatus.ON_HOLD
    release_lot(user=qa_user, password=password, lot=lot, coa_reference="COA-1",
                reason="Recall does not cover this lot")
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED
    meanings = list(ElectronicSignature.objects.order_by("pk").values_list("meaning", flat=True))
    assert meanings == [Meaning.APPROVED, Meaning.RELEASED]
    assert [c.to_status for c in lot.status_changes.order_by("pk")][-2:] == [
        LotStatus.ON_HOLD, LotStatus.RELEASED]


@pytest.mark.req("RGT-QA-001:reject")
def test_qa_rejects_with_a_reason_signed_as_rejected(db, site, operator, qa_user, password,
                                                     vector):
    lot = make_lot(site=site, material_=vector, status=LotStatus.QUARANTINE,
                   received_by=operator)
    before = state(lot)
    with pytest.raises(DomainError) as refused:
        reject_lot(user=qa_user, password=password, lot=lot, reason="  ")
    assert refused.value.code == "reason_required"
    assert state(lot) == before
    reject_lot(user=qa_user, password=password, lot=lot, reason="CoA out of specification")
    lot.refresh_from_db()
    assert lot.status == LotStatus.REJECTED
    assert ElectronicSignature.objects.get().meaning == Meaning.REJECTED
    # and a rejected lot is final
    before = state(lot)
    with pytest.raises(DomainError, match="rejected; it cannot become released") as refused:
        release_lot(user=qa_user, password=password, lot=lot, coa_reference="COA-2")
    assert refused.value.code == "lot_transition_refused"
    assert state(lot) == before


@pytest.mark.req("RGT-QA-001:refusal-unchanged", "RGT-QA-001:independence")
def test_refused_decisions_change_nothing(db, site, operator, qa_user, password, vector):
    lot = make_lot(site=site, material_=vector, status=LotStatus.QUARANTINE,
                   received_by=qa_user)
    before = state(lot)
    with pytest.raises(DomainError, match="received lot") as refused:
        release_lot(user=qa_user, password=password, lot=lot, coa_reference="COA-1")
    assert refused.value.code == "receiver_cannot_release"
    assert state(lot) == before
    other = make_lot(site=site, material_=vector, status=LotStatus.QUARANTINE,
                     received_by=operator)
    before = state(other)
    refusals = [
        ("wrong_password", lambda: release_lot(user=qa_user, password="wrong", lot=other,
                                               coa_reference="COA-1")),
        ("coa_required", lambda: release_lot(user=qa_user, password=password, lot=other,
                                             coa_reference=" ")),
        ("permission_denied", lambda: release_lot(user=operator, password=password, lot=other,
                                                  coa_reference="COA-1")),
        ("lot_transition_refused", lambda: hold_lot(user=qa_user, password=password,
                                                    lot=other, reason="Investigation")),
    ]
    for code, decide in refusals:
        with pytest.raises(DomainError) as refused:
            decide()
        assert refused.value.code == code
        assert state(other) == before


@pytest.mark.req("RGT-QA-001:expired-depleted")
def test_an_expired_lot_cannot_be_released(db, site, operator, qa_user, password, vector):
    lot = make_lot(site=site, material_=vector, status=LotStatus.QUARANTINE,
                   received_by=operator, expiry=dt.date.today() - dt.timedelta(days=2))
    before = state(lot)
    with pytest.raises(DomainError, match="cannot be released") as refused:
        release_lot(user=qa_user, password=password, lot=lot, coa_reference="COA-1")
    assert refused.value.code == "lot_expired"
    assert state(lot) == before


@pytest.mark.req("RGT-QA-001:expired-depleted")
def test_a_depleted_lot_cannot_be_released(db, site, operator, qa_user, password, vector):
    # The transition table lets a depleted lot return to released (a reversal restores its
    # stock); QA's release must not use that door.
    lot = make_lot(site=site, material_=vector, status=LotStatus.DEPLETED, quantity="1",
                   received_by=operator)
    before = state(lot)
    with pytest.raises(DomainError, match="depleted; there is nothing to release") as refused:
        release_lot(user=qa_user, password=password, lot=lot, coa_reference="COA-1")
    assert refused.value.code == "lot_transition_refused"
    assert state(lot) == before


@pytest.mark.req("RGT-QA-001:refusal-unchanged")
def test_qa_of_another_site_cannot_decide(db, site, other_site, operator, password, vector):
    from tests.mes.factories import person

    far_qa = person("QA Reviewer", sites=[other_site], username="qa9", full_name="Far QA")
    lot = make_lot(site=site, material_=vector, status=LotStatus.QUARANTINE,
                   received_by=operator)
    before = state(lot)
    with pytest.raises(DomainError) as refused:
        release_lot(user=far_qa, password=password, lot=lot, coa_reference="COA-1")
    assert refused.value.code == "permission_denied"
    assert state(lot) == before


@pytest.mark.req("RGT-QA-001:release", "RGT-UI-001:qa-flows")
def test_the_release_flow_opens_the_sign_dialog_then_signs(client, site, operator, qa_user,
                                                           password, vector):
    lot = make_lot(site=site, material_=vector, status=LotStatus.QUARANTINE,
                   received_by=operator)
    client.force_login(qa_user)
    url = reverse("reagents:lot-decide", args=[lot.pk, "release"])
    form = {"coa_reference": "COA-555", "reason": "CoA reviewed"}
    dialog = client.post(url, form, HTTP_HX_REQUEST="true")
    assert dialog.status_code == 200
    html = dialog.content.decode()
    assert "sign-dialog" in html and "Released" in html and "COA-555" in html
    assert not ElectronicSignature.objects.exists()
    wrong = client.post(url, {**form, "password": "bad"}, HTTP_HX_REQUEST="true")
    assert wrong.status_code == 403 and "not correct" in wrong.content.decode()
    done = client.post(url, {**form, "password": password}, HTTP_HX_REQUEST="true")
    assert done.status_code == 204
    assert done["HX-Redirect"] == reverse("reagents:lot-detail", args=[lot.pk])
    page = client.get(done["HX-Redirect"]).content.decode()
    assert "RELEASED" in page.upper() and "Quentin Quality" in page and "COA-555" in page
    lot.refresh_from_db()
    assert lot.status == LotStatus.RELEASED


@pytest.mark.req("RGT-QA-001:refusal-unchanged", "RGT-UI-001:scoped")
def test_an_operator_cannot_open_the_release_flow(client, site, operator, vector):
    lot = make_lot(site=site, material_=vector, status=LotStatus.QUARANTINE)
    client.force_login(operator)
    url = reverse("reagents:lot-decide", args=[lot.pk, "release"])
    assert client.post(url, {"coa_reference": "X"}).status_code == 403


@pytest.mark.req("RGT-QA-001:hold", "RGT-QA-001:reject", "RGT-UI-001:qa-flows")
def test_hold_and_reject_through_the_pages_without_javascript(client, site, operator, qa_user,
                                                              password, vector):
    lot = make_lot(site=site, material_=vector, received_by=operator)
    client.force_login(qa_user)
    hold = reverse("reagents:lot-decide", args=[lot.pk, "hold"])
    empty = client.post(hold, {"reason": ""})
    assert empty.status_code == 400 and not ElectronicSignature.objects.exists()
    page = client.post(hold, {"reason": "Supplier recall R-7"})
    assert page.status_code == 200 and "Put reagent lot on hold" in page.content.decode()
    done = client.post(hold, {"reason": "Supplier recall R-7", "password": password})
    assert done.status_code == 302
    lot.refresh_from_db()
    assert lot.status == LotStatus.ON_HOLD
    client.post(reverse("reagents:lot-decide", args=[lot.pk, "reject"]),
                {"reason": "Recall confirmed", "password": password})
    lot.refresh_from_db()
    assert lot.status == LotStatus.REJECTED
    assert list(ElectronicSignature.objects.order_by("pk").values_list("meaning", flat=True)) \
        == [Meaning.APPROVED, Meaning.REJECTED]
    assert client.post(reverse("reagents:lot-decide", args=[lot.pk, "destroy"]),
                       {"reason": "x"}).status_code == 404


@pytest.mark.req("RGT-UI-001:qa-flows")
def test_qa_home_shows_lots_awaiting_release_and_expiring(client, site, operator, qa_user,
                                                         vector):
    make_lot(site=site, material_=vector, status=LotStatus.QUARANTINE, supplier_lot="WAIT1")
    make_lot(site=site, material_=vector, supplier_lot="SOON1",
             expiry=dt.date.today() + dt.timedelta(days=4))
    client.force_login(qa_user)
    panel = client.get(reverse("home")).content.decode()
    assert "Reagent lots awaiting QA (1)" in panel and "WAIT1" in panel and "SOON1" in panel
    client.force_login(operator)
    assert "Reagent lots awaiting QA" not in client.get(reverse("home")).content.decode()
