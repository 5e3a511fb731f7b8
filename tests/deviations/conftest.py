import pytest

from tests.mes.factories import person


@pytest.fixture
def qa2(site, roles):
    return person("QA Reviewer", sites=[site], username="qa2", full_name="Quinta Quality")


@pytest.fixture
def qp(site, roles):
    return person("Qualified Person", sites=[site], username="qp1", full_name="Priya Qualified")


@pytest.fixture
def supervisor(site, roles):
    return person("Supervisor", sites=[site], username="sup1", full_name="Sam Supervisor")
