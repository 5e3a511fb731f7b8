import pytest

from tests.custody.factories import clinic, order_for, plant
from tests.mes.factories import person


@pytest.fixture
def site(db):
    return plant()


@pytest.fixture
def clinical_site(db):
    return clinic()


@pytest.fixture
def planner(site, clinical_site, roles):
    return person("Planner", sites=[site, clinical_site], username="planner1",
                  full_name="Pia Planner")


@pytest.fixture
def operator(site, clinical_site, roles):
    return person("Operator", sites=[site, clinical_site], username="op1",
                  full_name="Otto Operator")


@pytest.fixture
def order(planner, site, clinical_site):
    return order_for(planner, manufacturing_site=site, ordering_site=clinical_site)


@pytest.fixture
def patient(order):
    return order.patient
