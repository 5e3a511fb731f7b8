import pytest

from tests.mes.factories import person
from tests.reagents.factories import MEDIUM_GTIN, material


@pytest.fixture
def vector(db):
    return material("LV-CD19", name="Lentiviral vector anti-CD19 CAR", unit="mL")


@pytest.fixture
def medium(db):
    return material("MED-TEX", gtin=MEDIUM_GTIN, name="TexMACS medium", unit="mL")


@pytest.fixture
def supervisor(site, roles):
    return person("Supervisor", sites=[site], username="sup1", full_name="Sally Supervisor")


@pytest.fixture
def qa2(site, roles):
    return person("QA Reviewer", sites=[site], username="qa2", full_name="Quincy Second")
