"""The clinical identity's history on the audit-trail page and in the API is as restricted
as the identity itself: the reveal permission, a purpose, and a logged view."""

import pytest
from django.urls import reverse

from custody.models import ClinicalIdentityAccess
from tests.mes.factories import person

pytestmark = pytest.mark.req("COI-PAT-001:audit-trail")


@pytest.fixture
def identity(patient):
    return patient.clinical_identity


@pytest.fixture
def qa(site, clinical_site, roles):
    return person("QA Reviewer", sites=[site, clinical_site], username="qa-id")


@pytest.fixture
def supervisor(site, clinical_site, roles):
    return person("Supervisor", sites=[site, clinical_site], username="sup-id")


def page(identity, **query):
    url = reverse("audit-trail", args=["custody", "clinicalidentity", identity.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def api(identity, **query):
    url = reverse("api-audit-trail", args=["custody", "clinicalidentity", identity.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_without_the_reveal_permission_the_history_is_refused_and_nothing_is_shown(
        client, supervisor, identity):
    client.force_login(supervisor)

    for url in (page(identity), page(identity, purpose="Audit"), page(identity, format="csv",
                                                                         purpose="Audit")):
        response = client.get(url)
        assert response.status_code == 403
        assert b"Jane Doe" not in response.content and b"H-0001" not in response.content
    response = client.get(api(identity, purpose="Audit"))
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "Jane Doe" not in response.content.decode()
    assert not ClinicalIdentityAccess.objects.exists()


def test_the_page_asks_a_purpose_before_showing_the_history(client, qa, identity):
    client.force_login(qa)

    response = client.get(page(identity))

    assert response.status_code == 200
    assert b'id="purpose-form"' in response.content
    assert b"Jane Doe" not in response.content and b"H-0001" not in response.content
    assert not ClinicalIdentityAccess.objects.exists()
    assert response["Cache-Control"] == "no-store"


def test_the_api_refuses_the_history_without_a_purpose(client, qa, identity):
    client.force_login(qa)

    response = client.get(api(identity))

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "purpose" in response.json()["fields"]
    assert "Jane Doe" not in response.content.decode()
    assert not ClinicalIdentityAccess.objects.exists()


def test_with_a_purpose_the_page_shows_the_history_and_logs_the_view(client, qa, identity):
    client.force_login(qa)

    response = client.get(page(identity, purpose="Mix-up investigation"))

    assert response.status_code == 200
    assert b"Jane Doe" in response.content
    assert response["Cache-Control"] == "no-store"
    access = ClinicalIdentityAccess.objects.get()
    assert (access.user, access.purpose, access.identity) == (qa, "Mix-up investigation",
                                                               identity)


def test_with_a_purpose_the_csv_export_is_logged_too(client, qa, identity):
    client.force_login(qa)

    response = client.get(page(identity, purpose="Export", format="csv"))

    assert response.status_code == 200
    assert "Jane Doe" in response.content.decode()
    assert ClinicalIdentityAccess.objects.get().purpose == "Export"


def test_with_a_purpose_the_api_returns_the_history_and_logs_the_view(client, qa, identity):
    client.force_login(qa)

    response = client.get(api(identity, purpose="Mix-up investigation"))

    assert response.status_code == 200
    assert any(change["new"] == "Jane Doe" for change in response.json())
    access = ClinicalIdentityAccess.objects.get()
    assert (access.user, access.purpose) == (qa, "Mix-up investigation")


def test_qa_of_the_manufacturing_site_alone_sees_the_history_as_they_see_the_identity(
        client, site, roles, identity):
    plant_qa = person("QA Reviewer", sites=[site], username="qa-plant")
    client.force_login(plant_qa)

    response = client.get(page(identity, purpose="Mix-up investigation"))

    assert response.status_code == 200
    assert b"Jane Doe" in response.content
    assert ClinicalIdentityAccess.objects.get().user == plant_qa


def test_qa_of_neither_of_the_patients_sites_gets_a_404(client, roles, identity):
    from tests.custody.factories import plant

    stranger = person("QA Reviewer", sites=[plant("PLANT9", "H9999")], username="qa-far")
    client.force_login(stranger)

    assert client.get(page(identity, purpose="Audit")).status_code == 404
    assert client.get(api(identity, purpose="Audit")).status_code == 404
    assert not ClinicalIdentityAccess.objects.exists()
