"""Reads shared by the training pages, the API and other apps: the certification matrix, a
person's certifications and training records, what expires soon. Each loads its joins up
front, so the number of queries does not grow with people or qualifications."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Page, Paginator
from django.db.models import Case, Prefetch, Q, QuerySet, Value, When, prefetch_related_objects
from django.utils.html import escape
from django.utils.safestring import mark_safe

from mes.models import ElectronicSignature, Site, User
from training.models import (
    Certification,
    CertificationDecision,
    Qualification,
    QualificationSOP,
    TrainingRecord,
    grade_covers,
)
from training.services import gate
from training.services.expiry import warning_days

# The states a matrix cell can show, as the status filter offers them.
CELL_STATES = [("ok", "Certified"), ("expiring", "Expires soon"), ("retrain", "Retraining due"),
               ("pending", "Not yet valid"), ("suspended", "Suspended"), ("revoked", "Revoked"),
               ("expired", "Expired"), ("none", "Not certified")]


@dataclass(frozen=True)
class MatrixCell:
    state: str  # ok | expiring | retrain | suspended | revoked | expired | pending | none
    certification: Certification | None
    reasons: tuple[gate.GateReason, ...]

    @property
    def label(self) -> str:
        return {"ok": "Certified", "expiring": "Expires soon", "retrain": "Retraining due",
                "suspended": "Suspended", "revoked": "Revoked", "expired": "Expired",
                "pending": "Not yet valid", "none": "—"}[self.state]

    def as_td(self) -> str:
        """The cell's table cell, built here rather than in the template: a page shows
        750 of them and template nodes per cell dominate its time. Only the reasons are
        text from outside; the rest are integers, dates and this module's own words."""
        cert = self.certification
        if cert is None:
            return _EMPTY_TD
        title = escape("".join(f"{r.message} " for r in self.reasons)) if self.reasons else ""
        # Every part is an integer, an ISO date, one of this module's words, or escaped.
        return mark_safe(  # noqa: S308
            f'<td data-qualification="{int(cert.qualification_id)}" data-state="{self.state}">'
            f'<span class="pill {self.pill}" title="{title}">{self.label}</span>'
            f'<div class="muted nowrap">until {cert.valid_until.isoformat()}</div></td>')

    @property
    def pill(self) -> str:
        return {"ok": "pill-ok", "expiring": "pill-warn", "retrain": "pill-warn",
                "suspended": "pill-bad", "revoked": "pill-bad", "expired": "pill-bad",
                "pending": "pill-warn", "none": ""}[self.state]


_EMPTY_TD = mark_safe(
    '<td data-qualification="" data-state="none"><span class="muted">—</span></td>')


def cell_state(cert: Certification | None, reasons, on: dt.date, warn_days: int) -> str:
    codes = {r.code for r in reasons}
    if cert is None:
        return "none"
    for code in ("revoked", "suspended", "expired"):
        if code in codes:
            return code
    if "not_qualified" in codes:
        return "pending"
    if codes & {"retraining_required", "not_trained"}:
        return "retrain"
    if cert.valid_until <= on + dt.timedelta(days=warn_days):
        return "expiring"
    return "ok"


def people_at(site: Site) -> QuerySet[User]:
    from django.conf import settings

    return (User.objects.filter(siteuserobjectpermission__content_object=site,
                                siteuserobjectpermission__permission__codename="view_site",
                                is_active=True)
            .exclude(username=settings.SYSTEM_USERNAME).distinct().order_by("full_name", "pk"))


# Columns in the order work happens: gowning, process steps, equipment, reviewer roles.
KIND_ORDER = Case(*[When(kind=kind, then=Value(i)) for i, kind in enumerate(
    [Qualification.Kind.GOWNING, Qualification.Kind.PROCESS, Qualification.Kind.EQUIPMENT,
     Qualification.Kind.REVIEWER])], default=Value(9))


def matrix_qualifications(*, qualification: str = "") -> list[Qualification]:
    quals = gate.qualifications_with_sops().filter(is_active=True).order_by(KIND_ORDER, "pk")
    if qualification:
        quals = quals.filter(code=qualification)
    return list(quals)


def certification_matrix(*, site: Site, people: list[User], qualifications: list[Qualification],
                         on: dt.date, grade: str = "") -> list[tuple[User, list[MatrixCell]]]:
    """One row per person, one cell per qualification, judged by the gate's own rule once
    per person (`gate.assess_person`), in a constant number of queries.
    With ``grade``, only people gowning-qualified for that cleanroom grade are kept."""
    person_ids = [p.pk for p in people]
    gowning_quals = []
    if grade:
        gowning_quals = [q for q in gate.qualifications_with_sops().filter(
            kind=Qualification.Kind.GOWNING, is_active=True,
            cleanroom_grade__in=gate.covering_grades(grade)) if grade_covers(q.cleanroom_grade,
                                                                             grade)]
    facts = gate.load_facts([*qualifications, *gowning_quals])
    trainings = gate.load_trainings(person_ids, facts.effective.keys())
    certs: dict[tuple[int, int], list[Certification]] = defaultdict(list)
    wanted = {q.pk for q in qualifications} | {q.pk for q in gowning_quals}
    for cert in Certification.objects.filter(
            site=site, person_id__in=person_ids, qualification_id__in=wanted).only(
            "person_id", "qualification_id", "site_id", "status", "valid_from", "valid_until"):
        certs[(cert.person_id, cert.qualification_id)].append(cert)
    warn = warning_days()
    rows = []
    for person in people:
        pid = person.pk
        done = trainings.get(pid, {})
        picked = {q: gate.pick_certification(certs.get((pid, q), ())) for q in wanted}
        if grade and not any(not reasons for reasons in gate.assess_person(
                gowning_quals, picked, done, facts, on, person, site).values()):
            continue
        reasons = gate.assess_person(qualifications, picked, done, facts, on, person, site)
        rows.append((person, [
            MatrixCell(cell_state(picked[q.pk], reasons[q.pk], on, warn), picked[q.pk],
                       tuple(reasons[q.pk]))
            for q in qualifications]))
    return rows


def _could_be_in_state(status: str, on: dt.date) -> Q:
    """A superset, in SQL, of the certifications whose cell may show ``status`` (the exact
    state is the gate's, computed afterwards)."""
    active = Q(status=Certification.Status.ACTIVE)
    return {
        "ok": active, "retrain": active,
        "expiring": active & Q(valid_until__lte=on + dt.timedelta(days=warning_days())),
        "pending": Q(valid_from__gt=on),
        "suspended": Q(status=Certification.Status.SUSPENDED),
        "revoked": Q(status=Certification.Status.REVOKED),
        "expired": Q(status=Certification.Status.EXPIRED) | Q(valid_until__lt=on),
    }[status]


def matrix_page(*, site: Site, qualifications: list[Qualification], on: dt.date,
                grade: str = "", status: str = "", name: str = "", page=None,
                per_page: int | None = None) -> tuple[Page | None, list]:
    """The rows of one page of the matrix (every row with ``page=None``, for the CSV).
    Without a grade or status filter the people are paged in SQL and only the page's cells
    are computed; with one, the candidates are narrowed in SQL, judged, then paged."""
    people = people_at(site)
    if name:
        people = people.filter(Q(full_name__icontains=name) | Q(username__icontains=name))
    if not grade and not status:
        if page is None:
            return None, certification_matrix(site=site, people=list(people),
                                              qualifications=qualifications, on=on)
        shown = Paginator(people, per_page).get_page(page)
        return shown, certification_matrix(site=site, people=list(shown.object_list),
                                           qualifications=qualifications, on=on)
    if grade:
        people = people.filter(pk__in=Certification.objects.filter(
            site=site, qualification__kind=Qualification.Kind.GOWNING,
            qualification__cleanroom_grade__in=gate.covering_grades(grade),
        ).values("person_id"))
    if status and status != "none":
        people = people.filter(pk__in=Certification.objects.filter(
            _could_be_in_state(status, on), site=site, qualification__in=qualifications,
        ).values("person_id"))
    rows = certification_matrix(site=site, people=list(people), qualifications=qualifications,
                                on=on, grade=grade)
    if status:
        rows = [row for row in rows if any(cell.state == status for cell in row[1])]
    if page is None:
        return None, rows
    shown = Paginator(rows, per_page).get_page(page)
    return shown, list(shown.object_list)


def _signatures_of(model) -> Prefetch:
    content_type = ContentType.objects.get_for_model(model)
    return Prefetch("signatures", queryset=ElectronicSignature.objects.filter(
        content_type=content_type).order_by("signed_at", "pk"))


def _decisions_with_signatures() -> Prefetch:
    decisions = (CertificationDecision.objects.select_related("decided_by", "site")
                 .prefetch_related(_signatures_of(CertificationDecision)))
    return Prefetch("decisions", queryset=decisions)


def certifications_of(person: User, *, sites) -> QuerySet[Certification]:
    return (Certification.objects.filter(person=person, site__in=sites)
            .select_related("qualification", "site")
            .prefetch_related(_decisions_with_signatures())
            .order_by("site__code", "qualification__code", "-valid_from", "-pk"))


def training_records(queryset: QuerySet[TrainingRecord]) -> QuerySet[TrainingRecord]:
    return (queryset.select_related("trainee", "trainer", "recorded_by", "site",
                                   "sop_revision__document")
            .prefetch_related(_signatures_of(TrainingRecord))
            .order_by("-trained_on", "-pk"))


def awaiting_my_verification(trainer: User) -> QuerySet[TrainingRecord]:
    return training_records(TrainingRecord.objects.visible_to(trainer).filter(
        trainer=trainer, status=TrainingRecord.Status.AWAITING_VERIFICATION))


def expiring_soon(person: User, *, on: dt.date, days: int | None = None
                  ) -> list[Certification]:
    days = warning_days() if days is None else days
    return list(Certification.objects.filter(
        person=person, status=Certification.Status.ACTIVE,
        valid_until__gte=on, valid_until__lte=on + dt.timedelta(days=days),
    ).select_related("qualification", "site").order_by("valid_until"))


def matrix_qualifications_by_pk(pks) -> list[Qualification]:
    return list(gate.qualifications_with_sops().filter(pk__in=list(pks))
                .order_by(KIND_ORDER, "pk"))


def standing_of(person: User, certifications: list[Certification], *, current: bool = False
                ) -> dict[tuple[int, int], MatrixCell]:
    """How each of ``person``'s certifications stands today by the gate's rule (so an
    active one whose training is out of date shows as such), keyed by (site, qualification):
    the matrix's judgement, for one person at all their sites at once (five queries).

    ``current``: the certifications given are the person's current ones (with their
    qualification and site loaded), so they are the ones the gate picks and nothing more is
    read about them (three queries)."""
    if not certifications:
        return {}
    sites = {cert.site_id: cert.site for cert in certifications}
    wanted = {(c.site_id, c.qualification_id) for c in certifications}
    held: dict[tuple[int, int], list[Certification]] = defaultdict(list)
    if current:
        quals = {c.qualification_id: c.qualification for c in certifications}
        links = QualificationSOP.objects.select_related("document").order_by("document__number")
        prefetch_related_objects(list(quals.values()), Prefetch("sop_links", queryset=links))
        for cert in certifications:
            held[(cert.site_id, cert.qualification_id)].append(cert)
    else:
        quals = {q.pk: q for q in matrix_qualifications_by_pk({q for _, q in wanted})}
    facts = gate.load_facts(quals.values())
    done = gate.load_trainings([person.pk], facts.effective.keys()).get(person.pk, {})
    if not current:
        for cert in Certification.objects.filter(person=person, site_id__in=sites,
                                                 qualification_id__in=quals):
            held[(cert.site_id, cert.qualification_id)].append(cert)
    warn = warning_days()
    standing = {}
    for site_id, site in sites.items():
        on = gate.local_date(site, None)
        at_site = [quals[q] for s, q in wanted if s == site_id]
        picked = {q.pk: gate.pick_certification(held.get((site_id, q.pk), ())) for q in at_site}
        reasons = gate.assess_person(at_site, picked, done, facts, on, person, site)
        for q in at_site:
            standing[(site_id, q.pk)] = MatrixCell(
                cell_state(picked[q.pk], reasons[q.pk], on, warn), picked[q.pk],
                tuple(reasons[q.pk]))
    return standing


def certifications_of_sites(sites) -> QuerySet[Certification]:
    return (Certification.objects.filter(site__in=sites)
            .select_related("person", "qualification", "site")
            .prefetch_related(_decisions_with_signatures())
            .order_by("site__code", "person__full_name", "qualification__code", "-pk"))


def sop_documents() -> QuerySet:
    from training.models import SOPDocument, SOPRevision

    revisions = SOPRevision.objects.order_by("-pk")
    return (SOPDocument.objects.prefetch_related(Prefetch("revisions", queryset=revisions))
            .order_by("number"))
