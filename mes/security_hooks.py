"""Listens to Django's and django-axes' authentication signals and turns failures and
lockouts into SecurityEvents that QA reviews. (Signals are the only way these libraries
report; the rule itself lives in mes.services.security.)"""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

from mes.services import security


@receiver(user_login_failed, dispatch_uid="mes-login-failed")
def _on_login_failed(sender, credentials, request=None, **kwargs):
    security.record_failed_authentication(credentials.get("username", ""), request)


@receiver(user_locked_out, dispatch_uid="mes-locked-out")
def _on_locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    security.record_lockout(username or "", request)
