"""What a scan at the terminal means: whose material it is, where it is, and the handoff
expected next, with the site, shipment and container that follow from the chain so far.

Reads only. The terminal asks for nothing it can work out here; the person confirms (or
picks another event behind "something else") and signs. Everything that would refuse the
signature, and a gap the event would open in the chain, is known before the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db.models import Q

from custody import din as isbt
from custody.chain import chain_breaks
from custody.models import CustodyEvent, Patient, Shipment
from custody.models.custody import EXPECTED_BEFORE, RECEIVING, SHIPPING, EventKind
from custody.selectors import ShipmentColdChain, cold_chain_of, deviations_of, patients_for
from custody.services.events import Handoff, check_handoff
from mes.errors import DomainError
from mes.models import Site, User

K = EventKind
# Where each event happens: at the treating (clinical) site, at the manufacturing plant, or
# wherever the material is now (packing, storage).
AT_TREATING_SITE = {
    K.COLLECTED,
    K.SHIPPED,
    K.RECEIVED_AT_TREATING_SITE,
    K.BEDSIDE_VERIFIED,
    K.INFUSED,
}
AT_PLANT = {K.RECEIVED, K.TRANSFERRED_TO_SUITE, K.SHIPPED_TO_TREATING_SITE}
OPEN_SHIPMENT = (Shipment.Status.PLANNED, Shipment.Status.IN_TRANSIT)
# Stand-ins for what the person types on the confirmation (container, storage place), so
# that the eligibility shown before signing is only about what they cannot fix by typing.
_TYPED_LATER = "(typed at confirmation)"


class UnknownLabel(DomainError):
    """A readable label that belongs to no patient this person may see."""

    code = "unknown_label"
    status = 404


def find_patient(*, user: User, scan: str) -> Patient:
    """The patient whose label was scanned: a sponsor COI as it is (spaces and case aside), or
    an ISBT 128 DIN read from scanner or typed input. Raises InvalidScan for a misread and
    UnknownLabel for a label of no patient at the person's sites."""
    text = "".join((scan or "").split())
    if not text:
        raise isbt.InvalidScan(
            "Nothing was scanned. Scan the patient's label or the bag.", fields={"scan": ["Empty."]}
        )
    visible = patients_for(user)
    by_coi = visible.filter(coi__iexact=text).first()
    if by_coi is not None:
        return by_coi
    din = isbt.parse(text)  # raises InvalidScan for a misread
    patient = visible.filter(Q(din=din.din) | Q(coi__iexact=din.din)).first()
    if patient is None:
        raise UnknownLabel(
            f"No patient at your sites has the label {din.din}. Check that it is a patient "
            "label or bag label; if the material is here, keep it apart and call QA.",
            fields={"scan": ["No patient at your sites has this label."]},
        )
    return patient


@dataclass
class Proposal:
    """The handoff the terminal offers for one scanned patient."""

    patient: Patient
    label_scan: str
    events: list[CustodyEvent]
    expected: list[str]  # the events the chain expects next, most likely first
    kind: str | None  # the event offered (expected, or chosen behind "something else")
    site: Site | None
    shipment: Shipment | None
    container_id: str
    gap: str | None = None  # the break this event would open in the chain
    refusal: DomainError | None = None  # why it cannot be signed, known before the password
    cold_chain: ShipmentColdChain | None = None
    deviations: list = field(default_factory=list)

    @property
    def last(self) -> CustodyEvent | None:
        return self.events[-1] if self.events else None

    @property
    def kind_label(self) -> str:
        return K(self.kind).label if self.kind else ""

    @property
    def is_expected(self) -> bool:
        return self.kind is not None and self.kind in self.expected

    @property
    def expected_labels(self) -> list[str]:
        return [K(kind).label for kind in self.expected]

    @property
    def other_kinds(self) -> list[tuple[str, str]]:
        return [(value, label) for value, label in K.choices if value != self.kind]

    @property
    def needs_container(self) -> bool:
        return not self.container_id

    @property
    def needs_location(self) -> bool:
        return self.kind == K.STORED

    @property
    def is_receipt(self) -> bool:
        return self.kind in RECEIVING

    @property
    def cold_chain_view(self):
        """The shape the shared cold-chain partial reads (``chain.cold_chain``)."""
        return SimpleNamespace(cold_chain=[self.cold_chain] if self.cold_chain else [])

    def handoff(
        self, *, container_id: str | None = None, location: str = "", position: str = ""
    ) -> Handoff:
        return Handoff(
            patient=self.patient,
            site=self.site,
            kind=self.kind,
            container_id=self.container_id if container_id is None else container_id,
            label_scan=self.label_scan,
            location=location,
            position=position,
            shipment=self.shipment,
        )


def _where_now(patient: Patient, last: CustodyEvent | None) -> Site:
    return last.site if last is not None else patient.treating_site


def site_of(
    patient: Patient, kind: str, last: CustodyEvent | None, shipment: Shipment | None = None
) -> Site:
    """Where ``kind`` happens for this patient, given where the material is now."""
    if kind in RECEIVING:
        if shipment is not None:
            return shipment.destination_site
        return patient.site if kind == K.RECEIVED else patient.treating_site
    if kind in AT_TREATING_SITE:
        return patient.treating_site
    if kind in AT_PLANT:
        return patient.site
    return _where_now(patient, last)


def expected_next(patient: Patient, last: CustodyEvent | None) -> list[str]:
    """The events the chain allows next, at the place the material is (a receipt at the
    shipment's destination), in journey order; repeating the last event comes last."""
    previous = last.kind if last is not None else None
    here = _where_now(patient, last)
    found = []
    for kind in K.values:
        if previous not in EXPECTED_BEFORE[kind]:
            continue
        if kind not in RECEIVING and last is not None and site_of(patient, kind, last) != here:
            continue  # e.g. shipping to the plant from the plant itself
        found.append(kind)
    return sorted(found, key=lambda kind: kind == previous)


def _open_shipment(patient: Patient, kind: str, site: Site, last) -> Shipment | None:
    if kind not in SHIPPING and kind not in RECEIVING:
        return None
    if (
        kind in RECEIVING
        and last is not None
        and last.shipment_id
        and last.shipment.status in OPEN_SHIPMENT
        and last.shipment.destination_site_id == site.pk
    ):
        return last.shipment
    shipments = (
        Shipment.objects.filter(patient=patient)
        .select_related("site", "destination_site", "container_type")
        .order_by("-created_at", "-pk")
    )
    if kind in SHIPPING:
        return shipments.filter(site=site, status=Shipment.Status.PLANNED).first()
    return shipments.filter(destination_site=site, status__in=OPEN_SHIPMENT).first()


def _inbound_to(user: User, patient: Patient) -> Shipment | None:
    """An open shipment of this patient's material heading to one of the person's sites."""
    return (
        Shipment.objects.filter(
            patient=patient, status__in=OPEN_SHIPMENT, destination_site__in=user.sites()
        )
        .select_related("site", "destination_site", "container_type")
        .order_by("-created_at", "-pk")
        .first()
    )


def _eligibility(user: User, handoff: Handoff) -> DomainError | None:
    try:
        check_handoff(actor=user, handoff=handoff)
    except DomainError as error:
        return error
    return None


def _gap(events: list[CustodyEvent], kind: str, site: Site) -> str | None:
    upcoming = SimpleNamespace(pk=0, kind=kind, site_id=site.pk)
    return chain_breaks([*events, upcoming]).get(0)


def propose(*, user: User, patient: Patient, label_scan: str, kind: str | None = None) -> Proposal:
    """The handoff to offer after ``patient``'s label was scanned: ``kind`` if the person
    chose one, else the expected event the person can sign at one of their sites (a receipt
    when a shipment is on its way to them), with its site, shipment and container."""
    events = list(
        CustodyEvent.objects.filter(patient=patient)
        .select_related("site", "shipment", "shipment__destination_site")
        .order_by("occurred_at", "pk")
    )
    last = events[-1] if events else None
    expected = expected_next(patient, last)
    if kind is None:
        kind = _choose(user, patient, last, expected)
    proposal = Proposal(
        patient=patient,
        label_scan=label_scan,
        events=events,
        expected=expected,
        kind=kind,
        site=None,
        shipment=None,
        container_id=last.container_id if last is not None else "",
    )
    if kind is None:
        return proposal
    site = site_of(patient, kind, last)
    shipment = _open_shipment(patient, kind, site, last)
    if shipment is not None and kind in RECEIVING:
        site = shipment.destination_site
    proposal.site, proposal.shipment = site, shipment
    proposal.gap = _gap(events, kind, site)
    typed = proposal.handoff(
        container_id=proposal.container_id or _TYPED_LATER, location=_TYPED_LATER
    )
    proposal.refusal = _eligibility(user, typed)
    if kind in RECEIVING:
        if shipment is not None:
            [proposal.cold_chain] = cold_chain_of([shipment])
        proposal.deviations = deviations_of(patient)
    return proposal


def _choose(user: User, patient: Patient, last, expected: list[str]) -> str | None:
    """The expected event at one of the person's sites; failing that, the receipt of a
    shipment heading to them (out of sequence, so its gap shows); failing that, the first
    expected event (its refusal says why it cannot be signed here)."""
    mine = {site.pk for site in user.sites()}
    for kind in expected:
        if site_of(patient, kind, last).pk in mine:
            return kind
    inbound = _inbound_to(user, patient)
    if inbound is not None:
        return (
            K.RECEIVED
            if inbound.destination_site_id == patient.site_id
            else K.RECEIVED_AT_TREATING_SITE
        )
    return expected[0] if expected else None
