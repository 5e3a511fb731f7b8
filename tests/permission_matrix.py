"""One permission matrix for every page and endpoint (after NetBox's utilities/testing/views.py).

A view is requested as four people: nobody logged in, someone without the permission,
someone with the permission but only at another site, and someone with the permission at
the record's site. Each row names the status it must answer with; a site-scoped record that
the person may not see is a 404, never a 403, so its existence does not leak.

    assert_permission_matrix(api_client, url, {NO_PERMISSION: op, OTHER_SITE: qa2,
                                               ALLOWED: qa1}, API)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.test import Client
from rest_framework.test import APIClient

ANONYMOUS = "anonymous"
NO_PERMISSION = "no permission"
OTHER_SITE = "permission at another site only"
ALLOWED = "permission at the record's site"
ROWS = (ANONYMOUS, NO_PERMISSION, OTHER_SITE, ALLOWED)

ERROR_KEYS = {"code", "message", "fields"}


@dataclass(frozen=True)
class Expect:
    statuses: tuple[int, ...]
    redirect_to: str | None = None  # the Location must start with this path

    def describe(self) -> str:
        where = f" to {self.redirect_to}" if self.redirect_to else ""
        return " or ".join(str(s) for s in self.statuses) + where


def expect(*statuses: int, redirect_to: str | None = None) -> Expect:
    return Expect(statuses=statuses, redirect_to=redirect_to)


# A page: the anonymous visitor is sent to log in.
UI: dict[str, Expect] = {
    ANONYMOUS: expect(302, redirect_to="/login/"),
    NO_PERMISSION: expect(403),
    OTHER_SITE: expect(404),
    ALLOWED: expect(200),
}

# An endpoint: the anonymous caller gets 401 (or 403 when the first authenticator sends no
# WWW-Authenticate challenge, as DRF does for session authentication).
API: dict[str, Expect] = {
    ANONYMOUS: expect(401, 403),
    NO_PERMISSION: expect(403),
    OTHER_SITE: expect(404),
    ALLOWED: expect(200),
}


def ui_client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def api_client(user) -> APIClient:
    """Session authentication, as the browser calls the API."""
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def error_body_problem(response) -> str | None:
    """Why ``response`` is not the API's one error body, or None when it is."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"body is not JSON: {response.content[:120]!r}"
    if not isinstance(body, dict) or set(body) != ERROR_KEYS:
        return f"body is not {{code, message, fields}}: {body!r}"
    if not (isinstance(body["code"], str) and body["code"]):
        return f"code is not a non-empty string: {body!r}"
    if not (isinstance(body["message"], str) and body["message"]):
        return f"message is not a non-empty string: {body!r}"
    if not isinstance(body["fields"], dict):
        return f"fields is not an object: {body!r}"
    return None


def assert_permission_matrix(
    client_for: Callable[[Any], Client],
    url: str,
    people: Mapping[str, Any],
    expected: Mapping[str, Expect],
    *,
    method: str = "get",
    data: Any = None,
    error_body: bool = False,
    state: Callable[[], Any] | None = None,
    **request_kwargs: Any,
) -> dict[str, Any]:
    """Request ``url`` as each row's person and check every row before failing.

    ``people`` maps rows to users (the anonymous row needs no entry). With ``error_body``,
    every 4xx must be the API's ``{"code", "message", "fields"}`` body. With ``state``, a
    snapshot taken before and after each refused request must be equal (nothing changed).
    Returns the responses by row, for further assertions.
    """
    people = {ANONYMOUS: None, **people}
    problems: list[str] = []
    responses: dict[str, Any] = {}
    for row in (r for r in ROWS if r in expected):
        want = expected[row]
        client = client_for(people[row])
        before = state() if state is not None else None
        response = getattr(client, method.lower())(url, data, **request_kwargs)
        responses[row] = response
        got = response.status_code
        if got not in want.statuses:
            problems.append(f"{row}: expected {want.describe()}, got {got}")
            continue
        if want.redirect_to and not response.get("Location", "").startswith(want.redirect_to):
            problems.append(f"{row}: redirected to {response.get('Location')!r}, "
                            f"not {want.redirect_to}")
        if error_body and 400 <= got < 500 and (problem := error_body_problem(response)):
            problems.append(f"{row}: {problem}")
        if state is not None and got >= 300 and state() != before:
            problems.append(f"{row}: the refused request changed something")
    assert not problems, f"{method.upper()} {url}\n  " + "\n  ".join(problems)
    return responses
