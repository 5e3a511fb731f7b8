"""Query budgets of the benchmark's pages that no app's own tests hold at two data sizes: each
role's home page, the OpenAPI schema and the API lists (issue 10: a regression fails CI even
though timings are not tested there).

Measured on the demo plant, then again after the benchmark's busy plant (bench/plant.py) is
added at its smallest size: more people, certifications, deviations, patients, custody
events, readings and consumptions. Every page must run exactly as many queries as before."""

from __future__ import annotations

import os
import random

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench.pages import PAGES
from bench.plant import PlantSize, grow
from mes.models import User

MEASURED = [page for page in PAGES if not page.target]  # the pages about one record have
# their own budget tests, in their app, against that record as it grows


def _queries(clients: dict, page) -> int:
    client = clients[page.user]
    url = reverse(page.url_name) + (f"?{page.query}" if page.query else "")
    accept = "application/json" if page.api else "text/html"
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, HTTP_ACCEPT=accept)
    assert response.status_code == 200, (page.name, response.status_code)
    return len(captured.captured_queries)


@pytest.mark.req("FND-PERF-004")
def test_homes_schema_and_api_lists_run_the_same_queries_on_a_busy_plant(db, settings):
    call_command("load_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    clients = {}
    for username in {page.user for page in MEASURED}:
        clients[username] = Client()
        clients[username].force_login(User.objects.get(username=username))
    for page in MEASURED:  # the first request of a session does its own bookkeeping
        _queries(clients, page)
    few = {page.name: _queries(clients, page) for page in MEASURED}

    from training.models import Qualification

    size = PlantSize(people=3, qualifications=Qualification.objects.count() + 2, deviations=20,
                     patients=4, readings=200, busy_shipment_readings=200, consumptions=20)
    grow(size, rng=random.Random(7), say=lambda message: None)

    many = {page.name: _queries(clients, page) for page in MEASURED}
    assert many == few
    assert {"home (QA Reviewer)", "API deviations", "OpenAPI schema"} <= set(few)
