"""History tables, signatures and security events refuse UPDATE and DELETE in the database."""

import pytest
from django.db import DatabaseError, connection, transaction

from mes import audit
from mes.db import append_only_tables, tables_with_append_only_triggers
from mes.models import ElectronicSignature, Meaning, SecurityEvent, Site
from mes.services.signatures import apply_signature
from tests.mes.factories import SiteFactory


def _refused(sql: str, params) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError as exc:
        return "append-only" in str(exc)
    return False


@pytest.mark.req("FND-AUD-003:triggers")
def test_every_history_and_append_only_table_carries_the_triggers(db):
    # given the migrated database
    tables = set(append_only_tables())
    # then every history table of our apps, and the signature table, is guarded
    assert "mes_historicalsite" in tables and "mes_electronicsignature" in tables
    assert tables <= tables_with_append_only_triggers(connection)


@pytest.mark.req("FND-AUD-003:history")
def test_raw_sql_update_and_delete_on_a_history_table_are_refused(db, admin_user):
    # given a site with history
    site = SiteFactory(code="HX1")
    audit.stamp(site, user=admin_user, reason="Renamed")
    site.name = "Renamed"
    site.save()
    rows = site.history.count()
    # when someone rewrites or removes history with raw SQL
    updated = _refused("UPDATE mes_historicalsite SET name = %s WHERE id = %s", ["Forged", site.pk])
    deleted = _refused("DELETE FROM mes_historicalsite WHERE id = %s", [site.pk])
    # then the database refuses both and the history is intact
    assert updated and deleted
    assert site.history.count() == rows
    assert not site.history.filter(name="Forged").exists()


@pytest.mark.req("FND-AUD-003:signatures", "FND-SIG-003:immutable")
def test_raw_sql_update_and_delete_on_the_signature_table_are_refused(db, admin_user, operator):
    # given a signed access change
    from tests.mes.test_signatures import make_access_change

    change = make_access_change(admin_user, operator)
    signature = apply_signature(signer=admin_user, record=change, meaning=Meaning.APPROVED)
    # when a signature is edited, moved to another record, or deleted with raw SQL
    edited = _refused("UPDATE mes_electronicsignature SET printed_name = %s WHERE id = %s",
                      ["Someone Else", signature.pk])
    moved = _refused("UPDATE mes_electronicsignature SET object_id = %s WHERE id = %s",
                     [change.pk + 1000, signature.pk])
    deleted = _refused("DELETE FROM mes_electronicsignature WHERE id = %s", [signature.pk])
    # then all are refused and the signature is as it was
    assert edited and moved and deleted
    signature.refresh_from_db()
    assert signature.printed_name == admin_user.full_name
    assert signature.object_id == change.pk


@pytest.mark.req("FND-AUD-003:security-events")
def test_raw_sql_update_and_delete_on_the_security_event_table_are_refused(db):
    # given a recorded security event
    event = SecurityEvent.objects.create(kind=SecurityEvent.Kind.LOGIN_FAILED, username="op1",
                                         detail="Wrong password")
    # when someone rewrites or removes it with raw SQL
    updated = _refused("UPDATE mes_securityevent SET username = %s WHERE id = %s",
                       ["someone-else", event.pk])
    deleted = _refused("DELETE FROM mes_securityevent WHERE id = %s", [event.pk])
    # then the database refuses both and the event is as it was
    assert updated and deleted
    event.refresh_from_db()
    assert (event.username, event.detail) == ("op1", "Wrong password")


@pytest.mark.postgres
@pytest.mark.req("FND-AUD-003:trigger-origin")
def test_on_postgresql_the_refusal_comes_from_a_trigger(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.triggers "
                       "WHERE trigger_name = 'mes_append_only' "
                       "AND event_object_table = 'mes_historicaluser'")
        assert cursor.fetchone()[0] == 2  # UPDATE and DELETE
    assert Site.history.model._meta.db_table in tables_with_append_only_triggers(connection)
    assert ElectronicSignature._meta.db_table in tables_with_append_only_triggers(connection)


@pytest.mark.req("FND-AUD-007:one-list")
def test_the_append_only_marker_and_the_one_list_agree():
    # The list in mes.db is the one place; a model marked AppendOnly must be on it, and a
    # model on it must be marked (removing either alone fails here).
    from django.apps import apps

    from mes.apps import OUR_APPS
    from mes.db import APPEND_ONLY_MODELS

    marked = {m._meta.label_lower for m in apps.get_models()
              if m._meta.app_label in OUR_APPS and getattr(m, "append_only", False)}
    assert marked == set(APPEND_ONLY_MODELS)


@pytest.mark.req("FND-AUD-007:database")
def test_the_database_guards_exactly_the_listed_tables(db):
    # given the migrated database, then the triggers sit on exactly the listed tables:
    # none missing (a table left writable) and none extra (a list that lies)
    assert tables_with_append_only_triggers(connection) == set(append_only_tables())
    assert "deviations_escalationevent" in append_only_tables()


@pytest.mark.req("FND-AUD-007:one-list")
def test_every_listed_model_names_a_real_write_time_field():
    from django.apps import apps

    from mes.db import APPEND_ONLY_MODELS

    for label, field in APPEND_ONLY_MODELS.items():
        model = apps.get_model(label)
        if field is not None:
            assert model._meta.get_field(field).get_internal_type() == "DateTimeField", label
