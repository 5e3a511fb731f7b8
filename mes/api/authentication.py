"""API token authentication that honours the account's state at once: a token of a locked
or deactivated account stops working on the next request (401 JSON), not at its expiry."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication


class AccountLocked(exceptions.AuthenticationFailed):
    default_detail = "The account is locked after repeated failed logins or signatures."
    default_code = "account_locked"


class AccountInactive(exceptions.AuthenticationFailed):
    default_detail = "The account is deactivated."
    default_code = "account_inactive"


class AccountStateTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        from mes.services.security import is_locked

        model = self.get_model()
        token = model.objects.select_related("user").filter(key=key).first()
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.", code="invalid_token")
        if not token.user.is_active:
            raise AccountInactive()
        if is_locked(token.user.username):
            raise AccountLocked()
        return token.user, token
