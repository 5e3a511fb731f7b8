"""Input no plant record means gets the API's error body with a 4xx, never HTML or a 500,
and nothing is written."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from mes.models import ElectronicSignature, SecurityEvent
from tests.mes.factories import person
from tests.mes.test_api import error_body, pending_access_change, sign_request

SIGNATURES = "/api/v1/signatures/"


@pytest.fixture
def api(admin_user, settings):
    settings.DEBUG = False
    client = APIClient()
    client.force_login(admin_user)
    client.raise_request_exception = False
    return client


@pytest.fixture
def change(operator, site, roles):
    newcomer = person("Operator", sites=[site], username="op9")
    return pending_access_change(requested_by=operator, for_user=newcomer, site=site)


def post_raw(api, body: bytes, content_type="application/json"):
    return api.post(SIGNATURES, data=body, content_type=content_type)


@pytest.mark.req("FND-API-005:lockout")
def test_the_signature_that_locks_the_account_is_a_429_in_the_error_body(api, change, admin_user):
    codes = [error_body(api.post(SIGNATURES, sign_request(change, "wrong"), format="json"))
             for _ in range(6)]

    assert [c["code"] for c in codes] == ["wrong_password"] * 4 + ["account_locked"] * 2
    response = api.post(SIGNATURES, sign_request(change, "wrong"), format="json")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert ElectronicSignature.objects.count() == 0
    assert SecurityEvent.objects.filter(kind="lockout", username=admin_user.username).count() == 1


@pytest.mark.req("FND-API-005:too-large")
def test_an_oversized_body_is_a_413_before_it_is_read(api, change, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({**sign_request(change, "x"), "reason": "r" * 2000}).encode()

    response = post_raw(api, body)

    assert response.status_code == 413
    assert error_body(response)["code"] == "too_large"
    assert ElectronicSignature.objects.count() == 0


@pytest.mark.req("FND-API-005:malformed")
@pytest.mark.parametrize("body", [b'{"record_type":', b"NaN", b'{"record_id": Infinity}',
                                  b"\xff\xfe", b'{"a": 1} trailing'])
def test_malformed_json_is_a_400_parse_error(api, change, body):
    response = post_raw(api, body)

    assert response.status_code == 400
    assert error_body(response)["code"] == "parse_error"
    assert ElectronicSignature.objects.count() == 0


@pytest.mark.req("FND-API-005:deep")
@pytest.mark.parametrize("depth", [25, 100_000])
def test_too_deeply_nested_json_is_a_400_parse_error(api, change, depth):
    response = post_raw(api, ("[" * depth + "]" * depth).encode())

    assert response.status_code == 400
    assert error_body(response)["code"] == "parse_error"
    assert "nested" in error_body(response)["message"]


@pytest.mark.req("FND-API-005:nul-body")
@pytest.mark.parametrize("where", ["value", "key", "nested"])
def test_a_nul_character_in_a_json_key_or_value_is_a_400(api, change, where):
    body = sign_request(change, "x")
    if where == "value":
        body["reason"] = "Approved\x00"
    elif where == "key":
        body["rea\x00son"] = "Approved"
    else:
        body["extra"] = {"list": ["ok", "b\x00d"]}

    response = post_raw(api, json.dumps(body).encode())

    assert response.status_code == 400
    assert error_body(response)["code"] == "invalid_characters"
    assert ElectronicSignature.objects.count() == 0


@pytest.mark.req("FND-API-005:nul-query")
@pytest.mark.parametrize("query", ["page=%00", "se%00arch=x", "ordering=a%00b", "x=%2500%00"])
def test_a_nul_character_in_a_query_parameter_is_a_400(api, query):
    response = api.get(f"/api/v1/users/?{query}")

    assert response.status_code == 400
    assert error_body(response)["code"] == "invalid_characters"


@pytest.mark.req("FND-API-005:nul-query")
def test_a_nul_character_in_a_page_address_is_a_400_not_a_database_error(client, qa_user):
    client.force_login(qa_user)

    response = client.get("/security/?kind=%00")

    assert response.status_code == 400


@pytest.mark.req("FND-API-005:method")
def test_an_unsupported_method_is_a_405_in_the_error_body(api):
    for response in (api.delete("/api/v1/sites/"), api.put("/api/v1/signatures/"),
                     api.patch("/api/v1/users/")):
        assert response.status_code == 405
        assert error_body(response)["code"] == "method_not_allowed"


@pytest.mark.req("FND-API-005:media-type")
def test_an_unsupported_media_type_is_a_415_in_the_error_body(api, change):
    response = post_raw(api, b"<signature/>", content_type="application/xml")

    assert response.status_code == 415
    assert error_body(response)["code"] == "unsupported_media_type"
    assert ElectronicSignature.objects.count() == 0


@pytest.mark.req("FND-PERF-002")
def test_the_schema_is_generated_once_per_process_not_per_request(operator, monkeypatch):
    from drf_spectacular.generators import SchemaGenerator

    from mes.api.schema import CachedSchemaView

    CachedSchemaView._schemas.clear()
    generated = []
    original = SchemaGenerator.get_schema
    monkeypatch.setattr(SchemaGenerator, "get_schema",
                        lambda self, *a, **k: generated.append(1) or original(self, *a, **k))
    client = APIClient()
    client.force_authenticate(operator)

    first = client.get("/api/v1/schema/", {"format": "json"})
    second = client.get("/api/v1/schema/", {"format": "json"})

    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert len(generated) == 1


@pytest.mark.req("FND-API-005:out-of-range")
@pytest.mark.parametrize("error", [OverflowError("date value out of range"),
                                   "data-error"])
def test_a_date_or_number_out_of_range_deep_in_a_service_is_a_400(api, monkeypatch, error):
    from django.db import DataError

    from mes.api import views

    def overflowing(*args, **kwargs):
        raise DataError("date/time field value out of range") if error == "data-error" else error

    monkeypatch.setattr(views.SiteViewSet, "list", overflowing)

    response = api.get("/api/v1/sites/")

    assert response.status_code == 400
    assert error_body(response)["code"] == "out_of_range"


@pytest.mark.req("FND-API-005:out-of-range")
def test_year_9999_with_a_time_zone_is_a_400_naming_the_field(client, roles, site):
    from tests.mes.factories import person

    planner = person("Planner", sites=[site], username="pl-9999")
    api = APIClient()
    api.force_authenticate(planner)

    response = api.post("/api/v1/training/gate/", {
        "at": "9999-12-31T23:59:59-05:00", "site": site.code, "person": planner.username,
        "qualifications": ["SOP-001"]}, format="json")

    assert response.status_code == 400
    assert "at" in error_body(response)["fields"]
