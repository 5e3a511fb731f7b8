"""Argon2id (OWASP parameters) hashes passwords; older hashes still work once and are upgraded,
attributed and with a reason, at the next login or signature."""

import pytest
from django.contrib.auth.hashers import make_password
from django.urls import reverse

from mes import audit
from mes.models import ElectronicSignature, Meaning, User
from mes.services import signatures
from tests.mes.factories import PASSWORD
from tests.mes.test_signatures import make_access_change

REAL_HASHERS = [
    "mes.hashers.OwaspArgon2idPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]


@pytest.fixture
def real_hashers(settings):
    settings.PASSWORD_HASHERS = REAL_HASHERS


def with_pbkdf2_hash(user: User) -> User:
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    audit.stamp(user, user=user, reason="Test: a hash from before Argon2id")
    user.save()
    return user


@pytest.mark.req("FND-SEC-008:new")
def test_new_passwords_are_hashed_with_argon2id_at_the_owasp_parameters(real_hashers, db):
    encoded = make_password("a-long-enough-pass-42")

    assert encoded.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.req("FND-SEC-008:upgrade-on-signature")
def test_a_pbkdf2_user_can_still_sign_and_their_hash_is_argon2id_afterwards(
        real_hashers, admin_user, operator):
    with_pbkdf2_hash(admin_user)
    change = make_access_change(admin_user, operator)

    signatures.sign(user=admin_user, password=PASSWORD, record=change, meaning=Meaning.APPROVED)

    admin_user.refresh_from_db()
    assert ElectronicSignature.objects.filter(signer=admin_user).count() == 1
    assert admin_user.password.startswith("argon2$argon2id$")
    upgrade = admin_user.history.first()
    assert upgrade.history_change_reason == "Password hash upgraded to Argon2id at login"
    assert upgrade.history_user == admin_user
    # and the upgraded hash still signs
    second = make_access_change(admin_user, operator, role="QA Reviewer")
    signatures.sign(user=admin_user, password=PASSWORD, record=second, meaning=Meaning.APPROVED)


@pytest.mark.req("FND-SEC-008:upgrade-on-login")
def test_a_pbkdf2_user_can_still_log_in_and_their_hash_is_argon2id_afterwards(
        real_hashers, client, operator):
    with_pbkdf2_hash(operator)

    response = client.post(reverse("login"), {"username": "op1", "password": PASSWORD})

    assert response.status_code == 302
    operator.refresh_from_db()
    assert operator.password.startswith("argon2$argon2id$")


@pytest.mark.req("FND-SEC-008:upgrade-on-login")
def test_a_wrong_password_does_not_upgrade_an_old_hash(real_hashers, client, operator):
    with_pbkdf2_hash(operator)
    before = operator.password

    client.post(reverse("login"), {"username": "op1", "password": "wrong"})

    operator.refresh_from_db()
    assert operator.password == before
