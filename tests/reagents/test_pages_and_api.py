"""Pages and API: scoping, permissions, filters, receiving by scan, idempotency, budgets."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from reagents.models import LotStatus, ReagentLot, StockEntry
from reagents.services import consume_lot
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    API,
    NO_PERMISSION,
    OTHER_SITE,
    UI,
    api_client,
    assert_permission_matrix,
    ui_client,
)
from tests.reagents.factories import VECTOR_GTIN
from tests.reagents.factories import lot as make_lot

EXPIRY = dt.date.today() + dt.timedelta(days=300)
SCAN = f"]d201{VECTOR_GTIN}17{EXPIRY:%y%m%d}10VV77\x1d21S9"


@pytest.fixture
def far_operator(other_site, roles):
    return person("Operator", sites=[other_site], username="far1", full_name="Far Operator")


@pytest.fixture
def planner_without_ledger(site, roles):
    return person("Trainer", sites=[site], username="tr1", full_name="Tina Trainer")


@pytest.mark.req("RGT-UI-001:scoped")
@pytest.mark.parametrize("name", ["reagents:lot-detail", "reagents:lot-genealogy",
                                  "reagents:lot-recall-csv"])
def test_lot_pages_follow_the_permission_matrix(db, site, vector, operator, far_operator,
                                                planner_without_ledger, name):
    lot = make_lot(site=site, material_=vector)
    assert_permission_matrix(ui_client, reverse(name, args=[lot.pk]), {
        NO_PERMISSION: planner_without_ledger, OTHER_SITE: far_operator, ALLOWED: operator,
    }, UI)


@pytest.mark.req("RGT-API-001:scoped")
@pytest.mark.parametrize("name", ["api-reagents-lot-detail", "api-reagents-lot-genealogy"])
def test_lot_endpoints_follow_the_permission_matrix(db, site, vector, operator, far_operator,
                                                    planner_without_ledger, name):
    lot = make_lot(site=site, material_=vector)
    assert_permission_matrix(api_client, reverse(name, args=[lot.pk]), {
        NO_PERMISSION: planner_without_ledger, OTHER_SITE: far_operator, ALLOWED: operator,
    }, API, error_body=True)


@pytest.mark.req("RGT-UI-001:lot-list")
def test_the_lot_list_filters_by_status_material_and_expiring_soon(client, site, vector,
                                                                   medium, operator):
    make_lot(site=site, material_=vector, supplier_lot="REL1")
    make_lot(site=site, material_=vector, supplier_lot="QUAR1", status=LotStatus.QUARANTINE)
    make_lot(site=site, material_=medium, supplier_lot="SOON1",
             expiry=dt.date.today() + dt.timedelta(days=3))
    client.force_login(operator)
    url = reverse("reagents:lot-list")

    def lots(**params):
        html = client.get(url, params).content.decode()
        return {name for name in ("REL1", "QUAR1", "SOON1") if name in html}

    assert lots() == {"REL1", "QUAR1", "SOON1"}
    assert lots(status="quarantine") == {"QUAR1"}
    assert lots(material="MED-TEX") == {"SOON1"}
    assert lots(expiring=7) == {"SOON1"}


@pytest.mark.req("RGT-UI-001:lot-list")
def test_the_lot_list_has_a_query_budget(client, site, vector, operator,
                                         django_assert_max_num_queries):
    for n in range(30):
        make_lot(site=site, material_=vector, supplier_lot=f"N{n}")
    client.force_login(operator)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("reagents:lot-list")).status_code == 200


@pytest.mark.req("RGT-UI-001:lot-page")
def test_the_lot_page_has_a_query_budget(client, site, vector, operator, qa_user,
                                         django_assert_max_num_queries):
    lot = make_lot(site=site, material_=vector, quantity="100")
    for n in range(40):
        consume_lot(user=operator, lot=lot, quantity="1", material=vector, purpose=site,
                    batch_number=f"B{n}", patient_coi="G123426000001")
    client.force_login(qa_user)
    with django_assert_max_num_queries(25):
        response = client.get(reverse("reagents:lot-detail", args=[lot.pk]))
    assert response.status_code == 200 and "B39" in response.content.decode()


@pytest.mark.req("RGT-UI-001:receiving", "RGT-RCV-001:quarantine-receipt")
def test_the_receiving_page_takes_a_scan_and_opens_the_new_lot(client, site, vector, operator):
    client.force_login(operator)
    page = client.get(reverse("reagents:receive"))
    assert 'autofocus' in page.content.decode()
    response = client.post(reverse("reagents:receive"), {
        "site": site.pk, "scan": SCAN, "quantity": "4", "storage_location": "LN2-1/C"})
    lot = ReagentLot.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("reagents:lot-detail", args=[lot.pk])
    assert (lot.supplier_lot, lot.serial_number, lot.status) == ("VV77", "S9",
                                                                LotStatus.QUARANTINE)


@pytest.mark.req("RGT-UI-001:receiving", "RGT-RCV-002:bad-label")
def test_a_bad_scan_on_the_receiving_page_is_a_400_with_the_message(client, site, vector,
                                                                    operator):
    client.force_login(operator)
    response = client.post(reverse("reagents:receive"), {
        "site": site.pk, "scan": f"(01){VECTOR_GTIN}(17){EXPIRY:%y%m%d}", "quantity": "4",
        "storage_location": "LN2-1/C"})
    assert response.status_code == 400
    assert "no lot number (10)" in response.content.decode()
    assert not ReagentLot.objects.exists()


@pytest.mark.req("RGT-UI-001:inventory")
def test_inventory_shows_released_usable_quantity_per_material(client, site, vector, medium,
                                                               operator):
    make_lot(site=site, material_=vector, quantity="3")
    make_lot(site=site, material_=vector, quantity="4.5")
    make_lot(site=site, material_=vector, quantity="100", status=LotStatus.QUARANTINE)
    make_lot(site=site, material_=vector, quantity="50",
             expiry=dt.date.today() - dt.timedelta(days=2))  # released but past expiry
    from reagents.selectors import inventory

    rows = {row.material.code: row for row in inventory(operator)}
    assert rows["LV-CD19"].usable == Decimal("7.5") and rows["LV-CD19"].usable_lots == 2
    assert rows["LV-CD19"].quarantine == Decimal("100")
    assert rows["MED-TEX"].usable == Decimal("0")
    client.force_login(operator)
    assert "7.5 mL" in client.get(reverse("reagents:inventory")).content.decode()


@pytest.mark.req("RGT-UI-001:lot-page", "RGT-LED-001:reversal")
def test_reversing_from_the_lot_page(client, site, vector, operator, supervisor):
    lot = make_lot(site=site, material_=vector)
    entry = consume_lot(user=operator, lot=lot, quantity="1", material=vector, purpose=site,
                        batch_number="B1", patient_coi="")
    client.force_login(supervisor)
    client.post(reverse("reagents:entry-reverse", args=[entry.pk]), {"reason": "Wrong lot"})
    assert StockEntry.objects.filter(reverses=entry).exists()
    client.force_login(operator)
    assert client.post(reverse("reagents:entry-reverse", args=[entry.pk]),
                       {"reason": "x"}).status_code == 403


@pytest.mark.req("RGT-API-001:receive", "RGT-API-001:errors", "RGT-RCV-001:quarantine-receipt")
def test_receiving_through_the_api_is_idempotent(db, site, vector, operator):
    api = api_client(operator)
    body = {"site": site.code, "scan": SCAN, "quantity": "4", "storage_location": "LN2"}
    first = api.post("/api/v1/reagents/lots/receive/", body, format="json",
                     HTTP_IDEMPOTENCY_KEY="rcv-1")
    again = api.post("/api/v1/reagents/lots/receive/", body, format="json",
                     HTTP_IDEMPOTENCY_KEY="rcv-1")
    assert first.status_code == 201 and again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert first.json()["supplier_lot"] == "VV77" and ReagentLot.objects.count() == 1
    bad = api.post("/api/v1/reagents/lots/receive/", {**body, "scan": "(01)123"},
                   format="json")
    assert bad.status_code == 400 and set(bad.json()) == {"code", "message", "fields"}
    assert ReagentLot.objects.count() == 1


@pytest.mark.req("RGT-API-001:errors")
@pytest.mark.parametrize("days", ["99999999999", "9" * 5000, "-1", "3651", "abc", "²"])
def test_a_bad_expiring_within_filter_is_a_400_not_a_500(db, site, vector, operator, days):
    make_lot(site=site, material_=vector)
    answer = api_client(operator).get("/api/v1/reagents/lots/", {"expiring_within": days})
    assert answer.status_code == 400
    assert answer.json()["fields"] == {"expiring_within": ["A whole number from 0 to 3650."]}


@pytest.mark.req("RGT-API-001:errors", "RGT-RCV-002:bad-label")
def test_a_lone_symbology_bracket_is_a_clear_400_and_writes_nothing(client, site, vector,
                                                                    operator):
    body = {"site": site.code, "scan": "]", "quantity": "1", "storage_location": "F1"}
    answer = api_client(operator).post("/api/v1/reagents/lots/receive/", body, format="json")
    assert answer.status_code == 400 and answer.json()["code"] == "label_unreadable"
    client.force_login(operator)
    page = client.post(reverse("reagents:receive"), {**body, "site": site.pk})
    assert page.status_code == 400 and "unknown symbology prefix" in page.content.decode()
    assert not ReagentLot.objects.exists() and not StockEntry.objects.exists()


@pytest.mark.req(
    "RGT-API-001:consume",
    "RGT-USE-001:wrong-material",
    "RGT-USE-001:insufficient",
    "RGT-USE-002:record",
)
def test_consuming_through_the_api(db, site, vector, medium, operator):
    lot = make_lot(site=site, material_=vector, quantity="2")
    api = api_client(operator)
    url = f"/api/v1/reagents/lots/{lot.pk}/consume/"
    body = {"quantity": "1.5", "material": "LV-CD19", "batch_number": "B-9",
            "patient_coi": "G123426000009", "purpose_type": "mes.site", "purpose_id": site.pk}
    done = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="use-1")
    assert done.status_code == 201, done.json()
    assert done.json()["balance_after"] == "0.500"
    replay = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="use-1")
    assert replay.status_code == 201 and StockEntry.objects.filter(kind="consumption").count() == 1
    refused = api.post(url, {**body, "material": "MED-TEX"}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "wrong_material"
    too_much = api.post(url, {**body, "quantity": "1"}, format="json")
    assert too_much.json()["code"] == "insufficient_quantity"
    lot.refresh_from_db()
    assert lot.quantity_on_hand == Decimal("0.5")


@pytest.mark.req("RGT-API-001:read", "RGT-GEN-001:by-batch")
def test_lots_materials_and_genealogy_through_the_api(db, site, vector, medium, operator):
    lot = make_lot(site=site, material_=vector)
    make_lot(site=site, material_=medium, status=LotStatus.QUARANTINE)
    consume_lot(user=operator, lot=lot, quantity="1", material=vector, purpose=site,
                batch_number="B-1", patient_coi="G123426000001")
    api = api_client(operator)
    lots = api.get("/api/v1/reagents/lots/", {"status": "released"}).json()
    assert [row["material"] for row in lots["results"]] == ["LV-CD19"]
    for days, expected in (("7", []), ("200", [lot.pk])):
        soon = api.get("/api/v1/reagents/lots/", {"expiring_within": days}).json()
        assert [row["id"] for row in soon["results"]] == expected
    materials = api.get("/api/v1/reagents/materials/", {"gtin": VECTOR_GTIN}).json()
    assert [m["code"] for m in materials["results"]] == ["LV-CD19"]
    uses = api.get(f"/api/v1/reagents/lots/{lot.pk}/genealogy/").json()
    assert [(u["batch_number"], u["patient_coi"], u["quantity"]) for u in uses] == [
        ("B-1", "G123426000001", "1.000")]
    used = api.get("/api/v1/reagents/genealogy/", {"batch_number": "B-1"}).json()
    assert [u["lot"]["id"] for u in used] == [lot.pk]
    assert api.get("/api/v1/reagents/genealogy/").status_code == 400


@pytest.mark.req("RGT-MAT-001:qa-adds", "RGT-MAT-001:gtins-normalised")
def test_qa_adds_a_material_on_its_page_and_a_bad_gtin_is_a_400(client, qa_user, operator):
    client.force_login(qa_user)
    form = {"code": "IL-7", "name": "Interleukin-7", "unit": "µg", "storage_condition": "-20",
            "gtins": "04012345000030\n4012345000047", "is_critical": "on",
            "requires_qa_release": "on"}
    bad = client.post(reverse("reagents:material-create"), {**form, "gtins": "04012345000031"})
    assert bad.status_code == 400 and "check digit" in bad.content.decode()
    done = client.post(reverse("reagents:material-create"), form)
    assert done.status_code == 302
    listing = client.get(reverse("reagents:material-list")).content.decode()
    assert "IL-7" in listing and "04012345000047" in listing
    client.force_login(operator)
    assert client.get(reverse("reagents:material-create")).status_code == 403
