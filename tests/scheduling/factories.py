"""A plant ready to schedule: a suite with its equipment, a shift, certified and rostered
operators, released reagent lots, a product with its process plan and a patient's order.

Set up directly (like the other apps' factories) where the flow is not what the test is
about; the scheduling records go through the services they test."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from django.utils import timezone

from mes import audit
from scheduling import services
from scheduling.models import Equipment, EquipmentType, Suite
from tests.custody.factories import ProductFactory, clinic, order_for, plant
from tests.mes.factories import person
from tests.reagents.factories import gtin14, lot, material
from tests.training.factories import QualificationFactory, certified
from training.models import Qualification

DURATION, QC_DAYS, TARGET_DAYS = 10, 14, 28


def days_from_today(n: int) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=n)


def make_suite(admin, site, code="S1", grade="B", capacity=1) -> Suite:
    return services.create_suite(
        actor=admin,
        site=site,
        code=code,
        name=f"Suite {code}",
        grade=grade,
        batch_capacity=capacity,
    )


def make_equipment(
    admin, suite, kind: EquipmentType, identifier: str, *, clean_days=60, calibration_days=90
) -> Equipment:
    piece = services.register_equipment(
        actor=admin,
        suite=suite,
        equipment_type=kind,
        identifier=identifier,
        calibration_due=days_from_today(calibration_days),
    )
    piece.cleaning_status = Equipment.Cleaning.CLEAN
    piece.clean_until = timezone.now() + dt.timedelta(days=clean_days)
    audit.stamp(piece, user=admin, reason="Test: cleaned")
    piece.save()
    return piece


def build_plant(*, roster_days=True) -> SimpleNamespace:
    """Everything a booking needs, all in order: the booking would have no problem."""
    site, clinical = plant(), clinic()
    admin = person("Administrator", sites=[site], username="admin1", full_name="Ada Admin")
    planner = person(
        "Planner", sites=[site, clinical], username="planner1", full_name="Pia Planner"
    )
    supervisor = person("Supervisor", sites=[site], username="super1", full_name="Sid Supervisor")
    op_a = person("Operator", sites=[site], username="opa", full_name="Ann Operator")
    op_b = person("Operator", sites=[site], username="opb", full_name="Ben Operator")
    gown = QualificationFactory(code="GOWN-B", kind=Qualification.Kind.GOWNING, cleanroom_grade="B")
    cell_sel = QualificationFactory(code="CELL-SEL")
    expansion = QualificationFactory(code="EXPANSION")
    far = days_from_today(400)
    with audit.acting_as(admin):
        for operator in (op_a, op_b):
            for qualification in (gown, cell_sel, expansion):
                certified(
                    operator, qualification, site, valid_from=days_from_today(-30), valid_until=far
                )
    vector = material("LV-CD19", name="Lentiviral vector", unit="mL")
    medium = material("MED-TEX", gtin=gtin14("0401234500001"), name="Medium", unit="mL")
    vector_lot = lot(site=site, material_=vector, quantity="5", supplier_lot="VV-1")
    medium_lot = lot(site=site, material_=medium, quantity="1000", supplier_lot="TX-1")
    bioreactor = services.create_equipment_type(actor=admin, code="BIOREACTOR", name="Bioreactor")
    separator = services.create_equipment_type(actor=admin, code="CELL-SEP", name="Cell separator")
    suite = make_suite(admin, site, "S1")
    reactor = make_equipment(admin, suite, bioreactor, "BR-01")
    sep = make_equipment(admin, suite, separator, "CS-01")
    product = ProductFactory()
    plan = services.define_process_plan(
        actor=admin,
        product=product,
        duration_days=DURATION,
        qc_release_days=QC_DAYS,
        target_vein_to_vein_days=TARGET_DAYS,
        receipt_days_after_collection=1,
        start_offset_days=1,
        staffing=[(1, "CELL-SEL", 1)] + [(d, "EXPANSION", 1) for d in range(2, DURATION + 1)],
        equipment=[("BIOREACTOR", 1), ("CELL-SEP", 1)],
        materials=[("LV-CD19", "2.5"), ("MED-TEX", "450")],
    )
    day_shift = services.create_shift(
        actor=admin, site=site, name="Day", starts=dt.time(7), ends=dt.time(15, 30)
    )
    order = order_for(planner, manufacturing_site=site, ordering_site=clinical)
    start = plan.earliest_start(order.planned_collection_date)
    world = SimpleNamespace(
        site=site,
        clinical=clinical,
        admin=admin,
        planner=planner,
        supervisor=supervisor,
        op_a=op_a,
        op_b=op_b,
        suite=suite,
        reactor=reactor,
        separator=sep,
        plan=plan,
        product=product,
        shift=day_shift,
        order=order,
        start=start,
        end=plan.end_for(start),
        vector=vector,
        medium=medium,
        vector_lot=vector_lot,
        medium_lot=medium_lot,
        bioreactor=bioreactor,
        cell_separator=separator,
        qualifications={"GOWN-B": gown, "CELL-SEL": cell_sel, "EXPANSION": expansion},
    )
    if roster_days:
        roster(world, world.op_a, suite, start, world.end)
    return world


def roster(world, operator, suite, first: dt.date, last: dt.date) -> None:
    day = first
    while day <= last:
        services.roster(
            actor=world.planner, person=operator, suite=suite, day=day, shift=world.shift
        )
        day += dt.timedelta(days=1)


def another_order(world, initials="AB", hospital_number="H-0002"):
    return order_for(
        world.planner,
        manufacturing_site=world.site,
        ordering_site=world.clinical,
        initials=initials,
        hospital_record_number=hospital_number,
    )
