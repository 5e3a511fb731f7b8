from __future__ import annotations

import factory
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm

from mes.models import Site, User
from mes.roles import ensure_roles

PASSWORD = "correct-horse-battery"


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.Sequence(lambda n: f"Site {n}")
    kind = Site.Kind.PLANT
    time_zone = "Europe/Amsterdam"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    full_name = factory.Sequence(lambda n: f"Person Number{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or PASSWORD)
        if create:
            obj._change_reason = "Test password set"
            obj.save(update_fields=["password"])


def person(role: str | None = None, *, sites=(), **kwargs) -> User:
    """A user with a role (group) and access to ``sites``, set up directly for tests."""
    user = UserFactory(**kwargs)
    if role:
        ensure_roles()
        user.groups.add(Group.objects.get(name=role))
    for site in sites:
        assign_perm("mes.view_site", user, site)
    return User.objects.get(pk=user.pk)  # fresh: no cached permissions
