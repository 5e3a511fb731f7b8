"""The audit trail: history on every model, reasons, refused bypasses, the review page."""

import csv
import io

import pytest
from django.apps import apps
from django.urls import reverse

from mes import audit, audit_trail
from mes.apps import OUR_APPS
from mes.errors import HistoryBypassRefused, RecordDeletionRefused
from mes.models import GMPModel, Notification, Site, TrackedModel, User
from mes.models.base import GMPQuerySet
from tests.mes.factories import SiteFactory
from tests.refusals import refused

# Concrete models may be operational rather than GMP records only by saying so with
# ``operational_record = True`` (reading a notification, storing an idempotent response, a
# number counter): tracked, but a change needs no reason. guardian's site-permission row is
# removed when access is revoked; the signed AccessChange is the GMP record of that.
NON_GMP = {"mes.SiteUserObjectPermission"}


def our_models():
    return [m for m in apps.get_models() if m._meta.app_label in OUR_APPS
            and not m.__name__.startswith("Historical")]


@pytest.mark.req("FND-AUD-001:every-model")
def test_every_model_of_our_apps_has_history():
    missing = [m._meta.label for m in our_models() if not hasattr(m, "history")]
    assert our_models(), "no models found"
    assert missing == []


@pytest.mark.req("FND-AUD-002:every-model")
def test_every_model_is_a_gmp_record_or_explicitly_operational():
    unclassified = [
        m._meta.label for m in our_models()
        if not issubclass(m, GMPModel) and m._meta.label not in NON_GMP
        and not (issubclass(m, TrackedModel) and getattr(m, "operational_record", False))
    ]
    assert unclassified == [], (
        "subclass mes.models.GMPModel, or declare operational_record = True on a TrackedModel "
        "that is not a GMP record")
    assert not [m._meta.label for m in our_models()
                if issubclass(m, GMPModel) and getattr(m, "operational_record", False)]


@pytest.mark.req("FND-AUD-002:every-model")
@pytest.mark.parametrize("label", sorted(
    m._meta.label for m in apps.get_models()
    if m._meta.app_label in OUR_APPS and not m.__name__.startswith("Historical")
    and issubclass(m, GMPModel)
))
def test_every_gmp_model_keeps_the_reason_and_no_delete_rules(label):
    # The behaviour is proven on Site below; this proves no GMP model overrides it away.
    model = apps.get_model(label)
    before_gmp = model.__mro__[: model.__mro__.index(GMPModel)]
    assert not [k for k in before_gmp if "save" in vars(k) or "delete" in vars(k)]
    assert isinstance(model._default_manager.all(), GMPQuerySet)


@pytest.mark.req("FND-AUD-002:model")
def test_an_edit_without_a_reason_is_refused_and_leaves_no_history(db, admin_user):
    site = SiteFactory(code="R1", name="Before")
    before = site.history.count()
    site.name = "After"
    with refused("reason_required"):
        site.save()
    assert Site.objects.get(pk=site.pk).name == "Before"
    assert site.history.count() == before
    # with a reason it goes through, and the reason is in the history
    audit.stamp(site, user=admin_user, reason="Corrected the site name")
    site.save()
    latest = site.history.first()
    assert latest.history_change_reason == "Corrected the site name"
    assert latest.history_user == admin_user
    # the reason is used once: the next change needs its own
    site.name = "Again"
    with refused("reason_required"):
        site.save()


@pytest.mark.req("FND-AUD-002:no-delete", "FND-USR-001:no-delete")
def test_gmp_records_and_accounts_are_never_deleted(db, admin_user):
    site = SiteFactory(code="D1")
    with refused("deletion_refused"):
        site.delete()
    with refused("deletion_refused"):
        Site.objects.filter(pk=site.pk).delete()
    with refused("deletion_refused"):
        admin_user.delete()
    assert Site.objects.filter(pk=site.pk).exists()
    assert User.objects.filter(pk=admin_user.pk).exists()


@pytest.mark.req("FND-AUD-004:refused")
def test_bulk_paths_that_skip_history_are_refused(db, admin_user):
    site = SiteFactory(code="B1", name="Bulk")
    note = Notification.objects.create(recipient=admin_user, subject="Hello")
    rows = (Site.objects.count(), Site.history.count(), Notification.history.count())
    with refused("history_bypass_refused"):
        Site.objects.filter(pk=site.pk).update(name="Sneaky")
    site.name = "Sneaky"
    with refused("history_bypass_refused"):
        Site.objects.bulk_update([site], ["name"])
    with refused("history_bypass_refused"):
        Site.objects.bulk_create([Site(code="B2", name="x", kind="plant")])
    with refused("history_bypass_refused"):  # an operational tracked model too
        Notification.objects.filter(recipient=admin_user).update(subject="x")
    note.subject = "x"
    with refused("history_bypass_refused"):
        Notification.objects.bulk_update([note], ["subject"])
    with refused("history_bypass_refused"):
        Notification.objects.bulk_create([Notification(recipient=admin_user, subject="y")])
    assert Site.objects.get(pk=site.pk).name == "Bulk"
    assert Notification.objects.get(pk=note.pk).subject == "Hello"
    assert rows == (Site.objects.count(), Site.history.count(), Notification.history.count())


@pytest.mark.req("FND-AUD-004:helpers", "FND-AUD-002:bulk")
def test_the_history_writing_bulk_helpers_work_and_need_a_reason(db, admin_user):
    sites = audit.bulk_create_with_history(
        [Site(code=f"H{i}", name=f"H{i}", kind="plant") for i in range(3)], Site,
        user=admin_user)
    assert Site.history.filter(code__startswith="H", history_type="+").count() == 3
    for site in Site.objects.filter(code__startswith="H"):
        site.name = site.name + " renamed"
    with refused("reason_required"):
        audit.bulk_update_with_history(list(Site.objects.filter(code__startswith="H")), Site,
                                       ["name"], user=admin_user, reason="")
    changed = list(Site.objects.filter(code__startswith="H"))
    for site in changed:
        site.name = "Renamed"
    audit.bulk_update_with_history(changed, Site, ["name"], user=admin_user,
                                   reason="Harmonised names")
    rows = Site.history.filter(code__startswith="H", history_type="~")
    assert rows.count() == 3
    assert {r.history_change_reason for r in rows} == {"Harmonised names"}
    assert {r.history_user_id for r in rows} == {admin_user.pk}
    assert len(sites) == 3


@pytest.mark.req("FND-AUD-001:task")
def test_history_in_a_celery_task_is_attributed_to_the_system_user(db, admin_user):
    from mes.models import Notification
    from mes.tasks import send_notification_emails

    notification = Notification.objects.create(recipient=admin_user, subject="Hello")
    send_notification_emails.apply(args=[[notification.pk]])
    latest = notification.history.first()
    assert latest.emailed_at is not None
    assert latest.history_user.username == "system"
    assert not latest.history_user.has_usable_password()


@pytest.mark.req("FND-AUD-001:view")
def test_history_in_a_view_is_attributed_to_the_logged_in_user(client, admin_user, operator,
                                                               password):
    client.force_login(admin_user)
    response = client.post(reverse("user-set-active", args=[operator.pk]),
                           {"active": "0", "reason": "Left the company"})
    assert response.status_code == 302
    latest = operator.history.first()
    assert latest.is_active is False
    assert latest.history_user == admin_user
    assert latest.history_change_reason == "Left the company"


def _audit_page(client, record, **params):
    url = reverse("audit-trail", args=[record._meta.app_label, record._meta.model_name,
                                       record.pk])
    return client.get(url, params)


@pytest.mark.req("FND-AUD-005:field-by-field")
def test_the_audit_trail_page_shows_each_change_field_by_field(client, admin_user, site):
    site.name = "Plant One (renamed)"
    audit.stamp(site, user=admin_user, reason="Legal entity renamed")
    site.save()
    client.force_login(admin_user)
    response = _audit_page(client, site)
    assert response.status_code == 200
    changes = response.context["changes"]
    renamed = [c for c in changes if c.kind == "changed"]
    assert len(renamed) == 1
    change = renamed[0]
    assert (change.field, change.old, change.new) == ("name", "Plant One",
                                                      "Plant One (renamed)")
    assert change.who == admin_user.full_name
    assert change.why == "Legal entity renamed"
    html = response.content.decode()
    assert "Europe/Amsterdam" in html  # times in the site's zone
    assert "CET" in html or "CEST" in html


@pytest.mark.req("FND-AUD-005:filter", "FND-AUD-005:csv")
def test_the_audit_trail_filters_and_exports_csv(client, admin_user, site):
    site.name = "Renamed"
    audit.stamp(site, user=admin_user, reason="Renamed")
    site.save()
    site.time_zone = "Europe/Berlin"
    audit.stamp(site, user=admin_user, reason="Moved")
    site.save()
    client.force_login(admin_user)
    filtered = _audit_page(client, site, field="time zone").context["changes"]
    assert {c.field for c in filtered} == {"time zone"}
    assert [c.new for c in filtered if c.kind == "changed"] == ["Europe/Berlin"]
    response = _audit_page(client, site, format="csv", field="name")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:4] == ["When (Europe/Berlin)", "Who", "Action", "Field"]
    assert ["changed", "name", "Plant One", "Renamed", "Renamed"] in [
        r[2:] for r in rows[1:]]


@pytest.mark.req("FND-AUD-005:access", "FND-SCOPE-001:page")
def test_the_audit_trail_of_another_sites_record_is_a_404(client, qa_user, other_site):
    client.force_login(qa_user)
    assert _audit_page(client, other_site).status_code == 404


@pytest.mark.req("FND-AUD-005:access")
def test_the_audit_trail_needs_the_permission(client, operator, site):
    client.force_login(operator)
    assert _audit_page(client, site).status_code == 403


@pytest.mark.req("FND-AUD-005:scale")
def test_the_audit_trail_page_keeps_a_constant_number_of_queries(client, admin_user, site,
                                                                 django_assert_max_num_queries):
    client.force_login(admin_user)
    for i in range(30):
        site.name = f"Name {i}"
        audit.stamp(site, user=admin_user, reason=f"Change {i}")
        site.save()
    with django_assert_max_num_queries(15):
        response = _audit_page(client, site)
    assert response.context["matching"] >= 30


@pytest.mark.req("FND-AUD-005:scale")
def test_a_long_audit_trail_is_paged_by_version_and_diffed_across_page_boundaries(
        client, admin_user, site):
    client.force_login(admin_user)
    for i in range(210):
        site.name = f"Name {i}"
        audit.stamp(site, user=admin_user, reason=f"Change {i}")
        site.save()
    first = _audit_page(client, site)
    page = first.context["page"]
    assert (page.total, page.matching, page.num_pages) == (211, 211, 5)
    assert len({c.history_id for c in first.context["changes"]}) == 50
    second = _audit_page(client, site, page=2).context["changes"]
    assert len({c.history_id for c in second}) == 50
    # the first version on page 2 is diffed against the last one on page 1
    assert (second[0].old, second[0].new) == ("Name 48", "Name 49")
    last = _audit_page(client, site, page=5)
    assert len({c.history_id for c in last.context["changes"]}) == 11
    assert _audit_page(client, site, page="x").context["page"].number == 1
    assert _audit_page(client, site, until="9999-12-31").status_code == 200
    assert _audit_page(client, site, page=99).context["page"].number == 5


@pytest.mark.req("FND-AUD-005:scale")
@pytest.mark.parametrize("filters", [
    {}, {"field": "name"}, {"field": "time zone"}, {"who": "admin"}, {"who": "nobody"},
    {"field": "name", "who": "Admin"}, {"field": "no such field"},
    {"since": "today"}, {"until": "yesterday"}, {"field": "name", "since": "today"},
    {"who": "admin1"}, {"who": "(unattributed)"}, {"until": "max"}, {"since": "max"},
])
def test_a_page_shows_exactly_what_the_whole_diff_filtered_shows(db, admin_user, site,
                                                                 filters):
    import datetime as dt

    today = dt.datetime.now(site.zone).date()
    days = {"today": today, "yesterday": today - dt.timedelta(days=1), "max": dt.date.max}
    filters = {k: days.get(v, v) if k in ("since", "until") else v for k, v in filters.items()}
    for i in range(12):
        site.name = f"Name {i}"
        if i % 4 == 0:
            site.time_zone = ["Europe/Berlin", "Europe/Amsterdam"][i % 8 // 4]
        audit.stamp(site, user=admin_user, reason=f"Change {i}")
        site.save()
    record = audit_trail.history_visible_to(admin_user, "mes", "site", site.pk)
    expected = audit_trail.filter_changes(audit_trail.field_changes(Site, record.rows),
                                          zone=record.zone, **filters)

    pages, number = [], 1
    while True:
        page = audit_trail.version_page(record, number=number, per_page=5, **filters)
        pages.extend(page.changes)
        if not page.has_next:
            break
        number += 1

    assert pages == expected


@pytest.mark.req("FND-AUD-005:scale")
def test_the_audit_trail_page_runs_the_same_queries_at_30_and_300_versions(
        client, admin_user, site):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(admin_user)
    counts = []
    for size, more in ((30, 30), (300, 270)):
        for i in range(more):
            site.name = f"Name {size}-{i}"
            audit.stamp(site, user=admin_user, reason="Renamed")
            site.save()
        for params in ({}, {"field": "name"}, {"page": 2}):
            _audit_page(client, site, **params)  # warm the session
            with CaptureQueriesContext(connection) as queries:
                assert _audit_page(client, site, **params).status_code == 200
            counts.append((size, tuple(sorted(params)), len(queries)))
    small = {params: n for size, params, n in counts if size == 30}
    large = {params: n for size, params, n in counts if size == 300}
    assert small == large


@pytest.mark.req("FND-AUD-006:gmp")
def test_the_base_manager_refuses_delete_and_update_on_gmp_records(db, admin_user):
    # given a GMP record
    site = SiteFactory(code="BM1", name="Base")
    rows = Site.history.filter(id=site.pk).count()
    # when Django's base manager (used for related access) is asked to delete or update it
    with pytest.raises(RecordDeletionRefused) as deleted:
        Site._base_manager.filter(pk=site.pk).delete()
    with pytest.raises(HistoryBypassRefused) as updated:
        Site._base_manager.filter(pk=site.pk).update(name="Sneaky")
    # then both are refused with their codes and nothing changed
    assert deleted.value.code == "deletion_refused"
    assert updated.value.code == "history_bypass_refused"
    assert Site.objects.get(pk=site.pk).name == "Base"
    assert Site.history.filter(id=site.pk).count() == rows


@pytest.mark.req("FND-AUD-006:every-model")
def test_every_tracked_model_reaches_its_rows_through_the_guarded_manager():
    from django.apps import apps

    from mes.apps import OUR_APPS
    from mes.models.base import TrackedQuerySet

    unguarded = [m._meta.label for m in apps.get_models()
                 if m._meta.app_label in OUR_APPS and issubclass(m, TrackedModel)
                 and not isinstance(m._base_manager.all(), TrackedQuerySet)]
    assert unguarded == []
