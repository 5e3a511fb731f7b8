"""Demo data: patients at every stage of the journey, from order to infusion, with their
custody events, shipments and temperature logs; one shipment with an excursion and one
refused label scan. Everything goes through the services, attributed to demo people, and
loading again adds nothing."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal

from django.utils import timezone

from custody.models import ContainerType, Order, Patient, Product, Shipment
from custody.services import coldchain, orders
from custody.services.events import Handoff, record_custody_event
from custody.services.scans import verify_label_scan
from mes import audit
from mes.demo import DEMO_PASSWORD
from mes.errors import DomainError
from mes.models import Site, User
from mes.services import access

CONTAINERS = [
    ("LN2-DRY", "Liquid-nitrogen dry shipper", None, Decimal("-150"), 30, 15),
    ("COLD-2-8", "Validated cool box 2–8 °C", Decimal("2"), Decimal("8"), 60, 15),
    ("AMB-15-25", "Controlled ambient 15–25 °C", Decimal("15"), Decimal("25"), 120, 30),
]

# (initials, date of birth, stage the patient has reached)
PATIENTS = [
    ("AV", dt.date(1958, 4, 2), "ordered"),
    ("BK", dt.date(1962, 9, 17), "collection_scheduled"),
    ("CD", dt.date(1949, 1, 30), "collected"),
    ("DE", dt.date(1971, 6, 11), "in_transit"),
    ("EF", dt.date(1966, 12, 5), "excursion"),
    ("FG", dt.date(1980, 3, 23), "received"),
    ("GH", dt.date(1955, 8, 8), "in_manufacturing"),
    ("HJ", dt.date(1969, 10, 14), "released"),
    ("JK", dt.date(1975, 2, 28), "shipped"),
    ("KL", dt.date(1960, 7, 19), "delivered"),
    ("LM", dt.date(1952, 11, 3), "infused"),
    ("MN", dt.date(1977, 5, 21), "cancelled"),
]
PATH = ["collected", "packed", "shipped", "received", "stored", "removed",
        "transferred_to_suite", "released", "shipped_to_treating_site",
        "received_at_treating_site", "bedside_verified", "infused"]
UNTIL = {"collected": "collected", "in_transit": "shipped", "excursion": "shipped",
         "received": "stored", "in_manufacturing": "transferred_to_suite",
         "released": "released", "shipped": "shipped_to_treating_site",
         "delivered": "received_at_treating_site", "infused": "infused"}


def load() -> None:
    people = {u.username: u for u in User.objects.filter(
        username__in=["admin", "planner", "operator", "operator2", "qp", "supervisor"])}
    sites = {s.code: s for s in Site.objects.filter(code__in=["LEI", "UMCU"])}
    if len(people) < 6 or len(sites) < 2:
        return
    lei, umcu = sites["LEI"], sites["UMCU"]
    # The planner places orders for UMCU; Omar works the apheresis unit there.
    for username in ("planner", "operator2"):
        person = people[username]
        if not person.has_site(umcu):
            access.change_access(actor=people["admin"], password=DEMO_PASSWORD, user=person,
                                 action="grant", site=umcu,
                                 reason="Demo: works with the UMCU apheresis unit")
            people[username] = User.objects.get(pk=person.pk)
    system = audit.system_user()
    with audit.acting_as(system):
        product, _ = Product.objects.get_or_create(
            code="CART-19", defaults={"name": "Anti-CD19 CAR-T (autologous)"})
        Product.objects.get_or_create(
            code="SPX-TIL", defaults={"name": "Sponsor X tumour-infiltrating lymphocytes",
                                      "coi_scheme": Product.CoiScheme.EXTERNAL,
                                      "external_coi_pattern": r"SPX-\d{4}-[A-Z]{2}",
                                      "external_coi_example": "SPX-0001-AB"})
        for code, name, low, high, budget, gap in CONTAINERS:
            ContainerType.objects.get_or_create(code=code, defaults={
                "name": name, "min_celsius": low, "max_celsius": high,
                "out_of_range_budget_minutes": budget, "max_reading_gap_minutes": gap})
    for number, (initials, born, stage) in enumerate(PATIENTS, start=1):
        reference = f"DEMO-{number:02d}"
        if Order.objects.filter(external_reference=reference).exists():
            continue
        order = orders.place_order(actor=people["planner"], request=orders.OrderRequest(
            product=product, manufacturing_site=lei, ordering_site=umcu, initials=initials,
            date_of_birth=born, full_name=f"Demo Patient {initials}",
            hospital_record_number=f"UMCU-{700000 + number}",
            planned_collection_date=timezone.localdate() + dt.timedelta(days=number % 5),
            external_reference=reference))
        _journey(order, stage, people, lei, umcu, days_ago=30 - number)


def _journey(order: Order, stage: str, people, lei: Site, umcu: Site, *, days_ago: int):
    patient = order.patient
    planner, clinic, plant, qp = (people["planner"], people["operator2"], people["operator"],
                                  people["qp"])
    if stage == "ordered":
        return
    if stage == "cancelled":
        orders.advance_order(actor=planner, order=order, status="cancelled",
                             reason="Patient no longer eligible (disease progression)")
        return
    orders.advance_order(actor=planner, order=order, status="collection_scheduled",
                         reason="Apheresis slot booked with UMCU")
    if stage == "collection_scheduled":
        return
    when = timezone.now() - dt.timedelta(days=max(days_ago, 2))
    inbound = outbound = None
    last = UNTIL[stage]
    for step in PATH[:PATH.index(last) + 1]:
        when += dt.timedelta(hours=3)
        if step == "released":
            orders.advance_order_from_batch(actor=qp, order=order, status="released",
                                            reason="Batch certified by the QP (demo)")
            continue
        at_clinic = step in ("collected", "packed", "shipped", "received_at_treating_site",
                             "bedside_verified", "infused")
        actor, site = (clinic, umcu) if at_clinic else (plant, lei)
        shipment = None
        if step == "shipped":
            inbound = coldchain.create_shipment(
                actor=clinic, patient=patient, origin=umcu, destination=lei,
                container_type=ContainerType.objects.get(code="LN2-DRY"),
                container_id=f"DS-{patient.coi[-4:]}", carrier="Cryoport",
                tracking_number=f"CP{patient.pk:06d}")
            shipment = inbound
        elif step == "received":
            shipment = inbound
        elif step == "shipped_to_treating_site":
            outbound = coldchain.create_shipment(
                actor=plant, patient=patient, origin=lei, destination=umcu,
                container_type=ContainerType.objects.get(code="LN2-DRY"),
                container_id=f"DS-P{patient.coi[-4:]}", carrier="Cryoport")
            shipment = outbound
        elif step == "received_at_treating_site":
            shipment = outbound
        if step == "received" and stage == "received":
            _refused_scan(plant, patient, lei)
        record_custody_event(actor=actor, password=DEMO_PASSWORD, handoff=Handoff(
            patient=patient, site=site, kind=step, occurred_at=when,
            container_id=("BAG-" if PATH.index(step) < 6 else "FP-") + patient.coi[-6:],
            label_scan=patient.isbt.barcode_data, shipment=shipment,
            location="LN2 tank 2" if step == "stored" else "",
            position=f"Rack {patient.pk % 9 + 1}, box 3" if step == "stored" else ""))
        if shipment is not None and step.startswith("shipped"):
            _log_temperatures(shipment, start=when, excursion=stage == "excursion")


def _log_temperatures(shipment: Shipment, *, start, excursion: bool) -> None:
    """A logger reading every 5 minutes for 10 hours (cut at now); a lid opened in transit
    for the excursion shipment."""
    readings = []
    for step in range(120):
        recorded = start + dt.timedelta(minutes=5 * step)
        if recorded > timezone.now():
            break
        celsius = Decimal("-185") + Decimal(step % 7)
        if excursion and 40 <= step <= 44:
            celsius = Decimal("-150") + Decimal(9 * (step - 39))
        readings.append({"recorded_at": recorded, "celsius": celsius, "logger_id": "TL-22"})
    if readings:
        coldchain.ingest_readings(actor=shipment.created_by, shipment=shipment,
                                  readings=readings, source="api")


def _refused_scan(actor: User, patient: Patient, site: Site) -> None:
    """Someone scans the neighbouring patient's bag at receipt: refused, deviation raised."""
    neighbour = Patient.objects.exclude(pk=patient.pk).exclude(din="").order_by("pk").first()
    if neighbour is None:
        return
    # Refused, as it must be; the refusal and the deviation stay recorded.
    with contextlib.suppress(DomainError):
        verify_label_scan(actor=actor, patient=patient, scan=neighbour.isbt.barcode_data,
                          site=site, context="received at the plant")
