"""People and places: the custom user, sites, and site access through guardian."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from guardian.models import UserObjectPermissionBase

from mes import audit
from mes.history import History as HistoricalRecords
from mes.models.base import GMPModel, GMPQuerySet


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"“{value}” is not a known time zone (e.g. Europe/Amsterdam).")


class Site(GMPModel):
    """A manufacturing plant, a CMO or a clinical site; times are shown in its zone."""

    class Kind(models.TextChoices):
        PLANT = "plant", "Manufacturing plant"
        CMO = "cmo", "Contract manufacturer"
        CLINICAL = "clinical", "Clinical site"

    code = models.CharField(
        max_length=16, unique=True,
        validators=[RegexValidator(r"^[A-Z0-9-]+$", "Use capitals, digits and dashes.")],
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    facility_identification_number = models.CharField(
        "ISBT 128 facility identification number", max_length=5, blank=True,
        validators=[RegexValidator(r"^[A-Z0-9]{5}$", "Five capitals or digits.")],
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class UserQuerySet(GMPQuerySet):
    def visible_to(self, user):
        """People who share a site with ``user``, plus people with no site yet."""
        sites = user.sites()
        return self.filter(
            models.Q(siteuserobjectpermission__content_object__in=sites)
            | models.Q(siteuserobjectpermission__isnull=True)
        ).exclude(username=settings.SYSTEM_USERNAME).distinct()


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def create_user(self, username: str, password: str | None = None, **fields):
        if not username:
            raise ValueError("A username is required.")
        user = self.model(username=username, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **fields):
        fields.setdefault("is_superuser", True)
        return self.create_user(username, password, **fields)


class User(GMPModel, AbstractBaseUser, PermissionsMixin):
    """One account is one person. Usernames are unique and, since accounts are deactivated
    and never deleted, never reused."""

    username = models.CharField(
        max_length=64, unique=True,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9._-]*$",
                                   "Lower-case letters, digits, dots, dashes, underscores.")],
    )
    full_name = models.CharField(
        "legal full name", max_length=200,
        help_text="Printed in every electronic signature manifestation.",
    )
    email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["full_name"]
        constraints = [
            models.UniqueConstraint(Lower("username"), name="mes_user_username_ci_unique"),
        ]
        permissions = [
            ("manage_access", "Can request changes of roles and site access"),
            ("view_audit_trail", "Can review the audit trail of records"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.username})"

    @property
    def is_staff(self) -> bool:
        return False

    def get_full_name(self) -> str:
        return self.full_name

    def check_password(self, raw_password: str) -> bool:
        """Django's check, except that upgrading an old hash (another algorithm or weaker
        parameters) is a change of a GMP record like any other: attributed and with a reason."""
        from django.contrib.auth.hashers import check_password

        def upgrade(raw: str) -> None:
            self.set_password(raw)
            self._password = None
            audit.stamp(self, user=self, reason="Password hash upgraded to Argon2id at login")
            self.save(update_fields=["password"])

        return check_password(raw_password, self.password, upgrade)

    def get_short_name(self) -> str:
        return self.username

    def sites(self):
        """The sites this person may see (guardian object permission ``view_site``)."""
        return Site.objects.filter(
            siteuserobjectpermission__user=self,
            siteuserobjectpermission__permission__codename="view_site",
        ).distinct()

    def site_ids(self) -> frozenset[int]:
        """The ids of ``sites()``, read once per loaded user (so once per request): scoped
        queries filter on this list instead of joining guardian's table again each time."""
        cache = getattr(self, "_site_ids", None)
        if cache is None:
            cache = self._site_ids = frozenset(self.sites().values_list("pk", flat=True))
        return cache

    def has_site(self, site: Site) -> bool:
        return site.pk in self.site_ids()

    def role_names(self) -> list[str]:
        cache = getattr(self, "_role_names", None)
        if cache is None:
            cache = self._role_names = sorted(self.groups.values_list("name", flat=True))
        return cache


class SiteUserObjectPermission(UserObjectPermissionBase):
    """guardian's per-object permission with a real foreign key (fast, see LIBRARIES.md)."""

    content_object = models.ForeignKey(Site, on_delete=models.PROTECT)
    history = HistoricalRecords(get_user=audit.get_history_user)
