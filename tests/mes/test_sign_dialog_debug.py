"""A refused signature never replaces the page, DEBUG on or off (issue 13, item 4).

django-htmx's ``htmx_script`` tag adds, when DEBUG is on, a handler that swaps the whole
document for any 400, 403, 404 or 500 htmx response; our dialogs answer refusals with those
statuses, so with it the demo replaced the page with the refused dialog. The shell loads
django-htmx's htmx without that handler."""

import pytest
from django.urls import reverse


@pytest.mark.req("UI-SIGN-001")
@pytest.mark.parametrize("debug", [True, False])
def test_no_page_loads_the_handler_that_replaces_the_page_with_an_error(
        client, admin_user, settings, debug):
    settings.DEBUG = debug
    client.force_login(admin_user)
    html = client.get(reverse("home")).content.decode()
    assert "django_htmx/htmx-2.min.js" in html  # htmx itself is there
    assert "django-htmx.js" not in html and "data-debug" not in html
    assert "{#" not in html and "#}" not in html  # no template comment leaks into the page
