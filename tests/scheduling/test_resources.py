"""Setting up the plant: bad input is a clear refusal naming the field, not a crash."""

from __future__ import annotations

import pytest

from scheduling import services
from scheduling.models import ProcessPlan, Suite
from tests.custody.factories import ProductFactory
from tests.refusals import refused


@pytest.mark.req("SCH-RSC-001")
@pytest.mark.parametrize(
    ("grade", "capacity", "field"), [("B", 0, "batch_capacity"), ("Z", 1, "grade")]
)
def test_a_suite_with_no_capacity_or_an_unknown_grade_is_refused(world, grade, capacity, field):
    with refused("invalid", field=field):
        services.create_suite(
            actor=world.admin,
            site=world.site,
            code="S9",
            name="Suite 9",
            grade=grade,
            batch_capacity=capacity,
        )
    assert not Suite.objects.filter(code="S9").exists()


@pytest.mark.req("SCH-RSC-001")
@pytest.mark.parametrize(
    ("needs", "field"),
    [
        ({"staffing": [(1, "NO-SUCH", 1)]}, "staffing"),
        ({"equipment": [("NO-SUCH", 1)]}, "equipment"),
        ({"materials": [("NO-SUCH", "1")]}, "materials"),
    ],
)
def test_a_process_plan_naming_an_unknown_code_is_refused(world, needs, field):
    product = ProductFactory(code="CART-33", name="Unknown needs")
    with refused("invalid", field=field, match="NO-SUCH"):
        services.define_process_plan(
            actor=world.admin,
            product=product,
            duration_days=2,
            qc_release_days=7,
            target_vein_to_vein_days=21,
            **needs,
        )
    assert not ProcessPlan.objects.filter(product=product).exists()
