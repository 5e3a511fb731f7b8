"""The gate: *may this person do this, here, now?* (21 CFR 11.10(g), (i)).

`check_certified` is the one answer every other app asks for (batch step execution, the
scheduling roster, signatures that need a role); nothing else decides. It returns a
`GateResult` with every reason that applies, never only the first:

* ``no_site_access``: the person has no access to the site;
* ``not_qualified``: no certification for the qualification at the site (or not yet valid);
* ``expired``: the certification was valid until a date that has passed;
* ``suspended`` / ``revoked``: a signed decision took the certification away;
* ``not_trained``: no completed, passed training on the effective revision of a required SOP;
* ``retraining_required``: trained on a superseded SOP revision while a newer one is
  effective and the SOP's grace period (default none) has run out;
* ``not_gowning_qualified``: no valid gowning certification for the suite's cleanroom grade
  (gowning for a stricter grade covers the less strict ones).

`require_certified` raises `NotCertified` listing the reasons; `check_certified_many`
answers for a whole roster in a constant number of queries.

The answer is about the records as they stand: ``at`` moves the date against which validity,
training dates and SOP effective dates are judged, not the statuses (a certification
revoked today fails the gate for yesterday too).

Signatures: `signing_gate` is registered with the kernel's signature service. A signed record
that declares ``required_qualifications(meaning) -> list[str]`` (and optionally
``required_cleanroom_grade(meaning) -> str | None``) can only be signed with that meaning by a
person certified for those qualifications at the record's ``signing_site()``. Records that
declare neither are not touched.

`assess` is the pure rule over loaded facts; `assess_person` applies it to many
qualifications of one person at once (each required SOP judged once), and the certification
matrix calls that once per person, so the page and the gate can never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Prefetch, Q
from django.utils import timezone

from mes.errors import DomainError, SignatureRefused
from mes.models import Site, User
from training.models import (
    GRADE_STRICTNESS,
    Certification,
    CleanroomGrade,
    Qualification,
    QualificationSOP,
    SOPRevision,
    TrainingRecord,
    grade_covers,
)


class NotCertified(DomainError):
    code = "not_certified"
    status = 403


@dataclass(frozen=True)
class GateReason:
    code: str
    qualification: str
    message: str
    date: dt.date | None = None

    def as_dict(self) -> dict:
        return {"code": self.code, "qualification": self.qualification,
                "message": self.message, "date": self.date.isoformat() if self.date else None}


@dataclass(frozen=True)
class GateResult:
    person: User
    site: Site
    on: dt.date
    qualification_codes: tuple[str, ...]
    cleanroom_grade: str | None
    reasons: tuple[GateReason, ...] = field(default_factory=tuple)

    @property
    def certified(self) -> bool:
        return not self.reasons

    def message(self) -> str:
        if self.certified:
            return f"{self.person.full_name} is certified."
        return (f"{self.person.full_name} is not certified at {self.site.code} on "
                f"{self.on.isoformat()}: " + " ".join(r.message for r in self.reasons))


@dataclass(frozen=True)
class TrainingFact:
    document_id: int
    revision_id: int
    trained_on: dt.date


TrainingsByDocument = dict[int, list[TrainingFact]]


@dataclass
class Facts:
    """What the rule needs about the SOPs, loaded once for any number of people."""

    effective: dict[int, SOPRevision]  # document id -> its effective revision


def local_date(site: Site, at: dt.datetime | dt.date | None) -> dt.date:
    if at is None:
        at = timezone.now()
    if isinstance(at, dt.datetime):
        return at.astimezone(site.zone).date()
    return at


_CURRENT_STATUSES = frozenset({Certification.Status.ACTIVE, Certification.Status.SUSPENDED})


def pick_certification(certifications: Iterable[Certification]) -> Certification | None:
    """The certification that speaks for a person, qualification and site: the current one
    (active or suspended) if any, else the most recent."""
    if isinstance(certifications, (list, tuple)) and len(certifications) < 2:  # the usual case
        return certifications[0] if certifications else None
    current = _CURRENT_STATUSES
    chosen = None
    for cert in certifications:
        if chosen is None:
            chosen = cert
            continue
        if (cert.status in current, cert.valid_until, cert.pk) > (
                chosen.status in current, chosen.valid_until, chosen.pk):
            chosen = cert
    return chosen


def sop_links(qualification: Qualification) -> list[QualificationSOP]:
    """The qualification's required SOPs (prefetched by ``qualifications_with_sops``), listed
    once per loaded qualification: a page judging 750 cells asks for them 750 times."""
    links = qualification.__dict__.get("_gate_sop_links")
    if links is None:
        links = qualification.__dict__["_gate_sop_links"] = list(qualification.sop_links.all())
    return links


def certification_reasons(qualification: Qualification, cert: Certification | None,
                          on: dt.date, person: User, site: Site) -> list[GateReason]:
    code = qualification.code
    if cert is None:
        return [GateReason("not_qualified", code,
                           f"{person.full_name} is not certified for {code} at {site.code}.")]
    if cert.status == Certification.Status.REVOKED:
        return [GateReason("revoked", code, f"The certification for {code} was revoked.")]
    reasons = []
    if cert.status == Certification.Status.SUSPENDED:
        reasons.append(GateReason("suspended", code,
                                  f"The certification for {code} is suspended."))
    if cert.status == Certification.Status.EXPIRED or cert.valid_until < on:
        reasons.append(GateReason(
            "expired", code,
            f"The certification for {code} expired: it was valid until "
            f"{cert.valid_until.isoformat()}.", cert.valid_until))
    elif cert.valid_from > on:
        reasons.append(GateReason(
            "not_qualified", code,
            f"The certification for {code} is valid only from {cert.valid_from.isoformat()}.",
            cert.valid_from))
    return reasons


@dataclass(frozen=True)
class DocumentFinding:
    """Why one required SOP is not satisfied, whatever qualification requires it."""

    code: str
    message: str
    date: dt.date | None = None


def document_finding(link: QualificationSOP, trainings: TrainingsByDocument, facts: Facts,
                     on: dt.date) -> DocumentFinding | None:
    """The SOP-revision rule for one required SOP and one person's counting trainings."""
    effective = facts.effective.get(link.document_id)
    if effective is None:
        return None  # nothing is in force yet, so nothing can be required
    number = link.document.number
    done = [f for f in trainings.get(link.document_id, ()) if f.trained_on <= on]
    if any(f.revision_id == effective.pk for f in done):
        return None
    if not done:
        return DocumentFinding("not_trained",
                               f"No completed training on {number} rev. {effective.revision}.")
    grace = link.document.retraining_grace_days
    deadline = effective.effective_date + dt.timedelta(days=grace)
    if on < deadline:
        return None
    return DocumentFinding(
        "retraining_required",
        f"Trained on a superseded revision of {number}; revision "
        f"{effective.revision} is effective since {effective.effective_date.isoformat()}"
        + (f" (grace period ended {deadline.isoformat()})." if grace else "."),
        effective.effective_date)


def training_reasons(qualification: Qualification, trainings: TrainingsByDocument,
                     facts: Facts, on: dt.date,
                     findings: dict[int, DocumentFinding | None] | None = None
                     ) -> list[GateReason]:
    """The SOP-revision rule for one qualification and one person's counting trainings.
    ``findings`` memoises each SOP's finding across the qualifications of one person."""
    findings = {} if findings is None else findings
    reasons = []
    for link in sop_links(qualification):
        if link.document_id not in findings:
            findings[link.document_id] = document_finding(link, trainings, facts, on)
        found = findings[link.document_id]
        if found is not None:
            reasons.append(GateReason(found.code, qualification.code, found.message,
                                      found.date))
    return reasons


def assess(qualification: Qualification, cert: Certification | None,
           trainings: TrainingsByDocument, facts: Facts, on: dt.date, person: User,
           site: Site) -> list[GateReason]:
    """Every reason ``person`` may not act under ``qualification`` at ``site`` on ``on``."""
    return (certification_reasons(qualification, cert, on, person, site)
            + training_reasons(qualification, trainings, facts, on))


def assess_person(qualifications: Iterable[Qualification],
                  certifications: dict[int, Certification | None],
                  trainings: TrainingsByDocument, facts: Facts, on: dt.date, person: User,
                  site: Site) -> dict[int, list[GateReason]]:
    """`assess` for many qualifications of one person at once, keyed by qualification id
    (``certifications`` is the picked certification per qualification id): each required
    SOP is judged once for the person, however many qualifications require it."""
    findings: dict[int, DocumentFinding | None] = {}
    return {q.pk: (certification_reasons(q, certifications.get(q.pk), on, person, site)
                   + training_reasons(q, trainings, facts, on, findings))
            for q in qualifications}


# --- Loading the facts (shared with the matrix) ----------------------------------------------
def qualifications_with_sops():
    links = QualificationSOP.objects.select_related("document").order_by("document__number")
    return Qualification.objects.prefetch_related(Prefetch("sop_links", queryset=links))


def load_facts(qualifications: Iterable[Qualification]) -> Facts:
    document_ids = {link.document_id for q in qualifications for link in q.sop_links.all()}
    effective = SOPRevision.objects.filter(document_id__in=document_ids,
                                           status=SOPRevision.Status.EFFECTIVE)
    return Facts(effective={rev.document_id: rev for rev in effective})


def load_trainings(people_ids: Iterable[int], document_ids: Iterable[int]
                   ) -> dict[int, TrainingsByDocument]:
    """Each person's counting trainings (complete, passed), by SOP document."""
    rows = (TrainingRecord.objects
            .filter(trainee_id__in=list(people_ids),
                    sop_revision__document_id__in=list(document_ids),
                    status=TrainingRecord.Status.COMPLETE,
                    assessment=TrainingRecord.Assessment.PASSED)
            .values_list("trainee_id", "sop_revision__document_id", "sop_revision_id",
                         "trained_on"))
    out: dict[int, TrainingsByDocument] = defaultdict(lambda: defaultdict(list))
    for trainee_id, document_id, revision_id, trained_on in rows:
        out[trainee_id][document_id].append(TrainingFact(document_id, revision_id, trained_on))
    return out


def covering_grades(grade: str) -> list[str]:
    return [g for g in GRADE_STRICTNESS if grade_covers(g, grade)]


# --- The gate ------------------------------------------------------------------------------
def check_certified(*, person: User, qualification_codes: Iterable[str], site: Site,
                    at: dt.datetime | dt.date | None = None,
                    cleanroom_grade: str | None = None) -> GateResult:
    """Is ``person`` certified for every qualification in ``qualification_codes`` (and, with
    ``cleanroom_grade``, gowning-qualified for that grade) at ``site`` at ``at`` (now)?"""
    return check_certified_many(people=[person], qualification_codes=qualification_codes,
                                site=site, at=at, cleanroom_grade=cleanroom_grade)[person.pk]


def check_certified_many(*, people: Iterable[User], qualification_codes: Iterable[str],
                         site: Site, at: dt.datetime | dt.date | None = None,
                         cleanroom_grade: str | None = None) -> dict[int, GateResult]:
    """`check_certified` for many people at once (a roster, a board), in a constant number
    of queries; the answer for each person is keyed by their id."""
    people = list(people)
    loaded = _load(people, qualification_codes, site, cleanroom_grade)
    return _judge(loaded, people, loaded.codes, site, local_date(site, at))


def check_certified_each_day(*, people: Iterable[User], qualification_codes: Iterable[str],
                             site: Site, days: Iterable[dt.date],
                             cleanroom_grade: str | None = None,
                             ) -> dict[tuple[dt.date, str], dict[int, GateResult]]:
    """`check_certified_many` for each of ``days`` and each qualification on its own (with
    the gowning for ``cleanroom_grade``), keyed by (day, code): a roster over a whole run,
    in the same constant number of queries."""
    people = list(people)
    loaded = _load(people, qualification_codes, site, cleanroom_grade)
    return {(day, code): _judge(loaded, people, (code,), site, day)
            for day in days for code in loaded.codes}


@dataclass
class _Loaded:
    """What the gate needs about some people and qualifications, loaded once."""

    codes: tuple[str, ...]
    grade: str | None
    qualifications: dict[str, Qualification]
    facts: Facts
    trainings: dict
    certs: dict
    with_access: set[int]
    gowning: list[Qualification]


def _load(people: list[User], qualification_codes: Iterable[str], site: Site,
          cleanroom_grade: str | None) -> _Loaded:
    codes = tuple(dict.fromkeys(c.strip().upper() for c in qualification_codes if c.strip()))
    grade = (cleanroom_grade or "").strip().upper() or None
    if grade is not None and grade not in CleanroomGrade.values:
        raise DomainError(f"“{cleanroom_grade}” is not a cleanroom grade (A, B, C or D).",
                          code="unknown_grade", fields={"cleanroom_grade": ["Unknown grade."]})
    if not codes and grade is None:
        raise DomainError("Name at least one qualification or a cleanroom grade.",
                          code="nothing_to_check")

    wanted = Q(code__in=codes)
    if grade is not None:
        wanted |= Q(kind=Qualification.Kind.GOWNING, cleanroom_grade__in=covering_grades(grade),
                    is_active=True)
    qualifications = {q.code: q for q in qualifications_with_sops().filter(wanted)}
    unknown = [c for c in codes if c not in qualifications]
    if unknown:
        raise DomainError(f"Unknown qualification: {', '.join(unknown)}.",
                          code="unknown_qualification",
                          fields={"qualification_codes": [f"Unknown: {', '.join(unknown)}"]})
    ids = [p.pk for p in people]
    facts = load_facts(qualifications.values())
    trainings = load_trainings(ids, facts.effective.keys())
    certs: dict[tuple[int, int], list[Certification]] = defaultdict(list)
    for cert in Certification.objects.filter(person_id__in=ids, site=site,
                                             qualification__in=qualifications.values()):
        certs[(cert.person_id, cert.qualification_id)].append(cert)
    with_access = set(User.objects.filter(
        pk__in=ids, is_active=True, siteuserobjectpermission__content_object=site,
        siteuserobjectpermission__permission__codename="view_site",
    ).values_list("pk", flat=True))
    gowning = [q for q in qualifications.values()
               if q.kind == Qualification.Kind.GOWNING and q.is_active
               and grade is not None and grade_covers(q.cleanroom_grade, grade)]

    return _Loaded(codes, grade, qualifications, facts, trainings, certs, with_access, gowning)


def _judge(loaded: _Loaded, people: list[User], codes: tuple[str, ...], site: Site,
           on: dt.date) -> dict[int, GateResult]:
    grade, qualifications, facts = loaded.grade, loaded.qualifications, loaded.facts
    trainings, certs, with_access, gowning = (loaded.trainings, loaded.certs,
                                              loaded.with_access, loaded.gowning)
    results = {}
    for person in people:
        done = trainings.get(person.pk, {})
        reasons: list[GateReason] = []
        if person.pk not in with_access:
            reasons.append(GateReason("no_site_access", "",
                                      f"{person.full_name} has no active access to "
                                      f"{site.code}."))
        for code in codes:
            qualification = qualifications[code]
            if not qualification.is_active:
                reasons.append(GateReason("not_qualified", code,
                                          f"The qualification {code} is withdrawn."))
                continue
            reasons += assess(qualification,
                              pick_certification(certs[(person.pk, qualification.pk)]),
                              done, facts, on, person, site)
        if grade is not None:
            findings = {q.code: assess(q, pick_certification(certs[(person.pk, q.pk)]), done,
                                       facts, on, person, site) for q in gowning}
            if not any(not found for found in findings.values()):
                detail = " ".join(r.message for found in findings.values() for r in found
                                  if r.code != "not_qualified")
                reasons.append(GateReason(
                    "not_gowning_qualified", ",".join(sorted(findings)),
                    f"{person.full_name} is not gowning-qualified for grade {grade}."
                    + (f" {detail}" if detail else "")))
        results[person.pk] = GateResult(person=person, site=site, on=on,
                                        qualification_codes=codes, cleanroom_grade=grade,
                                        reasons=tuple(reasons))
    return results


def require_certified(**kwargs) -> GateResult:
    """`check_certified`, raising `NotCertified` with every reason when the answer is no."""
    result = check_certified(**kwargs)
    if not result.certified:
        raise NotCertified(result.message(),
                           fields={"certification": [r.message for r in result.reasons]})
    return result


def signing_gate(user: User, record, meaning: str) -> None:
    """Registered with the kernel: signatures that need a qualification pass the gate."""
    declare = getattr(record, "required_qualifications", None)
    declare_grade = getattr(record, "required_cleanroom_grade", None)
    if declare is None and declare_grade is None:
        return
    codes = list(declare(meaning) or []) if declare is not None else []
    grade = declare_grade(meaning) if declare_grade is not None else None
    if not codes and not grade:
        return
    site = record.signing_site()
    if site is None:
        raise SignatureRefused(
            f"This {record._meta.verbose_name} needs a certified signer but names no site "
            "to check the certification against.", code="not_certified")
    result = check_certified(person=user, qualification_codes=codes, site=site,
                             cleanroom_grade=grade)
    if not result.certified:
        raise SignatureRefused(
            f"{user.full_name} may not sign as “{meaning}”: " + " ".join(
                r.message for r in result.reasons),
            code="not_certified",
            fields={"certification": [r.message for r in result.reasons]})
