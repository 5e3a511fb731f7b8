"""Fast training pages: the matrix is paged by people with its filters in the URL, its cells
are judged once per person and equal the gate's own answer, and every training page runs
the same number of queries at a small and at a larger data size."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mes import audit
from mes.models import User
from tests.mes.factories import PASSWORD, person
from tests.training.factories import (
    QualificationFactory,
    SOPDocumentFactory,
    SOPRevisionFactory,
    certified,
    require_sop,
    supersede,
    trained,
)
from training import selectors
from training.models import Certification, Qualification, TrainingRecord
from training.services import certifications, gate
from training.views import MATRIX_PAGE_SIZE

ON = dt.date(2026, 6, 1)
STATES = [Certification.Status.ACTIVE, Certification.Status.SUSPENDED,
          Certification.Status.EXPIRED, Certification.Status.REVOKED]


def populate(site, trainer, *, prefix: str, people: int, qualifications: int) -> list[User]:
    """``people`` operators at ``site`` trained and certified for ``qualifications`` new
    qualifications (the first a grade B gowning), each requiring its own SOP, in a mix of
    certification states."""
    from guardian.shortcuts import assign_perm

    revisions, quals = [], []
    for i in range(qualifications):
        revision = SOPRevisionFactory(document__number=f"SOP-{prefix}{i:02d}", revision="1")
        gowning = {"kind": Qualification.Kind.GOWNING, "cleanroom_grade": "B"} if i == 0 else {}
        qualification = QualificationFactory(code=f"{prefix}{i:02d}", name=f"{prefix} {i}",
                                             **gowning)
        require_sop(qualification, revision.document)
        revisions.append(revision)
        quals.append(qualification)
    usernames = [f"{prefix.lower()}{n:03d}" for n in range(people)]
    audit.bulk_create_with_history(
        [User(username=username, full_name=f"Matrix {prefix} {username[-3:]}", password="!")
         for username in usernames], User, user=trainer)
    users = list(User.objects.filter(username__in=usernames).order_by("username"))
    for user in users:
        assign_perm("mes.view_site", user, site)
    audit.bulk_create_with_history(
        [TrainingRecord(trainee=u, trainer=trainer, sop_revision=r, site=site,
                        trained_on=dt.date(2026, 2, 1), assessment="passed",
                        status="complete", recorded_by=trainer)
         for u in users for r in revisions], TrainingRecord, user=trainer)
    audit.bulk_create_with_history(
        [Certification(person=u, qualification=q, site=site, valid_from=dt.date(2026, 2, 1),
                       valid_until=dt.date(2027, 1, 31), status=STATES[(n + i) % 4])
         for n, u in enumerate(users) for i, q in enumerate(quals)], Certification,
        user=trainer)
    return users


def count_queries(client, url, params=None):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return response, len(captured)


# --- Paging and filters ----------------------------------------------------------------------
@pytest.mark.req("TRN-PERF-001:paged")
def test_the_matrix_shows_25_people_a_page_and_keeps_its_filters_across_pages(
        client, site, trainer, supervisor):
    # Given 60 people at the site (with the trainer and supervisor: 62)
    populate(site, trainer, prefix="PG", people=60, qualifications=2)
    client.force_login(supervisor)
    url = reverse("training:matrix")
    # When the supervisor opens the first page, then the last
    first = client.get(url, {"site": site.pk, "q": "Matrix"})
    html = first.content.decode()
    # Then a page shows 25 people, and the links carry the filters and the page number
    assert MATRIX_PAGE_SIZE == 25
    assert html.count("<tr data-person=") == 25
    assert "Page 1 of 3" in html and "people 1–25 of 60" in html
    assert f"?site={site.pk}&amp;q=Matrix&amp;page=2" in html
    last = client.get(url, {"site": site.pk, "q": "Matrix", "page": 3}).content.decode()
    assert last.count("<tr data-person=") == 10 and "Page 3 of 3" in last
    seen = set()
    for page in (1, 2, 3):
        response = client.get(url, {"site": site.pk, "q": "Matrix", "page": page})
        seen |= {row[0].username for row in response.context["rows"]}
    assert len(seen) == 60
    # A page number that is not one shows the first page rather than failing
    assert client.get(url, {"site": site.pk, "page": "x"}).status_code == 200


@pytest.mark.req("TRN-PERF-001:filters")
def test_the_matrix_filters_by_status_and_name_before_paging(client, site, trainer,
                                                             supervisor):
    # Given 60 people, each with a suspended cell on either of two qualifications but one
    # in four, and one person with the name searched for
    users = populate(site, trainer, prefix="FS", people=60, qualifications=2)
    client.force_login(supervisor)
    url = reverse("training:matrix")
    # (n + i) % 4 == 1 is suspended: person n has one iff n % 4 in (0, 1)
    with_suspended = {u.username for n, u in enumerate(users) if n % 4 in (0, 1)}
    assert len(with_suspended) == 30
    response = client.get(url, {"site": site.pk, "status": "suspended"})
    second = client.get(url, {"site": site.pk, "status": "suspended", "page": 2})
    shown = [row[0].username for r in (response, second) for row in r.context["rows"]]
    # Then only people with a suspended cell are listed, on a full page and the next
    assert len(response.context["rows"]) == 25
    assert sorted(shown) == sorted(with_suspended)
    assert all(any(c.state == "suspended" for c in cells)
               for r in (response, second) for _, cells in r.context["rows"])
    assert "at least one cell “Suspended”" in response.content.decode()
    # The filter is applied before paging: page 2 of 60+ people is not a partial page
    revoked = client.get(url, {"site": site.pk, "status": "revoked"}).context
    assert len(revoked["rows"]) == 25 and revoked["page"].paginator.count == 30
    # Not certified: the trainer and the supervisor hold no certification
    none = client.get(url, {"site": site.pk, "status": "none"}).context["rows"]
    assert {row[0].username for row in none} == {"tr1", "sup1"}
    # By name or username, case-insensitively
    by_name = client.get(url, {"site": site.pk, "q": "fs 007"}).context["rows"]
    assert [row[0].username for row in by_name] == ["fs007"]
    by_username = client.get(url, {"site": site.pk, "q": "SUP1"}).context["rows"]
    assert [row[0].username for row in by_username] == ["sup1"]
    # The CSV carries the same filters
    csv = client.get(url, {"site": site.pk, "status": "suspended", "format": "csv"})
    assert csv.content.decode().count("Matrix FS") == 30
    # An unknown status is ignored with a message, not a 500
    bad = client.get(url, {"site": site.pk, "status": "sideways"})
    assert bad.status_code == 200 and "This filter is ignored" in bad.content.decode()
    assert len(bad.context["rows"]) == 25


@pytest.mark.req("TRN-PERF-001:filters")
def test_the_grade_filter_is_applied_before_paging(client, site, trainer, supervisor):
    users = populate(site, trainer, prefix="GR", people=120, qualifications=1)
    client.force_login(supervisor)
    # Only the active gowning certifications (n % 4 == 0) qualify for grade B
    pages = [client.get(reverse("training:matrix"), {"site": site.pk, "grade": "B", "page": n})
             for n in (1, 2)]
    assert pages[0].context["page"].paginator.count == 30
    assert {row[0].username for page in pages for row in page.context["rows"]} == {
        u.username for n, u in enumerate(users) if n % 4 == 0}


@pytest.mark.req("TRN-PERF-001:once-per-person")
def test_the_matrix_judges_each_person_once_not_each_cell(client, site, trainer, supervisor):
    populate(site, trainer, prefix="OP", people=8, qualifications=5)
    client.force_login(supervisor)
    with (mock.patch.object(gate, "assess", wraps=gate.assess) as per_cell,
          mock.patch.object(gate, "assess_person", wraps=gate.assess_person) as per_person):
        response = client.get(reverse("training:matrix"), {"site": site.pk})
    assert len(response.context["rows"]) == 10  # 8 operators, the trainer, the supervisor
    assert per_person.call_count == 10
    assert per_cell.call_count == 0


# --- The matrix equals the gate ------------------------------------------------------------
@pytest.fixture
def mixed(site, other_site, trainer, roles):
    """People whose cells for CELL-SEL (SOP-CS) and FILL (SOP-FF, grace 30 days) are in every
    state the gate knows."""
    cs = SOPRevisionFactory(document__number="SOP-CS", revision="1")
    ff = SOPRevisionFactory(document=SOPDocumentFactory(number="SOP-FF",
                                                        retraining_grace_days=30),
                            revision="1")
    cell_sel = QualificationFactory(code="CELL-SEL")
    require_sop(cell_sel, cs.document)
    fill = QualificationFactory(code="FILL")
    require_sop(fill, ff.document)
    require_sop(fill, cs.document)  # FILL needs both: SOP-CS is judged once, used twice
    no_sop = QualificationFactory(code="LOOK")

    def operator(username):
        return person("Operator", sites=[site], username=username, full_name=username)

    ok = operator("ok")
    for rev in (cs, ff):
        trained(ok, rev, trainer=trainer, site=site)
    for q in (cell_sel, fill, no_sop):
        certified(ok, q, site)

    expired = operator("expired")
    trained(expired, cs, trainer=trainer, site=site)
    certified(expired, cell_sel, site, valid_until=dt.date(2026, 5, 31))  # past, still active
    certified(expired, fill, site, status=Certification.Status.EXPIRED,
              valid_until=dt.date(2026, 4, 30))
    certified(expired, no_sop, site, valid_until=dt.date(2026, 6, 20))  # expiring soon

    suspended = operator("suspended")
    trained(suspended, cs, trainer=trainer, site=site)
    certified(suspended, cell_sel, site, status=Certification.Status.SUSPENDED)
    certified(suspended, fill, site, status=Certification.Status.REVOKED)
    certified(suspended, no_sop, site, status=Certification.Status.REVOKED,
              valid_until=dt.date(2026, 5, 1))
    certified(suspended, no_sop, site, valid_from=dt.date(2026, 7, 1))  # current: not yet

    untrained = operator("untrained")  # certified, but training failed or unverified
    trained(untrained, cs, trainer=trainer, site=site,
            assessment=TrainingRecord.Assessment.FAILED)
    trained(untrained, ff, trainer=trainer, site=site,
            status=TrainingRecord.Status.AWAITING_VERIFICATION)
    certified(untrained, cell_sel, site)
    certified(untrained, fill, site)
    certified(untrained, no_sop, site, valid_from=dt.date(2026, 6, 2))
    certified(untrained, no_sop, other_site)  # another site's certification does not count

    superseded = operator("superseded")
    for rev in (cs, ff):
        trained(superseded, rev, trainer=trainer, site=site)
    certified(superseded, cell_sel, site)
    certified(superseded, fill, site)
    # SOP-CS rev. 2 effective since 2026-05-01 (no grace: retraining due); SOP-FF rev. 2
    # since 2026-05-20 (30 days of grace: still fine on 2026-06-01)
    supersede(cs, "2", dt.date(2026, 5, 1))
    supersede(ff, "2", dt.date(2026, 5, 20))

    cs_2 = cs.document.revisions.get(revision="2")
    trained(ok, cs_2, trainer=trainer, site=site, on=dt.date(2026, 5, 2))
    retrained = operator("retrained")
    trained(retrained, cs_2, trainer=trainer, site=site, on=dt.date(2026, 5, 2))
    trained(retrained, ff, trainer=trainer, site=site)
    certified(retrained, cell_sel, site)
    certified(retrained, fill, site)
    operator("nobody")  # no certification at all
    return [cell_sel, fill, no_sop]


@pytest.mark.req("TRN-PERF-002:cells")
def test_every_matrix_cell_is_exactly_the_gates_answer(client, site, supervisor, mixed):
    # When the matrix is computed for the site's people
    qualifications = selectors.matrix_qualifications()
    assert [q.code for q in qualifications] == ["CELL-SEL", "FILL", "LOOK"]
    _, rows = selectors.matrix_page(site=site, qualifications=qualifications, on=ON)
    by_name = {p.username: cells for p, cells in rows}
    # Then each cell's reasons are the gate's reasons for that person and qualification
    for username in ("ok", "expired", "suspended", "untrained", "superseded", "retrained",
                     "nobody"):
        someone = User.objects.get(username=username)
        for qualification, cell in zip(qualifications, by_name[username], strict=True):
            answer = gate.check_certified(person=someone, qualification_codes=[
                qualification.code], site=site, at=ON)
            assert cell.reasons == answer.reasons, (username, qualification.code)
            assert (cell.state in ("ok", "expiring")) == answer.certified
    # and the mix covers every state and reason the gate gives
    states = {username: [c.state for c in cells] for username, cells in by_name.items()}
    assert states["ok"] == ["ok", "ok", "ok"]
    assert states["expired"] == ["expired", "expired", "expiring"]
    assert states["suspended"] == ["suspended", "revoked", "pending"]
    assert states["untrained"] == ["retrain", "retrain", "pending"]
    assert states["superseded"] == ["retrain", "retrain", "none"]
    assert states["retrained"] == ["ok", "ok", "none"]
    assert states["nobody"] == ["none", "none", "none"]
    codes = {r.code for cells in by_name.values() for c in cells for r in c.reasons}
    assert codes == {"expired", "suspended", "revoked", "not_qualified", "not_trained",
                     "retraining_required"}
    # The page shows the same states
    client.force_login(supervisor)
    html = client.get(reverse("training:matrix"), {"site": site.pk, "q": "superseded"}
                      ).content.decode()
    assert html.count('data-state="retrain"') == 2
    assert "Trained on a superseded revision of SOP-CS" in html


@pytest.mark.req("TRN-PERF-002:pure-rule")
def test_assess_person_equals_assess_per_qualification(site, mixed):
    qualifications = list(gate.qualifications_with_sops().filter(pk__in=[q.pk for q in mixed]))
    facts = gate.load_facts(qualifications)
    for someone in User.objects.filter(username__in=["ok", "expired", "suspended",
                                                     "untrained", "superseded", "retrained",
                                                     "nobody"]):
        trainings = gate.load_trainings([someone.pk], facts.effective).get(someone.pk, {})
        picked = {q.pk: gate.pick_certification(Certification.objects.filter(
            person=someone, qualification=q, site=site)) for q in qualifications}
        at_once = gate.assess_person(qualifications, picked, trainings, facts, ON, someone,
                                     site)
        for q in qualifications:
            assert at_once[q.pk] == gate.assess(q, picked[q.pk], trainings, facts, ON,
                                                someone, site)


# --- Query budgets ---------------------------------------------------------------------------
MATRIX_VIEWS = [{}, {"page": 2}, {"status": "suspended"}, {"status": "revoked"},
                {"grade": "B"}, {"q": "matrix"}, {"format": "csv"}]


@pytest.mark.req("TRN-PERF-003:matrix")
def test_the_matrix_runs_the_same_queries_at_3_and_at_60_people(client, site, trainer,
                                                                 supervisor):
    # Given 3 people × 3 qualifications
    populate(site, trainer, prefix="S", people=3, qualifications=3)
    client.force_login(supervisor)
    url = reverse("training:matrix")
    client.get(url, {"site": site.pk})  # warm the session and permission caches
    few = {str(p): count_queries(client, url, {"site": site.pk, **p})[1] for p in MATRIX_VIEWS}
    # When 57 more people and 27 more qualifications arrive (two pages of people)
    populate(site, trainer, prefix="L", people=57, qualifications=27)
    many = {}
    for params in MATRIX_VIEWS:
        response, many[str(params)] = count_queries(client, url, {"site": site.pk, **params})
        if "format" not in params:
            assert response.context["rows"]
    # Then every view of the matrix runs exactly as many queries as before
    assert many == few
    full = client.get(url, {"site": site.pk}).context
    assert len(full["rows"]) == 25 and len(full["qualifications"]) == 30


@pytest.mark.req("TRN-PERF-003:person", "TRN-UI-002:shows")
def test_a_persons_page_runs_the_same_queries_at_3_and_at_30_certifications(
        client, site, trainer, operator):
    def grow(start, stop):
        for i in range(start, stop):
            revision = SOPRevisionFactory(document__number=f"SOP-P{i:02d}", revision="1")
            qualification = QualificationFactory(code=f"P{i:02d}")
            require_sop(qualification, revision.document)
            trained(operator, revision, trainer=trainer, site=site)
            cert = certifications.grant_certification(
                actor=trainer, password=PASSWORD, person=operator,
                qualification=qualification, site=site, reason="Observed")
            if i % 2:
                certifications.suspend_certification(actor=trainer, password=PASSWORD,
                                                      certification=cert, reason="Media fill")

    grow(0, 3)
    client.force_login(trainer)
    url = reverse("training:person", args=[operator.pk])
    client.get(url)  # warm the caches
    _, few = count_queries(client, url)
    grow(3, 30)
    response, many = count_queries(client, url)
    html = response.content.decode()
    assert html.count("<tr data-certification=") == 30
    assert html.count("<tr data-record=") == 30
    assert html.count('class="manifestation') == 30 + 15  # every grant, every suspension
    assert many == few


@pytest.mark.req("TRN-PERF-003:sops")
def test_the_sop_list_runs_the_same_queries_at_3_and_at_30_sops(client, site, qa_user):
    def grow(start, stop):
        for i in range(start, stop):
            revision = SOPRevisionFactory(document__number=f"SOP-L{i:02d}", revision="1")
            supersede(revision, "2", dt.date(2026, 3, 1))
            SOPRevisionFactory(document=revision.document, revision="3",
                               status="draft", effective_date=None)
            require_sop(QualificationFactory(code=f"L{i:02d}"), revision.document)

    grow(0, 3)
    client.force_login(qa_user)
    url = reverse("training:sops")
    client.get(url)
    _, few = count_queries(client, url)
    grow(3, 30)
    response, many = count_queries(client, url)
    html = response.content.decode()
    assert html.count("<tr data-sop=") == 30 and html.count('class="revision"') == 90
    assert many == few


@pytest.mark.req("TRN-PERF-003:home")
def test_the_home_panel_runs_the_same_queries_at_3_and_at_30_certifications(
        client, site, trainer, roles):
    someone = person("Operator", sites=[site], username="hp", full_name="Home Page")
    other = person("Operator", sites=[site], username="hp2", full_name="Other")

    def grow(start, stop):
        for i in range(start, stop):
            revision = SOPRevisionFactory(document__number=f"SOP-H{i:02d}", revision="1")
            qualification = QualificationFactory(code=f"H{i:02d}")
            require_sop(qualification, revision.document)
            certified(someone, qualification, site, valid_until=dt.date(2026, 6, 10 + i % 10))
            trained(other, revision, trainer=trainer, site=site,
                    status=TrainingRecord.Status.AWAITING_VERIFICATION)

    grow(0, 3)
    viewers = (someone, trainer)  # their own certifications; training awaiting verification
    url = reverse("home")
    few = {}
    for viewer in viewers:
        client.force_login(viewer)
        client.get(url)  # warm the caches
        few[viewer.username] = count_queries(client, url)[1]
    grow(3, 30)
    many = {}
    for viewer in viewers:
        client.force_login(viewer)
        client.get(url)
        response, many[viewer.username] = count_queries(client, url)
        assert 'id="training-panel"' in response.content.decode()
    assert many == few
