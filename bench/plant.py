"""The busy plant: the data set issue 10 measured on, built through the project's services.

Full scale (``scale=1``): 200 people certified on 30 qualifications (the demo's 7 plus 23),
1,000 open deviations, 200 patients with about 1,000 signed custody events, 28,000
temperature readings (one shipment with 5,000 of them), 10,000 lot consumptions (half on one
busy lot), and (bench/batch_records.py, after ``grow``) 200 patients' batches of 40 steps.
``scale`` multiplies every number but the qualifications and the busy shipment's readings,
so a matrix row and the shipment page cost what they cost at full scale (``--scale 0.02``
builds a quick plant).

Everything is created the way the demo loaders do it: the services, each action attributed
and, where the rule wants one, signed with the actor's password. A fixed random seed makes
the shape reproducible (timestamps are relative to the moment of the build). Run it through
``bench/pages.py`` (which picks the database and settings), or call ``build()`` in a
configured Django process.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass
from decimal import Decimal

FULL = {"people": 200, "qualifications": 30, "deviations": 1000, "patients": 200,
        "readings": 28000, "busy_shipment_readings": 5000, "consumptions": 10000,
        "batches": 200}
SEED = 20261130
BUSY_LOT = "BENCH-BUSY"


@dataclass(frozen=True)
class PlantSize:
    people: int
    qualifications: int
    deviations: int
    patients: int
    readings: int
    busy_shipment_readings: int
    consumptions: int
    batches: int = 0  # patients' batch records of 40 steps (bench/batch_records.py)

    @classmethod
    def at(cls, scale: float) -> PlantSize:
        def n(key: str, least: int) -> int:
            return max(least, round(FULL[key] * scale))

        return cls(people=n("people", 3), qualifications=FULL["qualifications"],
                   deviations=n("deviations", 10), patients=n("patients", 5),
                   readings=n("readings", 600),
                   busy_shipment_readings=FULL["busy_shipment_readings"],
                   consumptions=n("consumptions", 20), batches=n("batches", 5))


class Progress:
    def __init__(self, out=print):
        self.out, self.start = out, time.perf_counter()

    def __call__(self, message: str) -> None:
        self.out(f"[plant {time.perf_counter() - self.start:7.1f}s] {message}", flush=True)


def build(scale: float, *, seed: int = SEED, progress=None) -> PlantSize:
    """Build the busy plant at ``scale`` on top of the demo. Not idempotent: run it once on an
    empty, migrated database (bench/pages.py keeps track)."""
    from django.core.management import call_command

    size = PlantSize.at(scale)
    say = progress or Progress()
    rng = random.Random(seed)
    say(f"size {size}")
    call_command("load_demo", verbosity=0)
    say("demo loaded")
    grow(size, rng=rng, say=say)
    say("done")
    return size


def grow(size: PlantSize, *, rng: random.Random, say) -> None:
    """Add the busy plant of ``size`` to a database holding the demo (and nothing of the
    plant yet): the query-budget tests measure every page before and after it."""
    people = _people(size, say)
    _certifications(size, people, say)
    _deviations(size, people, rng, say)
    _patients(size, rng, say)
    _readings(size, rng, say)
    _consumptions(size, people, rng, say)


def _demo_people() -> dict:
    from mes.models import User

    return {u.username: u for u in User.objects.filter(username__in=[
        "admin", "operator", "operator2", "supervisor", "qa", "qp", "planner", "trainer"])}


def _people(size: PlantSize, say) -> list:
    from django.contrib.auth.models import Group

    from mes.demo import _grant, _person
    from mes.models import Site, User

    admin = User.objects.get(username="admin")
    lei = Site.objects.get(code="LEI")
    operator = Group.objects.get(name="Operator")
    people = []
    for i in range(1, size.people + 1):
        person = _person(f"bench-op-{i:04d}", f"Bench Operator {i:04d}")
        _grant(admin, person, role=operator, reason="Bench: operator on hire")
        _grant(admin, person, site=lei, reason="Bench: works at LEI")
        people.append(User.objects.get(pk=person.pk))
        if i % 50 == 0:
            say(f"people {i}/{size.people}")
    say(f"people {size.people}")
    return people


def _certifications(size: PlantSize, people: list, say) -> None:
    from django.utils import timezone

    from mes import audit
    from mes.demo import DEMO_PASSWORD
    from mes.models import Site
    from training.models import Qualification
    from training.services import certifications, records, sops

    demo = _demo_people()
    qa, trainer = demo["qa"], demo["trainer"]
    lei = Site.objects.get(code="LEI")
    today = timezone.localdate()
    extra = size.qualifications - Qualification.objects.count()
    new = []
    with audit.acting_as(qa):
        for i in range(1, extra + 1):
            document = sops.create_sop_document(actor=qa, number=f"SOP-BENCH-{i:03d}",
                                                title=f"Bench procedure {i:03d}")
            revision = sops.add_sop_revision(actor=qa, document=document, revision="1",
                                             summary="First issue")
            revision = sops.make_revision_effective(
                actor=qa, revision=revision, effective_date=today - dt.timedelta(days=400),
                reason="Bench: approved under change control")
            quals = sops.create_qualification(
                actor=qa, code=f"BENCH-{i:03d}", name=f"Bench procedure {i:03d}",
                kind="process", validity_months=24, sop_documents=[document])
            new.append((quals, revision))
    say(f"qualifications {Qualification.objects.count()}")
    for n, person in enumerate(people, start=1):
        for qualification, revision in new:
            with audit.acting_as(person):
                record = records.record_training(
                    actor=person, password=DEMO_PASSWORD, sop_revision=revision,
                    trainer=trainer, site=lei, trained_on=today - dt.timedelta(days=200),
                    assessment="passed")
            with audit.acting_as(trainer):
                records.verify_training(actor=trainer, password=DEMO_PASSWORD, record=record)
                certifications.grant_certification(
                    actor=trainer, password=DEMO_PASSWORD, person=person,
                    qualification=qualification, site=lei,
                    valid_from=today - dt.timedelta(days=180),
                    reason="Bench: observed performance passed")
        if n % 10 == 0 or n == len(people):
            say(f"certified {n}/{len(people)} people on {len(new)} qualifications")


def _deviations(size: PlantSize, people: list, rng: random.Random, say) -> None:
    from django.utils import timezone

    from deviations.services import raise_deviation
    from mes import audit
    from mes.models import Site

    lei = Site.objects.get(code="LEI")
    now = timezone.now()
    reporters = [*people, *[p for k, p in _demo_people().items() if k.startswith("operator")]]
    for i in range(1, size.deviations + 1):
        reporter = rng.choice(reporters)
        with audit.acting_as(reporter):
            raise_deviation(
                reporter=reporter, site=lei, title=f"Bench deviation {i:05d}",
                description="Observed during the bench plant's shift.",
                classification=rng.choice(["minor", "minor", "major", "critical"]),
                patient_impact=rng.choice(["no", "unknown", "yes"]),
                detected_at=now - dt.timedelta(minutes=rng.randint(5, 60 * 24 * 30)))
        if i % 200 == 0:
            say(f"deviations {i}/{size.deviations}")
    say(f"deviations {size.deviations}")


def _patients(size: PlantSize, rng: random.Random, say) -> None:
    from django.utils import timezone

    from custody.demo import UNTIL, _journey
    from custody.models import Product
    from custody.services import orders
    from mes.models import Site

    people = _demo_people()
    lei, umcu = Site.objects.get(code="LEI"), Site.objects.get(code="UMCU")
    product = Product.objects.get(code="CART-19")
    stages = [s for s in UNTIL if s not in ("excursion", "received")] + ["ordered"]
    letters = "ABCDEFGHJKLMNPRSTVWZ"
    for i in range(1, size.patients + 1):
        order = orders.place_order(actor=people["planner"], request=orders.OrderRequest(
            product=product, manufacturing_site=lei, ordering_site=umcu,
            initials=rng.choice(letters) + rng.choice(letters),
            date_of_birth=dt.date(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 20000)),
            full_name=f"Bench Patient {i:04d}", hospital_record_number=f"UMCU-{800000 + i}",
            planned_collection_date=timezone.localdate() + dt.timedelta(days=i % 7),
            external_reference=f"BENCH-{i:04d}"))
        stage = "in_transit" if i == 1 else rng.choice(stages)
        _journey(order, stage, people, lei, umcu, days_ago=40 if i == 1 else rng.randint(3, 30))
        if i % 20 == 0:
            say(f"patients {i}/{size.patients}")
    say(f"patients {size.patients}")


def busy_shipment():
    """The shipment that carries most readings: patient BENCH-0001's, still in transit."""
    from custody.models import Shipment

    return Shipment.objects.get(patient__order__external_reference="BENCH-0001")


def _readings(size: PlantSize, rng: random.Random, say) -> None:
    from django.utils import timezone

    from custody.models import Shipment, TemperatureReading
    from custody.services import coldchain

    now = timezone.now()
    busy = busy_shipment()
    open_shipments = list(Shipment.objects.filter(
        status=Shipment.Status.IN_TRANSIT, readings__isnull=False).exclude(
        pk=busy.pk).distinct().order_by("pk"))

    def top_up(shipment, target: int, excursions: bool) -> None:
        last = shipment.readings.order_by("-recorded_at").first()
        when = last.recorded_at
        have = shipment.readings.count()
        while have < target:
            batch = []
            for _ in range(min(1000, target - have)):
                when += dt.timedelta(minutes=3)
                if when > now:
                    break
                celsius = Decimal("-185") + Decimal(rng.randint(0, 8))
                if excursions and rng.random() < 0.003:
                    celsius = Decimal("-140")
                batch.append({"recorded_at": when, "celsius": celsius, "logger_id": "TL-B1"})
            if not batch:
                return
            coldchain.ingest_readings(actor=shipment.created_by, shipment=shipment,
                                      readings=batch, source="api")
            have = shipment.readings.count()

    top_up(busy, size.busy_shipment_readings, excursions=True)
    say(f"busy shipment {busy.reference}: {busy.readings.count()} readings")
    for shipment in open_shipments:
        missing = size.readings - TemperatureReading.objects.count()
        if missing <= 0:
            break
        top_up(shipment, shipment.readings.count() + min(missing, 2000), excursions=False)
    say(f"readings {TemperatureReading.objects.count()}")


def _consumptions(size: PlantSize, people: list, rng: random.Random, say) -> None:
    from django.utils import timezone

    from mes import audit
    from mes.models import Site
    from reagents import services
    from reagents.models import Material

    operator = _demo_people()["operator"]
    lei = Site.objects.get(code="LEI")
    material = Material.objects.get(code="PBS-EDTA")  # needs no QA release: released at receipt
    expiry = timezone.localdate() + dt.timedelta(days=700)
    lots = []
    with audit.acting_as(operator):
        for supplier_lot in [BUSY_LOT, *[f"BENCH-{i:02d}" for i in range(1, 6)]]:
            scan = (f"]d201{material.gtins.first().gtin}17{expiry:%y%m%d}10{supplier_lot}")
            lots.append(services.receive_lot(user=operator, site=lei, scan=scan,
                                             quantity="1000000",
                                             storage_location="Store room S1"))
    for i in range(1, size.consumptions + 1):
        lot = lots[0] if i % 2 else rng.choice(lots[1:])
        with audit.acting_as(operator):
            services.consume_lot(user=operator, lot=lot, quantity=str(rng.randint(1, 50)),
                                 material=material, purpose=None,
                                 batch_number=f"LEI-CART-26-{1000 + i % 400:04d}",
                                 patient_coi=f"G123426{1000 + i % 400:06d}")
        if i % 1000 == 0:
            say(f"consumptions {i}/{size.consumptions}")
    say(f"consumptions {size.consumptions}")
