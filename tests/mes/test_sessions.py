"""Login, idle timeout, absolute lifetime, lockout after failed logins."""

import time

import pytest
import time_machine
from django.urls import reverse

from mes.models import SecurityEvent
from tests.refusals import refused


def _login(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


@pytest.mark.req("FND-SEC-001:login-logout")
def test_login_and_logout(client, operator, password):
    assert _login(client, "op1", password).status_code == 302
    assert client.get(reverse("home")).status_code == 200
    client.post(reverse("logout"))
    response = client.get(reverse("home"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.req("FND-SEC-001:idle")
def test_a_request_after_the_idle_limit_goes_to_login(client, operator, password):
    # the default limit, 15 minutes: nothing is overridden here
    with time_machine.travel(time.time(), tick=False) as clock:
        _login(client, "op1", password)
        clock.shift(14 * 60)
        assert client.get(reverse("home")).status_code == 200  # activity resets the clock
        clock.shift(14 * 60)
        assert client.get(reverse("home")).status_code == 200
        clock.shift(16 * 60)
        response = client.get(reverse("home"))
    assert response.status_code == 302
    assert "timeout=idle" in response["Location"]
    assert "_auth_user_id" not in client.session


@pytest.mark.req("FND-SEC-001:polling", "FND-NOT-001:polling")
def test_background_polling_does_not_extend_the_session(client, operator, password, settings):
    settings.SESSION_IDLE_MINUTES = 15
    background = {"HTTP_X_MES_BACKGROUND": "1", "HTTP_HX_REQUEST": "true"}
    with time_machine.travel(time.time(), tick=False) as clock:
        _login(client, "op1", password)
        responses = []
        for _ in range(5):  # the badge polls every 5 minutes for 25 minutes
            clock.shift(5 * 60)
            responses.append(client.get(reverse("inbox-badge"), **background))
    # polls at 5, 10 and 15 minutes are served; at 20 minutes the session has ended although
    # polling went on, and htmx is sent to the login page
    assert [r.status_code for r in responses] == [200, 200, 200, 204, 204]
    assert "timeout=idle" in responses[3]["HX-Redirect"]
    assert responses[4]["HX-Redirect"].startswith(reverse("login"))


@pytest.mark.req("FND-SEC-001:absolute")
def test_the_absolute_lifetime_ends_an_active_session(client, operator, password, settings):
    settings.SESSION_IDLE_MINUTES = 15
    settings.SESSION_ABSOLUTE_HOURS = 1
    with time_machine.travel(time.time(), tick=False) as clock:
        _login(client, "op1", password)
        for _ in range(6):
            clock.shift(10 * 60)
            assert client.get(reverse("home")).status_code == 200
        clock.shift(60)
        response = client.get(reverse("home"))
    assert response.status_code == 302 and "timeout=expired" in response["Location"]


@pytest.mark.req("FND-SEC-001:idle")
def test_an_api_request_after_the_idle_limit_gets_a_json_401(client, operator, password,
                                                             settings):
    settings.SESSION_IDLE_MINUTES = 15
    with time_machine.travel(time.time(), tick=False) as clock:
        _login(client, "op1", password)
        clock.shift(16 * 60)
        response = client.get("/api/v1/sites/")
    assert response.status_code == 401
    assert response.json()["code"] == "session_expired"


@pytest.mark.req("FND-SEC-002:lock", "FND-SEC-002:events", "FND-SEC-002:notify")
def test_five_failed_logins_lock_the_account_by_username_and_qa_sees_it(client, operator,
                                                                         qa_user, password):
    for i in range(5):
        client.post(reverse("login"), {"username": "op1", "password": "nope"},
                    REMOTE_ADDR=f"10.0.0.{i}")  # a different terminal each time
    response = _login(client, "op1", password)
    assert response.status_code in {403, 429}
    assert "_auth_user_id" not in client.session
    assert SecurityEvent.objects.filter(kind="login_failed", username="op1").count() >= 5
    assert SecurityEvent.objects.filter(kind="lockout", username="op1").count() == 1
    assert qa_user.notifications.filter(subject="Account locked: op1").exists()
    # another person on the same terminal is not locked out
    client.force_login(qa_user)
    page = client.get(reverse("security-events"))
    assert b"Account locked" in page.content


@pytest.mark.req("FND-SEC-003:passwords")
def test_weak_passwords_are_refused_by_the_validators(db, admin_user):
    from mes.services.access import create_user

    with refused("invalid", field="password"):
        create_user(actor=admin_user, username="newbie", full_name="New Person",
                    password="12345678")


@pytest.mark.req("FND-SEC-003:csp", "FND-SEC-003:no-cdn")
def test_pages_carry_a_content_security_policy_without_cdn(client, operator):
    client.force_login(operator)
    response = client.get(reverse("home"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy
    html = response.content.decode()
    assert "https://" not in html.split("<body")[0]  # no CDN assets in the head


def _fail_login(client, username, ip):
    return client.post(reverse("login"), {"username": username, "password": "nope"},
                       REMOTE_ADDR=ip)


@pytest.mark.req("FND-SEC-005:throttle")
def test_password_spraying_from_one_address_is_throttled_before_the_password_is_tried(
        client, operator, password, settings):
    settings.LOGIN_SPRAY_USERNAMES = 4
    for n in range(4):
        assert _fail_login(client, f"guess{n}", "10.9.9.9").status_code == 200
    failures = SecurityEvent.objects.filter(kind="login_failed").count()

    # the right password for a real account, from the spraying address
    response = client.post(reverse("login"), {"username": "op1", "password": password},
                           REMOTE_ADDR="10.9.9.9")
    again = _fail_login(client, "guess9", "10.9.9.9")

    assert response.status_code == 429 and again.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session
    # the password was not tried: no new failure counts against any account
    assert SecurityEvent.objects.filter(kind="login_failed").count() == failures
    throttled = SecurityEvent.objects.filter(kind="client_throttled", ip_address="10.9.9.9")
    assert sorted(throttled.values_list("username", flat=True)) == ["guess9", "op1"]
    # another address is not affected
    assert _login(client, "op1", password, REMOTE_ADDR="10.1.1.1").status_code == 302


@pytest.mark.req("FND-SEC-005:per-username")
def test_one_person_mistyping_on_a_shared_terminal_neither_throttles_it_nor_locks_others(
        client, operator, qa_user, password, settings):
    settings.LOGIN_SPRAY_USERNAMES = 4
    for n in range(5):  # from five different terminals: the lockout is by username
        _fail_login(client, "op1", f"10.2.2.{n}")

    assert SecurityEvent.objects.filter(kind="lockout", username="op1").count() == 1
    assert SecurityEvent.objects.filter(kind="client_throttled").count() == 0
    assert _login(client, "qa1", password, REMOTE_ADDR="10.2.2.2").status_code == 302


@pytest.mark.req("FND-SEC-005:known-device")
def test_spraying_cannot_lock_out_people_who_logged_in_on_this_browser_before(
        client, operator, qa_user, password, settings):
    from django.test import Client

    settings.LOGIN_SPRAY_USERNAMES = 4
    terminal = Client()  # the suite's shared terminal: both have logged in on it before
    for who in ("op1", "qa1"):
        assert _login(terminal, who, password, REMOTE_ADDR="10.3.3.3").status_code == 302
        terminal.post(reverse("logout"))
    attacker = Client()  # another browser behind the same address (a proxy, the same room)
    for n in range(6):
        _fail_login(attacker, f"guess{n}", "10.3.3.3")
    assert _login(attacker, "op1", password, REMOTE_ADDR="10.3.3.3").status_code == 429

    for who in ("op1", "qa1"):
        assert _login(terminal, who, password, REMOTE_ADDR="10.3.3.3").status_code == 302
        terminal.post(reverse("logout"))
    # a forged cookie is not a known device
    attacker.cookies["mes_device"] = '["op1"]'
    assert _login(attacker, "op1", password, REMOTE_ADDR="10.3.3.3").status_code == 429


@pytest.mark.req("FND-SEC-005:client-address")
def test_behind_a_trusted_proxy_the_client_is_the_forwarded_address(
        client, operator, password, settings):
    settings.LOGIN_SPRAY_USERNAMES = 3
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(3):  # a client that puts its own guess in front cannot choose its address
        client.post(reverse("login"), {"username": f"guess{n}", "password": "x"},
                    HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.7", **proxy)
    assert client.post(reverse("login"), {"username": "op1", "password": password},
                       HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy).status_code == 429
    # another client behind the same proxy is not throttled
    assert client.post(reverse("login"), {"username": "op1", "password": password},
                       HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy).status_code == 302


@pytest.mark.req("FND-SEC-005:client-address")
def test_ipv6_clients_are_counted_by_their_64_network(client, operator, password, settings):
    settings.LOGIN_SPRAY_USERNAMES = 3
    for n in range(3):  # one customer rotating addresses inside its /64
        _fail_login(client, f"guess{n}", f"2001:db8:1:2::{n + 1}")
    assert _login(client, "op1", password,
                  REMOTE_ADDR="2001:db8:1:2:ffff::9").status_code == 429
    assert _login(client, "op1", password, REMOTE_ADDR="2001:db8:1:3::1").status_code == 302
