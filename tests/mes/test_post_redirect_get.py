"""POST, then redirect, then GET: after a successful form the address bar shows the page now
displayed (a 302/303 to it, or HX-Redirect for an htmx dialog), so reload and Back do what
people expect. One case per form of every app; each names the page the person lands on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from custody.models import Patient
from deviations.models import Deviation
from mes.models import Notification, Site, User
from reagents.models import Material
from tests.custody.factories import ProductFactory, clinic
from tests.deviations.factories import raised
from tests.mes.factories import PASSWORD, SiteFactory, person
from tests.reagents.factories import MEDIUM_GTIN, lot
from tests.training.factories import QualificationFactory, SOPDocumentFactory


@dataclass
class Case:
    """Log in as ``role``, set up, POST ``data`` to ``url``; land on ``lands_on``."""

    role: str
    setup: Callable[[User, Site], tuple[str, dict]]
    lands_on: Callable[[User, Site], str]
    htmx: bool = False
    # What shows the form succeeded; by default the success message on the page landed on.
    succeeded: Callable[[str], bool] = lambda page: 'class="msg msg-success"' in page


def _raise(user, site):
    return reverse("deviations:raise"), {
        "title": "Door held open",
        "description": "Door B2 open at 10:02.",
    }


def _comment(user, site):
    deviation = raised(person("Operator", sites=[site]), site)
    return reverse("deviations:comment", args=[deviation.pk]), {"text": "Seen on camera."}


def _acknowledge(user, site):
    deviation = raised(person("Operator", sites=[site]), site)
    return (
        reverse("deviations:acknowledge", args=[deviation.pk]),
        {"note": "", "password": PASSWORD},
    )


def _deviation_page(user, site):
    return reverse("deviations:detail", args=[Deviation.objects.get().pk])


def _settings(user, site):
    return (
        reverse("deviations:settings", args=[site.code]),
        {
            "what": "policy",
            "tier": "major",
            "acknowledge_amount": "2",
            "acknowledge_unit": "hours",
            "disposition_amount": "5",
            "disposition_unit": "working_days",
            "reason": "Tightened after review",
        },
    )


def _material(user, site):
    return reverse("reagents:material-create"), {
        "code": "MED-01",
        "name": "Culture medium",
        "unit": "mL",
        "storage_condition": Material._meta.get_field("storage_condition").choices[0][0],
        "gtins": MEDIUM_GTIN,
        "is_critical": "on",
        "requires_qa_release": "on",
    }


def _adjust(user, site):
    reagent = lot(site=site)
    return (
        reverse("reagents:lot-adjust", args=[reagent.pk]),
        {"quantity": "-1", "reason": "Cycle count"},
    )


def _lot_page(user, site):
    from reagents.models import ReagentLot

    return reverse("reagents:lot-detail", args=[ReagentLot.objects.get().pk])


def _sop_revision(user, site):
    document = SOPDocumentFactory(number="SOP-100")
    return (
        reverse("training:sop-add-revision", args=[document.pk]),
        {"revision": "2", "summary": "New gowning step"},
    )


def _grant(user, site):
    trainee = person("Operator", sites=[site], username="trainee")
    qualification = QualificationFactory(code="CELL-SEL")
    return (
        reverse("training:grant", args=[trainee.pk]),
        {
            "qualification": qualification.pk,
            "site": site.pk,
            "valid_from": "",
            "reason": "Observed three selections",
            "password": PASSWORD,
        },
    )


def _order(user, site):
    hospital = clinic()
    assign_perm("mes.view_site", user, hospital)  # the planner orders for its hospital
    product = ProductFactory()
    return reverse("custody:order-create"), {
        "product": product.pk,
        "ordering_site": hospital.pk,
        "manufacturing_site": site.pk,
        "initials": "JD",
        "date_of_birth": "1971-03-14",
        "planned_collection_date": (dt.date.today() + dt.timedelta(days=14)).isoformat(),
        "full_name": "Jane Doe",
        "hospital_record_number": "H-1",
    }


def _site(user, site):
    return reverse("site-create"), {
        "code": "BOS",
        "name": "Boston",
        "kind": "plant",
        "time_zone": "America/New_York",
        "is_active": "on",
    }


def _user(user, site):
    return reverse("user-create"), {
        "username": "newbie",
        "full_name": "Nina Newbie",
        "password": "a-long-initial-password-2026",
    }


def _mark_read(user, site):
    Notification.objects.create(recipient=user, subject="Hello", body="…")
    return reverse("inbox-read"), {}


def _immediate_actions(user, site):
    deviation = raised(user, site)
    return (
        reverse("deviations:immediate-actions", args=[deviation.pk]),
        {"immediate_actions": "Door closed, area cleaned."},
    )


def _cancel(user, site):
    deviation = raised(person("Operator", sites=[site]), site)
    return reverse("deviations:cancel", args=[deviation.pk]), {"reason": "Raised twice."}


def _release(user, site):
    from reagents.models import LotStatus

    reagent = lot(site=site, status=LotStatus.QUARANTINE)
    return (
        reverse("reagents:lot-decide", args=[reagent.pk, "release"]),
        {"coa_reference": "COA-1", "reason": "", "password": PASSWORD},
    )


def _make_effective(user, site):
    from tests.training.factories import SOPRevisionFactory
    from training.models import SOPRevision

    revision = SOPRevisionFactory(status=SOPRevision.Status.DRAFT, effective_date=None)
    return (
        reverse("training:sop-make-effective", args=[revision.pk]),
        {"effective_date": dt.date.today().isoformat(), "reason": "CC-12 approved"},
    )


def _site_edit(user, site):
    return reverse("site-edit", args=[site.pk]), {
        "code": site.code,
        "name": "Plant One, Leiden",
        "kind": site.kind,
        "time_zone": site.time_zone,
        "facility_identification_number": "G1234",
        "is_active": "on",
        "reason": "Full name",
    }


def _deactivate(user, site):
    other = person("Operator", sites=[site], username="leaver")
    return (
        reverse("user-set-active", args=[other.pk]),
        {"active": "0", "reason": "Left the company"},
    )


def _integrity(user, site):
    return reverse("integrity-check"), {}


CASES = {
    "deviations: raise": Case("Operator", _raise, _deviation_page),
    "deviations: comment on the detail page": Case("QA Reviewer", _comment, _deviation_page),
    "deviations: signed acknowledgement (htmx dialog)": Case(
        "QA Reviewer", _acknowledge, _deviation_page, htmx=True
    ),
    "deviations: deadline settings": Case(
        "QA Reviewer", _settings, lambda u, s: reverse("deviations:settings", args=[s.code])
    ),
    "deviations: immediate actions on the detail page": Case(
        "Operator", _immediate_actions, _deviation_page
    ),
    "deviations: cancelled": Case("QA Reviewer", _cancel, _deviation_page),
    "reagents: signed release (htmx dialog)": Case("QA Reviewer", _release, _lot_page, htmx=True),
    "reagents: new material": Case(
        "QA Reviewer", _material, lambda u, s: reverse("reagents:material-list")
    ),
    "reagents: stock adjustment on the lot page": Case("Supervisor", _adjust, _lot_page),
    "training: new SOP revision": Case(
        "Trainer", _sop_revision, lambda u, s: reverse("training:sops")
    ),
    "training: SOP revision made effective": Case(
        "QA Reviewer", _make_effective, lambda u, s: reverse("training:sops")
    ),
    "training: signed grant (no JavaScript)": Case(
        "Trainer",
        _grant,
        lambda u, s: reverse("training:person", args=[User.objects.get(username="trainee").pk]),
    ),
    "custody: new order": Case(
        "Planner",
        _order,
        lambda u, s: reverse("custody:patient-detail", args=[Patient.objects.get().pk]),
    ),
    "mes: new site": Case("Administrator", _site, lambda u, s: reverse("site-list")),
    "mes: site edited": Case("Administrator", _site_edit, lambda u, s: reverse("site-list")),
    "mes: account deactivated on its page": Case(
        "Administrator",
        _deactivate,
        lambda u, s: reverse("user-detail", args=[User.objects.get(username="leaver").pk]),
    ),
    "mes: integrity check started": Case(
        "QA Reviewer", _integrity, lambda u, s: reverse("security-events")
    ),
    "mes: new account": Case(
        "Administrator",
        _user,
        lambda u, s: reverse("user-detail", args=[User.objects.get(username="newbie").pk]),
    ),
    "mes: inbox marked read": Case(
        "Operator",
        _mark_read,
        lambda u, s: reverse("inbox"),
        succeeded=lambda page: not Notification.objects.filter(read_at=None).exists(),
    ),
}


@pytest.mark.req("UI-PRG-001:redirect")
@pytest.mark.parametrize("name", list(CASES))
def test_a_successful_form_redirects_to_the_page_displayed(client, roles, name):
    case = CASES[name]
    site = SiteFactory(code="PLANT1", facility_identification_number="G1234")
    user = person(case.role, sites=[site], username="actor")
    client.force_login(user)
    url, data = case.setup(user, site)
    headers = {"HTTP_HX_REQUEST": "true"} if case.htmx else {}
    response = client.post(url, data, **headers)
    expected = case.lands_on(user, site)
    if case.htmx:
        assert response.status_code == 204, response.content.decode()[:500]
        assert response["HX-Redirect"] == expected
    else:
        assert response.status_code in (302, 303), response.content.decode()[:2000]
        assert response["Location"] == expected
    # And the page it lands on is a page (a GET that shows it), not another redirect, with
    # the form's success message: the redirect followed a success, not a refusal.
    landed = client.get(expected)
    assert landed.status_code == 200
    assert case.succeeded(landed.content.decode())
