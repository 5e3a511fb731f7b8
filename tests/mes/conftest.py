import pytest

from tests.mes.factories import PASSWORD, SiteFactory, person


@pytest.fixture
def site(db):
    return SiteFactory(code="PLANT1", name="Plant One", time_zone="Europe/Amsterdam")


@pytest.fixture
def other_site(db):
    return SiteFactory(code="PLANT2", name="Plant Two", time_zone="America/New_York")


@pytest.fixture
def admin_user(site, roles):
    return person("Administrator", sites=[site], username="admin1", full_name="Ada Admin")


@pytest.fixture
def operator(site, roles):
    return person("Operator", sites=[site], username="op1", full_name="Otto Operator")


@pytest.fixture
def qa_user(site, roles):
    return person("QA Reviewer", sites=[site], username="qa1", full_name="Quentin Quality")


@pytest.fixture
def password():
    return PASSWORD
