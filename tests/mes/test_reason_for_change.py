"""A reason for change is asked on every path that changes a GMP record after its creation:
the model itself, the services, the pages and the API. Each refusal names the reason field,
has its code, and changes nothing."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from custody.models import Order
from mes.models import Site
from mes.services import sites
from tests.custody.factories import clinic, order_for, plant
from tests.mes.factories import person
from tests.refusals import refused


@pytest.mark.req("FND-AUD-002:service")
@pytest.mark.parametrize("reason", ["", "   ", None])
def test_the_site_service_refuses_a_change_without_a_reason(db, admin_user, site, reason):
    history = site.history.count()

    with refused("reason_required", field="reason"):
        sites.update_site(actor=admin_user, site=site, reason=reason, name="Renamed")

    assert Site.objects.get(pk=site.pk).name == site.name
    assert site.history.count() == history


@pytest.mark.req("FND-AUD-002:page")
def test_the_site_page_refuses_a_change_without_a_reason(client, admin_user, site):
    client.force_login(admin_user)
    history = site.history.count()

    response = client.post(reverse("site-edit", args=[site.pk]), {
        "name": "Renamed", "kind": site.kind, "time_zone": site.time_zone, "is_active": "on",
        "facility_identification_number": site.facility_identification_number, "reason": " "})

    assert response.status_code == 400
    assert "reason" in response.context["form"].errors
    assert Site.objects.get(pk=site.pk).name == site.name
    assert site.history.count() == history


@pytest.mark.req("FND-AUD-002:api")
@pytest.mark.parametrize("body", [{"status": "cancelled", "reason": ""},
                                  {"status": "cancelled", "reason": "   "},
                                  {"status": "cancelled"}])
def test_the_api_refuses_a_change_without_a_reason(db, roles, body):
    manufacturing, clinical = plant(), clinic()
    planner = person("Planner", sites=[manufacturing, clinical], username="planner-r")
    order = order_for(planner, manufacturing_site=manufacturing, ordering_site=clinical)
    history = order.history.count()
    api = APIClient()
    api.force_authenticate(planner)

    response = api.post(f"/api/v1/custody/orders/{order.pk}/advance/", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] in {"invalid", "reason_required"}
    assert "reason" in response.json()["fields"]
    assert Order.objects.get(pk=order.pk).status == order.status
    assert order.history.count() == history
