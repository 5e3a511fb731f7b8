"""The kernel API: schema and docs, the one error body, site scoping, token authentication
and electronic signatures created and verified through the sign service."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from mes import audit
from mes.models import AccessChange, ElectronicSignature, Meaning
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    API,
    NO_PERMISSION,
    OTHER_SITE,
    UI,
    api_client,
    assert_permission_matrix,
    error_body_problem,
    expect,
    ui_client,
)

SIGNATURES = "/api/v1/signatures/"


# --- helpers ----------------------------------------------------------------------------


def token_client(user) -> APIClient:
    """An integration system's client: token authentication, no session."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def pending_access_change(*, requested_by, for_user, site, reason="Joins the cleanroom team"):
    """An access change as the access service records it, not yet approved (signed)."""
    change = AccessChange(user=for_user, action=AccessChange.Action.GRANT, site=site,
                          reason=reason, requested_by=requested_by)
    audit.stamp(change, user=requested_by, reason=reason)
    change.save()
    return change


def sign_request(change, password, **overrides) -> dict:
    return {"record_type": "mes.accesschange", "record_id": change.pk,
            "meaning": Meaning.APPROVED, "password": password,
            "reason": "Access approved", **overrides}


def error_body(response) -> dict:
    problem = error_body_problem(response)
    assert problem is None, problem
    return response.json()


def signature_count() -> int:
    return ElectronicSignature.objects.count()


class _Assets(HTMLParser):
    """The script and stylesheet references of a page, and whether any script is inline."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.urls.append(attrs["src"])
            else:
                self._in_script = True
        elif tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1


def page_assets(html: str) -> _Assets:
    parser = _Assets()
    parser.feed(html)
    return parser


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def integration_user(site, roles):
    """The account a LIMS bridge uses: an Administrator at the plant, named for the system."""
    return person("Administrator", sites=[site], username="lims-bridge",
                  full_name="LIMS Bridge Integration")


@pytest.fixture
def newcomer(roles):
    return person(None, username="newcomer", full_name="Nora Newcomer")


@pytest.fixture
def access_change(admin_user, newcomer, site):
    return pending_access_change(requested_by=admin_user, for_user=newcomer, site=site)


# --- FND-API-001: schema and local docs ---------------------------------------------------


@pytest.mark.req("FND-API-001:schema")
def test_the_openapi_schema_lists_the_kernel_endpoints(operator):
    # given a logged-in person
    client = api_client(operator)

    # when they fetch the schema as JSON
    response = client.get("/api/v1/schema/", {"format": "json"})

    # then it is an OpenAPI 3 document listing the kernel's endpoints
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    for path in ("/api/v1/users/", "/api/v1/sites/", "/api/v1/signatures/",
                 "/api/v1/signatures/{id}/verify/"):
        assert path in schema["paths"], path
    assert "post" in schema["paths"]["/api/v1/signatures/"]


@pytest.mark.req("FND-API-001:swagger")
def test_swagger_ui_loads_its_assets_from_our_own_static_files(operator):
    # given a logged-in person
    client = api_client(operator)

    # when they open the API docs
    response = client.get("/api/v1/docs/")

    # then the page is HTML whose scripts and stylesheets are local paths, not a CDN
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assets = page_assets(response.content.decode())
    assert any(url.startswith("/static/") and url.endswith(".js") for url in assets.urls)
    assert any(url.startswith("/static/") and url.endswith(".css") for url in assets.urls)
    for url in assets.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert "://" not in url, url

    # and each of them is actually served by this installation
    for url in assets.urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        # Reading a file response to the end closes it as the test client expects.
        assert asset.getvalue(), url


@pytest.mark.req("FND-API-001:swagger")
def test_swagger_ui_runs_under_our_content_security_policy(operator):
    # given the site-wide policy allows scripts from our own origin only
    client = api_client(operator)

    # when the API docs page is served
    response = client.get("/api/v1/docs/")

    # then the page carries no inline script (the browser would refuse it and show a blank
    # page); its start-up script is a file of its own, served as JavaScript
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assets = page_assets(response.content.decode())
    assert assets.inline_scripts == 0
    local_scripts = [u for u in assets.urls if not u.startswith("/static/") and "script" in u]
    assert local_scripts, "the start-up script should be served from the docs URL"
    for url in local_scripts:
        script = client.get(url)
        assert script.status_code == 200
        assert script["Content-Type"].startswith("application/javascript")
        assert "SwaggerUIBundle" in script.content.decode()


# --- FND-API-002: one error body ----------------------------------------------------------


@pytest.mark.req("FND-API-002")
def test_an_anonymous_caller_is_refused_with_the_error_body(db):
    # given nobody is logged in
    client = APIClient()

    # when they list the users
    response = client.get("/api/v1/users/")

    # then they are refused with the one error body
    assert response.status_code in (401, 403)
    assert error_body(response)["code"] == "not_authenticated"


@pytest.mark.req("FND-API-002")
def test_a_sign_request_with_missing_fields_is_a_400_naming_each_field(integration_user):
    # given a caller who may sign
    client = api_client(integration_user)

    # when they post a signature with nothing in it
    response = client.post(SIGNATURES, {}, format="json")

    # then it is a validation error naming each missing field, and nothing is signed
    assert response.status_code == 400
    body = error_body(response)
    assert body["code"] == "invalid"
    assert {"record_type", "record_id", "meaning", "password"} <= set(body["fields"])
    assert all(isinstance(msgs, list) and msgs for msgs in body["fields"].values())
    assert signature_count() == 0


@pytest.mark.req("FND-API-002", "FND-SIG-006:sign")
def test_a_wrong_password_is_a_403_and_nothing_is_signed(integration_user, access_change):
    # given a pending access change the caller may approve
    client = api_client(integration_user)

    # when they sign it with the wrong password
    response = client.post(SIGNATURES, sign_request(access_change, "not-my-password"),
                           format="json")

    # then the domain error comes back in the error body, pointing at the password
    assert response.status_code == 403
    body = error_body(response)
    assert body["code"] == "wrong_password"
    assert "password" in body["fields"]
    assert signature_count() == 0


@pytest.mark.req("FND-API-002")
def test_signing_an_unknown_record_is_a_404(integration_user, password):
    # given a record id that does not exist
    client = api_client(integration_user)
    missing = AccessChange(pk=987654)

    # when someone signs it
    response = client.post(SIGNATURES, sign_request(missing, password), format="json")

    # then it is a 404 in the error body
    assert response.status_code == 404
    assert error_body(response)["code"] == "not_found"
    assert signature_count() == 0


@pytest.mark.req("FND-API-002", "FND-SIG-006:sign")
def test_signing_without_the_approve_permission_is_a_403_and_nothing_is_signed(
        qa_user, access_change, password):
    # given a QA reviewer at the site, who lacks mes.approve_accesschange
    assert not qa_user.has_perm("mes.approve_accesschange")
    client = api_client(qa_user)

    # when they approve an access change
    response = client.post(SIGNATURES, sign_request(access_change, password), format="json")

    # then the signature is refused and nothing is signed
    assert response.status_code == 403
    body = error_body(response)
    assert body["code"] == "signature_refused"
    assert "not authorised" in body["message"]
    assert signature_count() == 0


@pytest.mark.req("FND-API-002", "FND-SIG-006:sign")
def test_signing_the_same_record_twice_with_the_same_meaning_is_a_409(
        integration_user, access_change, password):
    # given the caller has already approved the access change
    client = api_client(integration_user)
    first = client.post(SIGNATURES, sign_request(access_change, password), format="json")
    assert first.status_code == 201

    # when they approve it again
    again = client.post(SIGNATURES, sign_request(access_change, password), format="json")

    # then the domain error is a 409 in the error body and there is still one signature
    assert again.status_code == 409
    assert error_body(again)["code"] == "already_signed"
    assert signature_count() == 1


@pytest.mark.req("FND-API-002", "FND-SIG-006:sign", "FND-SIG-003:immutable")
def test_a_signature_cannot_be_changed_or_removed_through_the_api(integration_user,
                                                                   access_change, password):
    # given a signature made through the API
    client = api_client(integration_user)
    signature = client.post(SIGNATURES, sign_request(access_change, password),
                            format="json").json()
    url = f"{SIGNATURES}{signature['id']}/"

    # when someone tries to edit or delete it
    responses = [client.patch(url, {"meaning": "rejected"}, format="json"), client.delete(url)]

    # then the method is not allowed, in the error body, and the signature is as it was
    for response in responses:
        assert response.status_code == 405
        assert error_body(response)["code"] == "method_not_allowed"
    assert ElectronicSignature.objects.get(pk=signature["id"]).meaning == Meaning.APPROVED


@pytest.mark.req("FND-API-002")
def test_an_unknown_api_address_is_a_404_in_the_error_body(operator):
    # given a logged-in person
    client = api_client(operator)

    # when they call an address the API does not have
    response = client.get("/api/v1/no-such-endpoint/")

    # then the 404 is JSON in the error body, not an HTML page
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert error_body(response)["code"] == "not_found"


# --- FND-SCOPE-001: a record of another site is a 404 -------------------------------------


@pytest.fixture
def audit_people(operator, qa_user, other_site):
    return {
        NO_PERMISSION: operator,  # at the site, but no mes.view_audit_trail
        OTHER_SITE: person("QA Reviewer", sites=[other_site], username="qa2",
                           full_name="Quinn Elsewhere"),
        ALLOWED: qa_user,
    }


@pytest.mark.req("FND-SCOPE-001:api", "FND-API-002")
def test_the_audit_trail_endpoint_is_scoped_to_permission_and_site(site, audit_people):
    # given the site's audit trail and four people
    url = f"/api/v1/audit-trail/mes/site/{site.pk}/"

    # when each asks for it, then each gets the matrix's answer in the error body
    responses = assert_permission_matrix(api_client, url, audit_people, API, error_body=True)

    # and the permitted reviewer sees the site's creation, field by field
    changes = responses[ALLOWED].json()
    assert any(c["kind"] == "created" and c["field"] == "code" and c["new"] == "PLANT1"
               for c in changes)
    assert responses[OTHER_SITE].json()["code"] == "not_found"


@pytest.mark.req("FND-SCOPE-001:page")
def test_the_audit_trail_page_is_scoped_to_permission_and_site(site, audit_people):
    # given the site's audit-trail page and four people
    url = f"/audit/mes/site/{site.pk}/"

    # when each opens it, then each gets the matrix's answer
    responses = assert_permission_matrix(ui_client, url, audit_people, UI)

    # and the permitted reviewer sees the site's record
    assert "PLANT1" in responses[ALLOWED].content.decode()


@pytest.mark.req("FND-SCOPE-001:api", "FND-API-002")
def test_a_site_is_visible_only_to_its_people(site, other_site, operator, roles):
    # given a person without any site and a person of another site
    people = {
        NO_PERMISSION: person(None, username="nosite", full_name="Nadia Nosite"),
        OTHER_SITE: person("Operator", sites=[other_site], username="op2",
                           full_name="Olga Elsewhere"),
        ALLOWED: operator,
    }

    # when each asks for the site, then only its own people see it; for others it is a 404
    responses = assert_permission_matrix(
        api_client, f"/api/v1/sites/{site.pk}/", people,
        {**API, NO_PERMISSION: expect(404)}, error_body=True,
    )
    assert responses[ALLOWED].json()["code"] == "PLANT1"


@pytest.mark.req("FND-SCOPE-001:list")
def test_the_site_list_holds_only_the_callers_sites(site, other_site, operator):
    # given an operator at one site of two
    client = api_client(operator)

    # when they list the sites
    response = client.get("/api/v1/sites/")

    # then only their own site is listed
    assert response.status_code == 200
    assert [s["code"] for s in response.json()["results"]] == ["PLANT1"]


@pytest.mark.req("FND-SCOPE-001:api")
def test_a_person_of_another_site_is_a_404(operator, other_site, roles):
    # given a person who works only at another site
    stranger = person("Operator", sites=[other_site], username="op2", full_name="Olga Far")
    client = api_client(operator)

    # when the operator asks for them
    response = client.get(f"/api/v1/users/{stranger.pk}/")

    # then that person does not exist for them
    assert response.status_code == 404
    assert error_body(response)["code"] == "not_found"
    assert client.get(f"/api/v1/users/{operator.pk}/").status_code == 200


@pytest.mark.req("FND-SCOPE-001:api", "FND-SIG-006:sign")
def test_signing_a_record_of_another_site_is_a_404_and_nothing_is_signed(
        integration_user, other_site, password, roles):
    # given an access change at another site, requested by that site's administrator
    far_admin = person("Administrator", sites=[other_site], username="admin2",
                       full_name="Alma Faraway")
    far_person = person(None, username="far", full_name="Fred Faraway")
    change = pending_access_change(requested_by=far_admin, for_user=far_person,
                                   site=other_site)
    client = api_client(integration_user)

    # when an administrator of our site approves it
    response = client.post(SIGNATURES, sign_request(change, password), format="json")

    # then the record does not exist for them and nothing is signed
    assert response.status_code == 404
    assert error_body(response)["code"] == "not_found"
    assert signature_count() == 0


@pytest.mark.req("FND-SCOPE-001:api")
def test_a_signature_of_another_site_is_a_404(access_change, integration_user, other_site,
                                               password, roles):
    # given a signature on our site's access change
    signature = api_client(integration_user).post(
        SIGNATURES, sign_request(access_change, password), format="json").json()
    stranger = person("Administrator", sites=[other_site], username="admin2",
                      full_name="Alma Faraway")
    client = api_client(stranger)

    # when an administrator of another site reads or verifies it
    detail = client.get(f"{SIGNATURES}{signature['id']}/")
    verify = client.get(f"{SIGNATURES}{signature['id']}/verify/")

    # then it does not exist for them
    assert (detail.status_code, verify.status_code) == (404, 404)
    assert error_body(detail)["code"] == error_body(verify)["code"] == "not_found"
    assert client.get(SIGNATURES).json()["results"] == []


# --- FND-API-003, FND-SIG-006: token authentication and signatures ------------------------


@pytest.mark.req(
    "FND-API-003:token", "FND-API-003:attributed", "FND-AUD-001:api", "FND-SIG-006:sign")
def test_an_integration_token_signs_and_the_history_names_its_user(
        integration_user, access_change, password):
    # given an integration system holding a token of its own account
    client = token_client(integration_user)

    # when it approves the access change through the API
    response = client.post(SIGNATURES, sign_request(access_change, password), format="json")

    # then the signature is the integration account's, made through the sign service
    assert response.status_code == 201, response.content
    body = response.json()
    signature = ElectronicSignature.objects.get(pk=body["id"])
    assert (signature.signer, signature.printed_name, signature.meaning) == (
        integration_user, "LIMS Bridge Integration", Meaning.APPROVED)
    assert signature.record == access_change
    assert signature.record_hash == access_change.canonical_hash()
    assert body["record_type"] == "mes.accesschange"
    assert "password" not in body

    # and its one history row is attributed to the token's user, with the reason
    rows = list(ElectronicSignature.history.filter(id=signature.pk))
    assert [(r.history_type, r.history_user) for r in rows] == [("+", integration_user)]
    assert rows[0].history_change_reason == "Access approved"


@pytest.mark.req("FND-SIG-006:verify")
def test_verify_shows_a_record_changed_after_signing(integration_user, access_change,
                                                     password):
    # given an access change approved through the API with a token
    client = token_client(integration_user)
    signature_id = client.post(SIGNATURES, sign_request(access_change, password),
                               format="json").json()["id"]

    # when the signature is verified, it holds
    verified = client.get(f"{SIGNATURES}{signature_id}/verify/")
    assert verified.status_code == 200
    assert verified.json()["valid"] is True

    # when the signed record is then altered behind the application's back
    with connection.cursor() as cursor:
        cursor.execute("UPDATE mes_accesschange SET reason=%s WHERE id=%s",
                       ["Backdated by hand", access_change.pk])

    # then the signature no longer verifies
    tampered = client.get(f"{SIGNATURES}{signature_id}/verify/")
    assert tampered.status_code == 200
    assert tampered.json()["valid"] is False
    assert "changed" in tampered.json()["detail"]


@pytest.mark.req("FND-API-003:token", "FND-API-002")
def test_an_unknown_token_is_refused_with_the_error_body(integration_user, access_change,
                                                         password):
    # given a token that was never issued
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    # when it is used to sign
    response = client.post(SIGNATURES, sign_request(access_change, password), format="json")

    # then the caller is refused and nothing is signed
    assert response.status_code in (401, 403)
    assert error_body(response)["code"] == "authentication_failed"
    assert signature_count() == 0


@pytest.mark.req("FND-SIG-005:own-work", "FND-SIG-006:sign")
def test_an_integration_account_cannot_approve_its_own_access(integration_user, admin_user,
                                                               password, site):
    # given an access change for the integration account itself
    change = pending_access_change(requested_by=admin_user, for_user=integration_user,
                                   site=site)
    client = token_client(integration_user)

    # when it tries to approve it with its token
    response = client.post(SIGNATURES, sign_request(change, password), format="json")

    # then the sign service refuses, whatever the channel
    assert response.status_code == 403
    assert "own access" in error_body(response)["message"]
    assert signature_count() == 0


@pytest.mark.req("FND-SEC-004:locked")
def test_a_locked_accounts_token_stops_working_at_once(client, operator, password):
    api = token_client(operator)
    assert api.get("/api/v1/sites/").status_code == 200
    for _ in range(5):
        client.post("/login/", {"username": "op1", "password": "wrong"})

    response = api.get("/api/v1/sites/")

    assert response.status_code == 401
    assert error_body(response)["code"] == "account_locked"
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.req("FND-SEC-004:inactive")
def test_a_deactivated_accounts_token_stops_working_at_once(operator):
    api = token_client(operator)
    assert api.get("/api/v1/sites/").status_code == 200
    with audit.acting_as(operator):
        operator.is_active = False
        audit.stamp(operator, user=operator, reason="Left the company")
        operator.save()

    response = api.get("/api/v1/sites/")

    assert response.status_code == 401
    assert error_body(response)["code"] == "account_inactive"


@pytest.mark.req("FND-SEC-007:no-store")
def test_api_responses_are_never_stored_by_a_browser_or_proxy(operator):
    client = api_client(operator)
    for response in (client.get("/api/v1/users/"), client.get("/api/v1/sites/"),
                     client.get("/api/v1/no-such-endpoint/"), APIClient().get("/api/v1/users/")):
        assert "no-store" in response["Cache-Control"], response.request["PATH_INFO"]


@pytest.mark.req("FND-SEC-007:schema-login")
def test_the_schema_and_the_swagger_ui_need_a_signed_in_user(db):
    anonymous = APIClient()

    schema = anonymous.get("/api/v1/schema/", {"format": "json"})
    docs = anonymous.get("/api/v1/docs/")
    script = anonymous.get("/api/v1/docs/?script=")

    assert schema.status_code == 401
    assert error_body(schema)["code"] == "not_authenticated"
    assert "paths" not in schema.content.decode()
    for response in (docs, script):
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")
