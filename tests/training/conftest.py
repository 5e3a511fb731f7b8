"""People and training facts the training tests share."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tests.mes.factories import person
from tests.training.factories import QualificationFactory, SOPRevisionFactory, require_sop

TODAY = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fixed_today():
    """The training rules are about dates: every test here runs on 2026-06-01 (the clock
    still ticks), so no test depends on the day it is run."""
    with time_machine.travel(TODAY, tick=True):
        yield


@pytest.fixture
def trainer(site, roles):
    return person("Trainer", sites=[site], username="tr1", full_name="Tina Trainer")


@pytest.fixture
def supervisor(site, roles):
    return person("Supervisor", sites=[site], username="sup1", full_name="Sven Supervisor")


@pytest.fixture
def sop_revision(db):
    """SOP-CS rev. 1, effective since 2026-01-01."""
    return SOPRevisionFactory(document__number="SOP-CS", document__title="Cell selection",
                              revision="1")


@pytest.fixture
def cell_selection(sop_revision):
    """CELL-SEL requires training on SOP-CS."""
    qualification = QualificationFactory(code="CELL-SEL", name="Cell selection")
    require_sop(qualification, sop_revision.document)
    return qualification


@pytest.fixture
def gowning_b(db):
    from training.models import Qualification

    return QualificationFactory(code="GOWN-B", name="Aseptic gowning grade B",
                                kind=Qualification.Kind.GOWNING, cleanroom_grade="B",
                                validity_months=12)
