"""API: create with an Idempotency-Key, list and filter, detail, acknowledge (signed)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from deviations.models import Deviation, Status
from mes.models import ElectronicSignature
from tests.deviations.factories import raised
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    API,
    NO_PERMISSION,
    OTHER_SITE,
    api_client,
    assert_permission_matrix,
)

URL = "/api/v1/deviations/"


@pytest.mark.req("DEV-API-001:create", "DEV-RAISE-001:records")
def test_create_with_an_idempotency_key_raises_once(db, site, operator, qa_user):
    client = api_client(operator)
    body = {"site": site.code, "title": "Incubator door alarm",
            "description": "Alarm 3 min at 14:10", "classification": "major",
            "batch_number": "B-9", "subject_type": "mes.site", "subject_id": site.pk}
    first = client.post(URL, body, format="json", headers={"Idempotency-Key": "k-1"})
    again = client.post(URL, body, format="json", headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201, first.json()
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    deviation = Deviation.objects.get()
    assert (deviation.number, deviation.subject, deviation.batch_number) == (
        first.json()["number"], site, "B-9")
    assert first.json()["subject_type"] == "mes.site"


@pytest.mark.req("DEV-API-001:bad-input")
def test_bad_input_is_a_4xx_error_body_and_writes_nothing(db, site, other_site, operator):
    client = api_client(operator)
    for body in ({"site": site.code, "title": "", "description": "x"},
                 {"site": other_site.code, "title": "t", "description": "d"},
                 {"site": site.code, "title": "t", "description": "d",
                  "classification": "apocalyptic"},
                 {"site": site.code, "title": "t", "description": "d",
                  "subject_type": "mes.nothing", "subject_id": 1}):
        response = client.post(URL, body, format="json")
        assert response.status_code == 400, body
        assert set(response.json()) == {"code", "message", "fields"}
    assert not Deviation.objects.exists()


@pytest.mark.req("DEV-API-001:list-detail")
def test_list_filters_and_detail(db, site, operator, qa_user):
    critical = raised(operator, site, classification="critical", batch_number="B-1")
    raised(operator, site, classification="minor")
    client = api_client(qa_user)
    numbers = lambda **q: [d["number"] for d in client.get(URL, q).json()["results"]]  # noqa: E731
    assert numbers(classification="critical") == [critical.number]
    assert numbers(batch_number="B-1") == [critical.number]
    assert len(numbers(status="open")) == 2
    assert client.get(URL, {"status": "sleeping"}).status_code == 400
    detail = client.get(f"{URL}{critical.pk}/").json()
    assert (detail["number"], detail["site"], detail["status"]) == (
        critical.number, site.code, "open")


@pytest.mark.req(
    "DEV-API-001:acknowledge",
    "DEV-SIG-001:acknowledge",
    "DEV-SIG-001:unauthorised",
    "DEV-SIG-001:wrong-password",
)
def test_acknowledge_through_the_api_is_signed(db, site, operator, qa_user, password):
    deviation = raised(operator, site, classification="critical")
    client = api_client(qa_user)
    wrong = client.post(f"{URL}{deviation.pk}/acknowledge/", {"password": "nope"},
                        format="json")
    assert wrong.status_code == 403
    assert not ElectronicSignature.objects.exists()
    refused = api_client(operator).post(f"{URL}{deviation.pk}/acknowledge/",
                                        {"password": password}, format="json")
    assert refused.status_code == 403
    done = client.post(f"{URL}{deviation.pk}/acknowledge/", {"password": password,
                                                             "note": "On it"}, format="json")
    assert done.status_code == 200
    assert done.json()["status"] == Status.ACKNOWLEDGED
    assert done.json()["acknowledged_by"] == qa_user.username


@pytest.mark.req("DEV-SCOPE-001:api")
def test_the_api_permission_matrix(db, site, other_site, operator, qa_user, roles):
    deviation = raised(operator, site)
    nobody = person(None, sites=[site], username="visitor")
    elsewhere = person("QA Reviewer", sites=[other_site], username="qa-b")
    assert_permission_matrix(api_client, f"{URL}{deviation.pk}/",
                             {NO_PERMISSION: nobody, OTHER_SITE: elsewhere,
                              ALLOWED: qa_user}, API, error_body=True)


@pytest.mark.req("DEV-API-001:create", "DEV-RAISE-001:refusals")
def test_raising_through_the_api_needs_the_raise_permission_whatever_the_source(db, site):
    viewer = person(None, sites=[site], username="viewer")
    viewer.user_permissions.add(Permission.objects.get(
        content_type__app_label="deviations", codename="view_deviation"))
    body = {"site": site.code, "title": "Incubator door alarm", "description": "Alarm 3 min",
            "source": "automatic", "rule": "incubator.door"}
    response = api_client(viewer).post(URL, body, format="json")
    assert response.status_code == 403
    assert not Deviation.objects.exists()
