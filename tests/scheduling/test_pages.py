"""The suite pages: scoped like every page, and showing status, equipment, bookings with
their problems, and the logbook."""

import pytest

from mes import identifiers
from scheduling import services
from tests.custody.factories import plant
from tests.mes.factories import person
from tests.permission_matrix import (
    ALLOWED,
    NO_PERMISSION,
    OTHER_SITE,
    UI,
    assert_permission_matrix,
    ui_client,
)


@pytest.mark.req("SCH-API-001")
def test_a_suite_page_is_seen_only_at_its_site(world):
    outsider = person("Planner", sites=[plant(code="PLANT2", fin="G2222")], username="p2")
    nobody = person(None, sites=[world.site], username="nobody")
    assert_permission_matrix(
        ui_client,
        f"/scheduling/suites/{world.suite.pk}/",
        {NO_PERMISSION: nobody, OTHER_SITE: outsider, ALLOWED: world.planner},
        UI,
    )


@pytest.mark.req("SCH-FEA-001:together")
def test_the_suite_page_shows_equipment_bookings_problems_and_logbook(world):
    booking = services.book(actor=world.planner, order=world.order, suite=world.suite)
    services.record_use(actor=world.op_a, equipment=world.reactor, batch_number="LEI-26-0042")
    page = ui_client(world.planner).get(f"/scheduling/suites/{world.suite.pk}/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "BR-01" in text and "Dirty" in text  # used, so dirty: a problem for the booking
    assert str(identifiers.coi(world.order.patient)) in text  # the COI as people read it
    assert 'data-code="equipment_not_clean"' in text
    assert booking.start_date.isoformat() in text
    assert "LEI-26-0042" in text
    listing = ui_client(world.planner).get("/scheduling/suites/")
    assert listing.status_code == 200 and "S1" in listing.content.decode()
