"""The kernel's demo data: a plant, a clinical site, one person per role.

`manage.py load_demo` runs this and then every other app's ``demo.load()`` in layer order,
so the demo always shows a plant in full swing. Everything is idempotent.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm

from mes import audit
from mes.models import AccessChange, Meaning, Site, User
from mes.roles import ensure_roles
from mes.services.signatures import apply_signature

DEMO_PASSWORD = "demo-pass-2026"

SITES = [
    {"code": "LEI", "name": "Leiden Cell Therapy Plant", "kind": Site.Kind.PLANT,
     "time_zone": "Europe/Amsterdam", "facility_identification_number": "G1234"},
    {"code": "BOS", "name": "Boston CMO Suite 3", "kind": Site.Kind.CMO,
     "time_zone": "America/New_York", "facility_identification_number": "W0457"},
    {"code": "UMCU", "name": "University Medical Centre Utrecht (clinical)",
     "kind": Site.Kind.CLINICAL, "time_zone": "Europe/Amsterdam",
     "facility_identification_number": ""},
]

# username, legal full name, role, sites
PEOPLE = [
    ("admin", "Alex Admin", "Administrator", ["LEI", "BOS", "UMCU"]),
    ("operator", "Olga Operator", "Operator", ["LEI"]),
    ("supervisor", "Sam Supervisor", "Supervisor", ["LEI"]),
    ("qa", "Quinn Reviewer", "QA Reviewer", ["LEI", "BOS"]),
    ("qp", "Priya Qualified", "Qualified Person", ["LEI", "BOS"]),
    ("planner", "Pat Planner", "Planner", ["LEI"]),
    ("trainer", "Tom Trainer", "Trainer", ["LEI"]),
    ("operator2", "Omar Operator", "Operator", ["LEI"]),
    ("bos-operator", "Beth Operator", "Operator", ["BOS"]),
]


def load() -> dict:
    ensure_roles()
    system = audit.system_user()
    sites = {}
    with audit.acting_as(system):
        for data in SITES:
            site, _ = Site.objects.get_or_create(code=data["code"], defaults=data)
            sites[site.code] = site
        admin = _person("admin", "Alex Admin")
        if not admin.groups.filter(name="Administrator").exists():
            # Bootstrapping: the first administrator is set up by the system account.
            admin.groups.add(Group.objects.get(name="Administrator"))
            for code in PEOPLE[0][3]:
                assign_perm("mes.view_site", admin, sites[code])
        for username, full_name, role, codes in PEOPLE[1:]:
            person = _person(username, full_name)
            group = Group.objects.get(name=role)
            if not person.groups.filter(pk=group.pk).exists():
                _grant(admin, person, role=group, reason=f"Demo: {role} on hire")
            for code in codes:
                if not person.sites().filter(pk=sites[code].pk).exists():
                    _grant(admin, person, site=sites[code], reason=f"Demo: works at {code}")
    return {"sites": sites, "admin": admin}


def _person(username: str, full_name: str) -> User:
    person = User.objects.filter(username=username).first()
    if person is None:
        person = User(username=username, full_name=full_name,
                      email=f"{username}@demo.cgt-mes.example")
        person.set_password(DEMO_PASSWORD)
        person.save()
    return person


def _grant(admin: User, person: User, *, role=None, site=None, reason: str) -> None:
    """The demo records its access changes as the real flow does: a signed GMP record."""
    change = AccessChange(user=person, action=AccessChange.Action.GRANT, role=role, site=site,
                          reason=reason, requested_by=admin)
    audit.stamp(change, user=admin, reason=reason)
    change.save()
    with audit.acting_as(admin):
        if role is not None:
            person.groups.add(role)
        else:
            assign_perm("mes.view_site", person, site)
    person._site_ids = None
    apply_signature(signer=admin, record=change, meaning=Meaning.APPROVED, reason=reason)


def logins() -> list[tuple[str, str, str]]:
    return [(username, role, DEMO_PASSWORD) for username, _, role, _ in PEOPLE]
