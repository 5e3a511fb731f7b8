"""The receiving page is scan first: scan, see what the label decodes to (or why the lot must
not be received), then give the quantity, then confirm."""

import datetime as dt
import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from reagents.models import LotStatusChange, ReagentLot, StockEntry
from tests.mes.factories import person
from tests.reagents.factories import VECTOR_GTIN
from tests.reagents.factories import lot as make_lot

EXPIRY = dt.date.today() + dt.timedelta(days=300)
SCAN = f"]d201{VECTOR_GTIN}17{EXPIRY:%y%m%d}10VV77\x1d21S9"


def scanned(client, scan, **extra):
    return client.get(reverse("reagents:receive") + "?" + urlencode({"scan": scan, **extra}))


def written():
    return (ReagentLot.objects.count(), StockEntry.objects.count(),
            LotStatusChange.objects.count(), ReagentLot.history.model.objects.count())


def field(html: str, name: str) -> bool:
    return f'name="{name}"' in html


@pytest.mark.req("RGT-UI-002:preview-before-quantity")
def test_the_page_asks_for_the_scan_alone_first(client, operator, site, vector):
    client.force_login(operator)
    html = client.get(reverse("reagents:receive")).content.decode()
    assert field(html, "scan") and "autofocus" in html
    assert not field(html, "quantity") and not field(html, "storage_location")
    assert 'type="hidden" name="site"' in html  # one site: not asked


@pytest.mark.req("RGT-UI-002:preview-before-quantity")
def test_a_scan_shows_what_was_decoded_before_the_quantity_and_stores_nothing(
        client, operator, site, vector):
    client.force_login(operator)
    page = scanned(client, SCAN, site=site.pk)
    html = page.content.decode()
    assert page.status_code == 200
    for shown in (VECTOR_GTIN, "LV-CD19 · Lentiviral vector anti-CD19 CAR", "VV77",
                  f"{EXPIRY:%Y-%m-%d}", "S9", "Decoded from the label"):
        assert shown in html
    assert field(html, "quantity") and field(html, "storage_location")
    assert html.index("Decoded from the label") < html.index('name="quantity"')
    assert not field(html, "expiry_date")  # the label has it
    assert written() == (0, 0, 0, 0)


@pytest.mark.req("RGT-UI-002:preview-before-quantity")
def test_the_decoded_label_is_received_on_confirmation(client, operator, site, vector):
    client.force_login(operator)
    scanned(client, SCAN, site=site.pk)
    done = client.post(reverse("reagents:receive"), {
        "site": site.pk, "scan": SCAN, "quantity": "4", "storage_location": "LN2-1/C"})
    lot = ReagentLot.objects.get()
    assert done.status_code == 302
    assert done["Location"] == reverse("reagents:lot-detail", args=[lot.pk])
    assert (lot.supplier_lot, lot.serial_number, lot.quantity_received) == ("VV77", "S9", 4)


@pytest.mark.req("RGT-UI-002:preview-before-quantity")
def test_a_label_without_expiry_asks_for_it_with_the_quantity(client, operator, site, vector):
    client.force_login(operator)
    html = scanned(client, f"(01){VECTOR_GTIN}(10)NOEXP", site=site.pk).content.decode()
    assert "not on the label" in html and field(html, "expiry_date")


@pytest.mark.req("RGT-UI-002:preview-before-quantity")
def test_someone_at_several_sites_chooses_the_site_with_the_scan(client, site, other_site,
                                                                 roles, vector):
    both = person("Operator", sites=[site, other_site], username="op9", full_name="Two Sites")
    client.force_login(both)
    html = client.get(reverse("reagents:receive")).content.decode()
    assert '<select name="site"' in html
    html = scanned(client, SCAN, site=other_site.pk).content.decode()
    assert f'<input type="hidden" name="site" value="{other_site.pk}"' in html


@pytest.mark.req("RGT-UI-002:refusal-before-quantity")
@pytest.mark.parametrize("case", ["expired", "unknown GTIN", "already received"])
def test_a_refused_scan_is_shown_instead_of_the_preview_with_no_quantity_asked(
        client, operator, site, vector, case):
    if case == "already received":
        make_lot(site=site, material_=vector, supplier_lot="VV77", serial="S9")
    scan, message = {
        "expired": (f"(01){VECTOR_GTIN}(17)200131(10)OLD", "expired on 2020-01-31"),
        "unknown GTIN": (f"(01)04012345000092(17){EXPIRY:%y%m%d}(10)VV1",
                         "No material has the GTIN 04012345000092"),
        "already received": (SCAN, "was already received"),
    }[case]
    before = written()
    client.force_login(operator)
    page = scanned(client, scan, site=site.pk)
    html = page.content.decode()
    assert page.status_code == 400
    assert "Do not receive this lot" in html and message in html
    assert 'id="scan-error"' in html  # at the field too
    assert not field(html, "quantity") and "Decoded from the label" not in html
    assert written() == before


@pytest.mark.req("RGT-UI-002:scan-clears")
def test_after_a_scan_the_scan_field_is_empty_for_the_next_one(client, operator, site, vector):
    client.force_login(operator)
    for scan in (SCAN, "hello world"):
        html = scanned(client, scan, site=site.pk).content.decode()
        scan_input = re.search(r'<input type="text" name="scan"[^>]*>', html).group(0)
        assert "value=" not in scan_input


@pytest.mark.req("RGT-UI-002:ambiguous-choice", "RGT-RCV-004:confirmed-recorded")
def test_an_ambiguous_scan_shows_each_reading_and_receives_the_one_chosen(client, operator,
                                                                          site, vector):
    scan = f"01{VECTOR_GTIN}17{EXPIRY:%y%m%d}10LOT4221XYZ"
    as_scanned = f"(01){VECTOR_GTIN}(17){EXPIRY:%y%m%d}(10)LOT4221XYZ"
    split = f"(01){VECTOR_GTIN}(17){EXPIRY:%y%m%d}(10)LOT42(21)XYZ"
    client.force_login(operator)
    html = scanned(client, scan, site=site.pk).content.decode()
    assert "reads more than one way" in html
    assert f'value="{as_scanned}"' in html and f'value="{split}"' in html
    assert written() == (0, 0, 0, 0)
    body = {"site": site.pk, "scan": scan, "quantity": "1", "storage_location": "F1"}
    refused = client.post(reverse("reagents:receive"), body)
    assert refused.status_code == 400 and "Choose how the printed label reads" in \
        refused.content.decode()
    assert written() == (0, 0, 0, 0)
    done = client.post(reverse("reagents:receive"), {**body, "reading": split})
    assert done.status_code == 302
    lot = ReagentLot.objects.get()
    assert (lot.supplier_lot, lot.serial_number) == ("LOT42", "XYZ")
    assert "receiver confirmed this reading" in StockEntry.objects.get().reason
