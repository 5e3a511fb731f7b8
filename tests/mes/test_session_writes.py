"""A logged-in page view does not write the session row every time: activity is recorded at
most once a minute, and the idle timeout still ends an idle session."""

import time

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse


def session_writes(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return sum(1 for q in queries if "django_session" in q["sql"]
               and q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT")))


@pytest.mark.req("FND-PERF-001:one-write-a-minute")
def test_activity_is_written_at_most_once_a_minute(client, operator, password):
    with time_machine.travel(time.time(), tick=False) as clock:
        client.post(reverse("login"), {"username": "op1", "password": password})
        clock.shift(5)
        assert session_writes(client, reverse("home")) == 0
        clock.shift(30)
        assert session_writes(client, reverse("home")) == 0
        clock.shift(30)  # more than a minute since the last recorded activity
        assert session_writes(client, reverse("home")) == 1
        assert session_writes(client, reverse("home")) == 0


@pytest.mark.req("FND-PERF-001:idle-still-ends")
def test_the_idle_timeout_still_ends_a_session_idle_for_its_limit(client, operator, password,
                                                                   settings):
    settings.SESSION_IDLE_MINUTES = 15
    with time_machine.travel(time.time(), tick=False) as clock:
        client.post(reverse("login"), {"username": "op1", "password": password})
        for _ in range(4):  # activity every 50 s: never more than a minute apart
            clock.shift(50)
            assert client.get(reverse("home")).status_code == 200
        clock.shift(15 * 60 + 1)
        response = client.get(reverse("home"))
        assert response.status_code == 302
        assert "timeout=idle" in response["Location"]


@pytest.mark.req("FND-SEC-004:session")
def test_a_session_of_an_account_locked_since_ends_within_a_minute(client, operator, password):
    from django.test import Client

    with time_machine.travel(time.time(), tick=False) as clock:
        client.post(reverse("login"), {"username": "op1", "password": password})
        assert client.get(reverse("home")).status_code == 200
        elsewhere = Client()
        for _ in range(5):  # someone tries op1's password on another terminal
            elsewhere.post(reverse("login"), {"username": "op1", "password": "wrong"})
        clock.shift(61)

        response = client.get(reverse("home"))
        api = client.get("/api/v1/sites/")

    assert response.status_code == 302 and "timeout=locked" in response["Location"]
    assert "_auth_user_id" not in client.session
    assert api.status_code in (401, 403)
