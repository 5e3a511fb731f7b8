import pytest

from tests.scheduling.factories import build_plant


@pytest.fixture
def world(db, roles):
    return build_plant()
