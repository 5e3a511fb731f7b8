"""The master records API: scoped reads, export, import as a draft (Idempotency-Key), a
malformed document refused with the path of each error, and the JSON Schema."""

from __future__ import annotations

import json

import pytest

from batchrecords.exchange import export_version, schema
from batchrecords.models import MasterRecordVersion, Step
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    API,
    NO_PERMISSION,
    OTHER_SITE,
    api_client,
    assert_permission_matrix,
)

BASE = "/api/v1/batchrecords"


def post(client, url, data, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(url, json.dumps(data), content_type="application/json", **headers)


@pytest.fixture
def outsider(other_site, roles):
    return person("QA Reviewer", sites=[other_site], username="qa-far")


@pytest.fixture
def nobody(site, roles):
    return person(None, sites=[site], username="nobody")


@pytest.mark.req("MBR-API-001")
@pytest.mark.parametrize(
    "path", ["master-records/{master}/", "versions/{version}/", "versions/{version}/export/"]
)
def test_each_record_is_seen_only_at_its_site(effective, qa_user, outsider, nobody, path):
    url = f"{BASE}/" + path.format(master=effective.master_id, version=effective.pk)
    assert_permission_matrix(
        api_client,
        url,
        {NO_PERMISSION: nobody, OTHER_SITE: outsider, ALLOWED: qa_user},
        API,
        error_body=True,
    )


@pytest.mark.req("MBR-API-001")
def test_the_list_and_the_version_show_the_procedure(effective, qa_user, outsider):
    assert api_client(outsider).get(f"{BASE}/master-records/").json()["results"] == []
    masters = api_client(qa_user).get(f"{BASE}/master-records/").json()["results"]
    assert [(m["product"], m["site"], [v["status"] for v in m["versions"]]) for m in masters] == [
        ("CART-T1", "PLANT1", ["effective"])
    ]
    body = api_client(qa_user).get(f"{BASE}/versions/{effective.pk}/").json()
    assert body["status"] == "effective" and body["approved_by"] == "qa1"
    assert body["procedure"] == export_version(effective)
    exported = api_client(qa_user).get(f"{BASE}/versions/{effective.pk}/export/")
    assert exported.json() == export_version(effective)
    assert "attachment" in exported["Content-Disposition"]


@pytest.mark.req("MBR-API-002")
def test_the_version_list_runs_the_same_queries_for_2_and_for_6_versions(
        effective, author, qa_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from batchrecords.services import versions as lifecycle

    client = api_client(qa_user)
    client.get(f"{BASE}/versions/")  # the first request of a session does its own bookkeeping
    lifecycle.new_version_from(actor=author, source=effective)
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(f"{BASE}/versions/").json()["results"]) == 2
    for _ in range(4):
        lifecycle.new_version_from(actor=author, source=effective)
    with CaptureQueriesContext(connection) as many:
        listed = client.get(f"{BASE}/versions/").json()["results"]
    assert len(listed) == 6 and "procedure" not in listed[0]
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.req("MBR-API-001", "MBR-XCH-001")
def test_an_import_arrives_as_a_draft_once_per_idempotency_key(author, site, product, document):
    client = api_client(author)
    body = {"site": site.code, "document": document}
    first = post(client, f"{BASE}/imports/", body, key="imp-1")
    assert first.status_code == 201, first.content
    assert first.json()["status"] == "draft" and first.json()["number"] == 1
    again = post(client, f"{BASE}/imports/", body, key="imp-1")
    assert again.json()["id"] == first.json()["id"]
    assert MasterRecordVersion.objects.count() == 1
    exported = client.get(f"{BASE}/versions/{first.json()['id']}/export/").json()
    second = post(client, f"{BASE}/imports/", {"site": site.code, "document": exported})
    assert client.get(f"{BASE}/versions/{second.json()['id']}/export/").json() == exported


@pytest.mark.req("MBR-XCH-002")
def test_a_malformed_import_is_a_400_naming_each_path(author, site, product, document):
    document["operations"][0]["steps"][0]["critical"] = "yes"
    document["operations"][1]["code"] = "RECEIPT"
    response = post(
        api_client(author), f"{BASE}/imports/", {"site": site.code, "document": document}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_master_record"
    assert list(body["fields"]) == ["$.operations[0].steps[0].critical"]
    assert (MasterRecordVersion.objects.count(), Step.objects.count()) == (0, 0)


@pytest.mark.req("MBR-XCH-002")
def test_an_import_is_json_only(author, site, product, document):
    # a form-encoded body would have its document decoded without the strict parser's checks
    response = api_client(author).post(
        f"{BASE}/imports/", {"site": site.code, "document": "[" * 100_000})
    assert response.status_code == 415 and response.json()["code"]
    assert MasterRecordVersion.objects.count() == 0


@pytest.mark.req("MBR-API-001")
def test_an_import_is_refused_without_the_authoring_permission_or_at_another_site(
    site, other_site, product, document, roles
):
    operator = person("Operator", sites=[site], username="op-x")
    response = post(
        api_client(operator), f"{BASE}/imports/", {"site": site.code, "document": document}
    )
    assert response.status_code == 403
    author = person("Supervisor", sites=[site], username="sup-x")
    response = post(
        api_client(author), f"{BASE}/imports/", {"site": other_site.code, "document": document}
    )
    assert response.status_code == 404
    assert MasterRecordVersion.objects.count() == 0


@pytest.mark.req("MBR-XCH-003")
def test_the_api_serves_the_published_schema(qa_user):
    response = api_client(qa_user).get(f"{BASE}/schema/")
    assert response.status_code == 200 and response.json() == schema()


@pytest.mark.req("MBR-XCH-004:api")
@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('{"site": "PLANT1", "document": {"title": "a", "title": "b"}}', "appears twice"),
        ('{"site": "PLANT1", "site": "PLANT2", "document": {}}', "“site” appears twice"),
        ('{"site": "PLANT1", "document": {"title": "a\\u0000"}}', "NUL character"),
        ('{"site": "PLANT1", "document": ' + "[" * 50 + "]" * 50 + "}", "nested more than"),
        ('{"site": "PLANT1", "document": ' + "[" * 100_000 + "]" * 100_000 + "}",
         "nested more than"),
        ('{"site": "PLANT1", "document": {"title": Infinity}}', "Infinity is not a number"),
    ],
    ids=["duplicate-key", "duplicate-site", "nul", "deep", "very-deep", "infinity"],
)
def test_an_import_text_is_refused_cleanly_as_a_400(author, site, product, body, match):
    response = api_client(author).post(
        f"{BASE}/imports/", body, content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="imp-bad")
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == "invalid_master_record" and match in error["message"]
    assert list(error["fields"]) == ["$"]
    assert (MasterRecordVersion.objects.count(), Step.objects.count()) == (0, 0)


@pytest.mark.req("MBR-XCH-004:api", "MBR-XCH-004:bounds")
def test_a_huge_import_is_a_400_at_its_bound(author, site, product, document):
    document["operations"] = document["operations"] * 26  # 52 operations
    response = post(api_client(author), f"{BASE}/imports/",
                    {"site": site.code, "document": document})
    assert response.status_code == 400
    assert response.json()["fields"] == {"$.operations": ["At most 50 items."]}
    assert MasterRecordVersion.objects.count() == 0
