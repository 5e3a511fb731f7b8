"""The benchmark harness's page table still matches the URLs, and its floor view never ships:
fast checks (no gunicorn, no plant) that run with the suite."""

from __future__ import annotations

import copy

import pytest
from django.conf import settings as django_settings
from django.urls import NoReverseMatch, resolve, reverse

from bench.pages import FLOOR, PAGES, TARGETS
from tests.mes.factories import person

pytestmark = pytest.mark.django_db


@pytest.mark.req("FND-PERF-003:page-table")
def test_every_page_of_the_harness_resolves_to_its_named_view():
    assert PAGES, "the harness measures nothing"
    for page in PAGES:
        kwargs = TARGETS[page.target] if page.target else {}
        url = reverse(page.url_name, kwargs=kwargs, urlconf="bench.urls")
        match = resolve(url, urlconf="bench.urls")
        assert match.view_name == page.url_name, page.name


def _bench_settings(settings):
    settings.ROOT_URLCONF = "bench.urls"
    templates = copy.deepcopy(django_settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"],
                            django_settings.BASE_DIR / "bench" / "templates"]
    settings.TEMPLATES = templates


@pytest.mark.req("FND-PERF-003:floor-bench-only")
def test_the_floor_answers_under_the_benchmark_settings(client, settings):
    # given the benchmark's URLs and a signed-in person
    _bench_settings(settings)
    client.force_login(person("Operator"))
    client.get(reverse(FLOOR))  # the first request after login may refresh the session
    # when they open the floor, then it is a page inside base.html
    response = client.get(reverse(FLOOR))
    assert response.status_code == 200
    assert "base.html" in [t.name for t in response.templates]


@pytest.mark.req("FND-PERF-003:floor-bench-only")
def test_the_floor_does_not_exist_under_the_project_settings(client):
    # given the project's own settings and a signed-in person
    assert django_settings.ROOT_URLCONF == "mes.urls"
    client.force_login(person("Operator"))
    # when they ask for the floor, then there is none: no name, and a 404 at its path
    with pytest.raises(NoReverseMatch):
        reverse(FLOOR)
    assert client.get("/bench/floor/").status_code == 404
