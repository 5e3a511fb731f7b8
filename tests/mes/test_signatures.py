"""Electronic signatures: re-authentication, lockout, manifestation content, record linking."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.db import connection

from mes import audit
from mes.errors import SignatureRefused
from mes.models import AccessChange, ElectronicSignature, Meaning, SecurityEvent
from mes.services import signatures
from tests.mes.factories import PASSWORD, person
from tests.refusals import refused


def make_access_change(admin, user, role="Supervisor", reason="Promotion") -> AccessChange:
    change = AccessChange(user=user, action=AccessChange.Action.GRANT,
                          role=Group.objects.get(name=role), reason=reason, requested_by=admin)
    audit.stamp(change, user=admin, reason=reason)
    change.save()
    return change


@pytest.mark.req("FND-SIG-001:stores", "FND-SIG-002:hash")
def test_a_signature_records_printed_name_utc_time_meaning_reason_and_hash(db, admin_user,
                                                                             operator):
    change = make_access_change(admin_user, operator)
    signature = signatures.sign(user=admin_user, password=PASSWORD, record=change,
                                meaning=Meaning.APPROVED, reason="Approved per SOP-ADM-001")
    assert signature.printed_name == "Ada Admin"
    assert signature.username == "admin1"
    assert signature.meaning == Meaning.APPROVED
    assert signature.reason == "Approved per SOP-ADM-001"
    assert signature.signed_at.utcoffset().total_seconds() == 0
    assert signature.record_hash == change.canonical_hash()
    assert signature.record == change
    assert signatures.verify(signature).valid


@pytest.mark.req("FND-SIG-002:raw-sql")
def test_a_signature_breaks_when_the_record_is_changed_by_raw_sql(db, admin_user, operator):
    change = make_access_change(admin_user, operator)
    signature = signatures.sign(user=admin_user, password=PASSWORD, record=change,
                                meaning=Meaning.APPROVED)
    assert signatures.verify(signature).valid
    with connection.cursor() as cursor:
        cursor.execute("UPDATE mes_accesschange SET reason = %s WHERE id = %s",
                       ["Something else", change.pk])
    result = signatures.verify(signature)
    assert not result.valid
    assert "changed after it was signed" in result.detail


@pytest.mark.req("FND-SIG-002:copy")
def test_a_signature_cannot_be_copied_to_another_record(db, admin_user, operator, qa_user):
    # the hash binds the record's identity, so the same content on another row does not verify
    first = make_access_change(admin_user, operator, reason="Same")
    second = make_access_change(admin_user, qa_user, reason="Same")
    signature = signatures.sign(user=admin_user, password=PASSWORD, record=first,
                                meaning=Meaning.APPROVED)
    assert signature.record_hash != second.canonical_hash()


@pytest.mark.req("FND-SIG-004:password", "FND-SIG-004:counted")
def test_a_wrong_password_is_refused_writes_no_signature_and_counts_toward_lockout(
        db, admin_user, operator):
    change = make_access_change(admin_user, operator)
    with pytest.raises(SignatureRefused) as refused:
        signatures.sign(user=admin_user, password="wrong", record=change,
                        meaning=Meaning.APPROVED)
    assert refused.value.code == "wrong_password"
    assert not ElectronicSignature.objects.exists()
    attempt = AccessAttempt.objects.get(username="admin1")
    assert attempt.failures_since_start == 1
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.SIGNATURE_FAILED,
                                        username="admin1").count() == 1


@pytest.mark.req("FND-SIG-004:lockout", "FND-SEC-002:lock", "FND-SEC-002:notify")
def test_the_fifth_failed_signature_locks_the_account_and_tells_qa(db, admin_user, operator,
                                                                    qa_user):
    change = make_access_change(admin_user, operator)
    codes = []
    for _ in range(5):
        with pytest.raises(SignatureRefused) as refused:
            signatures.sign(user=admin_user, password="wrong", record=change,
                            meaning=Meaning.APPROVED)
        codes.append(refused.value.code)
    assert codes[:4] == ["wrong_password"] * 4
    assert codes[4] == "account_locked"
    # even the right password is refused now
    with pytest.raises(SignatureRefused) as locked:
        signatures.sign(user=admin_user, password=PASSWORD, record=change,
                        meaning=Meaning.APPROVED)
    assert locked.value.code == "account_locked"
    assert not ElectronicSignature.objects.exists()
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.LOCKOUT,
                                        username="admin1").count() == 1
    assert qa_user.notifications.filter(subject__contains="admin1").exists()


@pytest.mark.req("FND-SIG-003:service")
def test_one_signer_cannot_sign_the_same_record_twice_with_the_same_meaning(db, admin_user,
                                                                            operator):
    change = make_access_change(admin_user, operator)
    signatures.sign(user=admin_user, password=PASSWORD, record=change, meaning=Meaning.APPROVED)
    with pytest.raises(SignatureRefused) as refused:
        signatures.sign(user=admin_user, password=PASSWORD, record=change,
                        meaning=Meaning.APPROVED)
    assert refused.value.code == "already_signed"
    assert ElectronicSignature.objects.count() == 1


@pytest.mark.req("FND-SIG-003:constraint")
def test_the_database_refuses_a_duplicate_signature_even_past_the_service(db, admin_user,
                                                                          operator):
    from django.db import IntegrityError, transaction

    change = make_access_change(admin_user, operator)
    first = signatures.sign(user=admin_user, password=PASSWORD, record=change,
                            meaning=Meaning.APPROVED)
    duplicate = ElectronicSignature(
        content_type=first.content_type, object_id=first.object_id, signer=admin_user,
        printed_name="x", username="x", meaning=Meaning.APPROVED,
        record_hash=first.record_hash)
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


@pytest.mark.req("FND-SIG-005:permission")
def test_a_signer_without_the_permission_for_that_meaning_is_refused(db, admin_user, operator,
                                                                     qa_user):
    change = make_access_change(admin_user, operator)
    with refused("signature_refused", match="not authorised"):
        signatures.sign(user=qa_user, password=PASSWORD, record=change,
                        meaning=Meaning.APPROVED)
    with refused("signature_refused", match="cannot be signed with the meaning"):
        signatures.sign(user=admin_user, password=PASSWORD, record=change,
                        meaning=Meaning.RELEASED)
    assert not ElectronicSignature.objects.exists()


@pytest.mark.req("FND-SIG-005:site")
def test_a_signer_without_access_to_the_records_site_is_refused(db, admin_user, site,
                                                                 other_site):
    # given a site grant at the plant, and an administrator of another plant only
    newcomer = person(username="new2", full_name="Nina New")
    change = AccessChange(user=newcomer, action=AccessChange.Action.GRANT, site=site,
                          reason="Joins the plant", requested_by=admin_user)
    audit.stamp(change, user=admin_user, reason="Joins the plant")
    change.save()
    far_admin = person("Administrator", sites=[other_site], username="admin-far",
                       full_name="Far Admin")
    # when the far administrator signs it, then it is refused and nothing is signed
    with refused("signature_refused", match="no access to site"):
        signatures.sign(user=far_admin, password=PASSWORD, record=change,
                        meaning=Meaning.APPROVED)
    assert not ElectronicSignature.objects.exists()


@pytest.mark.req("FND-SIG-005:own-work")
def test_nobody_approves_a_change_of_their_own_access(db, admin_user, site):
    other_admin = person("Administrator", sites=[site], username="admin2", full_name="Bo Admin")
    change = make_access_change(other_admin, admin_user)
    with refused("signature_refused", match="own access"):
        signatures.sign(user=admin_user, password=PASSWORD, record=change,
                        meaning=Meaning.APPROVED)


@pytest.mark.req("FND-SIG-005:active")
def test_a_deactivated_account_cannot_sign(db, admin_user, operator):
    change = make_access_change(admin_user, operator)
    admin_user.is_active = False
    audit.stamp(admin_user, user=admin_user, reason="Left the company")
    admin_user.save()
    with refused("signature_refused", match="deactivated"):
        signatures.sign(user=admin_user, password=PASSWORD, record=change,
                        meaning=Meaning.APPROVED)


@pytest.mark.req("FND-SEC-002:notify")
def test_a_lockout_is_told_to_qa_of_the_persons_sites_only(db, admin_user, operator, qa_user,
                                                          other_site):
    far_qa = person("QA Reviewer", sites=[other_site], username="qa-far", full_name="Far QA")
    change = make_access_change(admin_user, operator)
    codes = []
    for _ in range(5):
        with pytest.raises(SignatureRefused) as refusal:
            signatures.sign(user=admin_user, password="wrong", record=change,
                            meaning=Meaning.APPROVED)
        codes.append(refusal.value.code)
    assert codes == ["wrong_password"] * 4 + ["account_locked"]
    assert qa_user.notifications.filter(subject__contains="admin1").exists()
    assert not far_qa.notifications.exists()
