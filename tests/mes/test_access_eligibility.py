"""An access change that cannot be approved says why on its form, before any password is
asked (issue 13 item 3, UI.md Signing)."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from mes.models import AccessChange, ElectronicSignature


@pytest.mark.req("UI-SIGN-002")
def test_granting_a_role_the_person_holds_says_so_before_the_dialog(client, admin_user,
                                                                     operator):
    client.force_login(admin_user)
    url = reverse("user-access", args=[operator.pk])
    response = client.post(url, {"action": "grant",
                                 "role": Group.objects.get(name="Operator").pk,
                                 "reason": "Hired as an operator"})
    html = response.content.decode()
    assert response.status_code == 400 and "already has the role Operator" in html
    assert 'name="password"' not in html
    assert not AccessChange.objects.filter(user=operator, action="grant",
                                           role__name="Operator", requested_by=admin_user
                                           ).exists()
    assert not ElectronicSignature.objects.filter(signer=admin_user).exists()
