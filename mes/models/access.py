"""Access changes (EU GMP Annex 11 §12): granting or revoking a role or a site is a signed
GMP record of its own, shown in the person's access history."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.utils import timezone

from mes.models.base import GMPModel, Signable
from mes.models.signatures import Meaning


class AccessChange(Signable, GMPModel):
    class Action(models.TextChoices):
        GRANT = "grant", "Grant"
        REVOKE = "revoke", "Revoke"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                             related_name="access_changes")
    action = models.CharField(max_length=8, choices=Action.choices)
    role = models.ForeignKey(Group, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+")
    site = models.ForeignKey("mes.Site", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="access_changes")
    reason = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="access_changes_requested")
    requested_at = models.DateTimeField(default=timezone.now)
    signatures = GenericRelation("mes.ElectronicSignature")

    signing_permissions = {Meaning.APPROVED: "mes.approve_accesschange"}

    class Meta:
        ordering = ["-requested_at", "-pk"]
        permissions = [("approve_accesschange", "Can approve (sign) access changes")]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(role__isnull=False, site__isnull=True)
                           | models.Q(role__isnull=True, site__isnull=False)),
                name="mes_accesschange_role_xor_site",
            ),
            models.CheckConstraint(
                condition=~models.Q(user=models.F("requested_by")),
                name="mes_accesschange_not_own",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.subject} for {self.user.full_name}"

    @property
    def subject(self) -> str:
        return f"role {self.role.name}" if self.role_id else f"site {self.site}"

    def signing_site(self):
        return self.site

    def check_signer(self, user, meaning: str) -> None:
        from mes.errors import SignatureRefused

        super().check_signer(user, meaning)
        if user.pk == self.user_id:
            raise SignatureRefused("Nobody may approve a change of their own access.")
