"""The escalation ladder of a site and the people each level tells."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import Group

from deviations.models import EscalationLevel
from mes.models import User

# Used while a site has configured no ladder of its own.
DEFAULT_LADDER = (
    ("QA on duty", "QA Reviewer", 30),
    ("Qualified Person", "Qualified Person", 60),
)


def ladder_for(site) -> list[EscalationLevel]:
    levels = list(EscalationLevel.objects.filter(site=site, is_active=True)
                  .select_related("person").order_by("position"))
    if levels:
        return levels
    return [EscalationLevel(site=site, position=n, name=name, role=role,
                            respond_within_minutes=wait)
            for n, (name, role, wait) in enumerate(DEFAULT_LADDER, start=1)]


def recipients(level: EscalationLevel, site) -> list[User]:
    """The named person, else every active person with the level's role at the site."""
    if level.person_id:
        return [level.person] if level.person.is_active else []
    group = Group.objects.filter(name=level.role).first()
    if group is None:
        return []
    return list(User.objects.filter(
        is_active=True, groups=group,
        siteuserobjectpermission__content_object=site,
        siteuserobjectpermission__permission__codename="view_site",
    ).distinct().order_by("full_name"))


def next_escalation_at(due: datetime | None, reached: int,
                       levels: list[EscalationLevel]) -> datetime | None:
    """When the level after ``reached`` is to be told: level 2 at the deadline, each later
    level once the one before has had its response time. None at the top of the ladder."""
    if due is None or reached >= len(levels):
        return None
    waited = sum(level.respond_within_minutes for level in levels[1:reached])
    return due + timedelta(minutes=waited)
