"""The abstract bases every model of ours inherits from.

`TrackedModel` gives a model its audit trail (django-simple-history, attributed to the acting
user) and refuses the bulk paths that would skip it. `GMPModel` adds what a GMP record needs:
a reason for every change after creation, and no deletion ever (cancellation is a status).
"""

from __future__ import annotations

import hashlib
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from mes import audit
from mes.errors import HistoryBypassRefused, ReasonForChangeRequired, RecordDeletionRefused
from mes.history import History as HistoricalRecords

# Fields whose change is bookkeeping, not a change of the record (e.g. the last login time).
REASON_EXEMPT_FIELDS: frozenset[str] = frozenset({"last_login"})


class TrackedQuerySet(models.QuerySet):
    """Refuses writes that send no signals and so leave no history (simple-history #412)."""

    def update(self, **kwargs):
        if audit.bulk_allowed():
            return super().update(**kwargs)
        raise HistoryBypassRefused(
            f"QuerySet.update() on {self.model._meta.label} would skip the audit trail; "
            "save each record, or use mes.audit.bulk_update_with_history."
        )

    def bulk_update(self, objs, fields, batch_size=None):
        if audit.bulk_allowed():
            return super().bulk_update(objs, fields, batch_size=batch_size)
        raise HistoryBypassRefused(
            f"bulk_update() on {self.model._meta.label} would skip the audit trail; "
            "use mes.audit.bulk_update_with_history."
        )

    def bulk_create(self, objs, *args, **kwargs):
        if audit.bulk_allowed():
            return super().bulk_create(objs, *args, **kwargs)
        raise HistoryBypassRefused(
            f"bulk_create() on {self.model._meta.label} would skip the audit trail; "
            "use mes.audit.bulk_create_with_history."
        )


class GMPQuerySet(TrackedQuerySet):
    def delete(self):
        raise RecordDeletionRefused(
            f"{self.model._meta.verbose_name_plural} are GMP records and are never deleted; "
            "cancel them with a status and a reason."
        )


class SiteScopedQuerySet(GMPQuerySet):
    """For GMP records that belong to a site: narrow to what a person may see first, so a
    record of another site is a 404 (STYLE.md, Permissions)."""

    def visible_to(self, user):
        return self.filter(site_id__in=sorted(user.site_ids()))


class TrackedModel(models.Model):
    """Any record of ours: every create, change and delete leaves a history row.

    Subclass it directly only for operational rows, and say so with
    ``operational_record = True`` (a test holds every model to that); GMP records subclass
    GMPModel."""

    history = HistoricalRecords(inherit=True, get_user=audit.get_history_user)

    objects = TrackedQuerySet.as_manager()

    class Meta:
        abstract = True


class GMPModel(TrackedModel):
    """A GMP record: changes after creation need a reason; deletion is refused."""

    objects = GMPQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            exempt = update_fields is not None and set(update_fields) <= REASON_EXEMPT_FIELDS
            if exempt:
                # Bookkeeping such as last_login is not a change of the record.
                self.skip_history_when_saving = True
            elif not (getattr(self, "_change_reason", None) or "").strip():
                raise ReasonForChangeRequired(
                    f"A reason for change is required to change {self._meta.verbose_name} "
                    f"“{self}”."
                )
        try:
            super().save(*args, **kwargs)
        finally:
            # A reason belongs to one change; the next change must give its own.
            self._change_reason = None
            if hasattr(self, "skip_history_when_saving"):
                del self.skip_history_when_saving

    def delete(self, *args, **kwargs):
        raise RecordDeletionRefused(
            f"{self._meta.verbose_name} “{self}” is a GMP record and is never deleted; "
            "cancel it with a status and a reason."
        )


def _guard_the_base_manager(sender, **kwargs) -> None:
    """Django reaches records through ``_base_manager`` (a plain Manager unless named), which
    would let ``update()`` and ``delete()`` skip the guards above; make it the guarded one."""
    if issubclass(sender, TrackedModel) and sender._meta.base_manager_name is None:
        sender._meta.base_manager_name = "objects"


models.signals.class_prepared.connect(_guard_the_base_manager, dispatch_uid="mes-base-manager")


class AppendOnly:
    """Marker: the database refuses UPDATE and DELETE on this model's table (see mes.db)."""

    append_only = True


class Signable:
    """A record that can carry electronic signatures.

    ``signing_permissions`` maps each meaning the record may be signed with to the permission
    the signer needs. ``canonical_content`` is what a signature's hash covers; fields that move
    on legitimately after signing (e.g. a status) are left out by ``signature_excluded_fields``.
    """

    signing_permissions: dict[str, str] = {}
    signature_excluded_fields: tuple[str, ...] = ()

    def canonical_content(self) -> dict:
        content = {}
        for field in self._meta.concrete_fields:
            if field.name in self.signature_excluded_fields:
                continue
            content[field.attname] = getattr(self, field.attname)
        return content

    def canonical_hash(self) -> str:
        payload = {
            "record": self._meta.label_lower,
            "pk": str(self.pk),
            "content": self.canonical_content(),
        }
        data = json.dumps(payload, sort_keys=True, cls=DjangoJSONEncoder, separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()

    def signature_superseded(self, signature) -> bool:
        """Was ``signature`` overtaken by a recorded correction of this record (so its content
        changed with a reason, on the record, and was signed again)? Such a signature no
        longer matches the record and is not a break of integrity. Records that are corrected
        after signing say so; no other record's signatures are ever superseded."""
        return False

    def signing_site(self):
        """The site whose people may sign this record (None: not site-bound)."""
        return getattr(self, "site", None)

    def check_signer(self, user, meaning: str) -> None:
        """Raise SignatureRefused if ``user`` may not sign this record with ``meaning``.

        Models extend this with their own rules (e.g. nobody verifies their own work).
        """
        from mes.errors import SignatureRefused

        permission = self.signing_permissions.get(meaning)
        if permission is None:
            raise SignatureRefused(
                f"{self._meta.verbose_name} cannot be signed with the meaning “{meaning}”."
            )
        if not user.has_perm(permission):
            raise SignatureRefused(
                f"{user.full_name} is not authorised to sign {self._meta.verbose_name} "
                f"as “{meaning}”."
            )
        site = self.signing_site()
        if site is not None and not user.has_site(site):
            raise SignatureRefused(f"{user.full_name} has no access to site {site}.")
