"""Reading the audit trail: any record's history as field-level changes (who, when in the
site's time zone, old value -> new value, why), filtered and exportable."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.apps import apps
from django.db import models
from django.http import Http404

from mes.apps import OUR_APPS
from mes.models import Site, User


@dataclass(frozen=True)
class FieldChange:
    history_id: int
    when: datetime
    who: str
    kind: str  # created | changed | deleted
    field: str
    old: str
    new: str
    why: str


def tracked_model(app_label: str, model_name: str) -> type[models.Model]:
    if app_label not in OUR_APPS:
        raise Http404("No such record type.")
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError as exc:
        raise Http404("No such record type.") from exc
    if not hasattr(model, "history") or model.__name__.startswith("Historical"):
        raise Http404("No such record type.")
    return model


def history_rows(model: type[models.Model], pk):
    return (model.history.model.objects.filter(**{model._meta.pk.attname: pk})
            .select_related("history_user").order_by("history_date", "history_id"))


def record_site(model: type[models.Model], rows) -> Site | None:
    if model is Site:
        return rows[-1].instance if rows else None
    last = rows[-1] if rows else None
    site_id = getattr(last, "site_id", None) if last is not None else None
    return Site.objects.filter(pk=site_id).first() if site_id else None


def visible(user: User, model, pk, site: Site | None) -> bool:
    if model is User:
        return User.objects.visible_to(user).filter(pk=pk).exists()
    if model is Site:
        return user.sites().filter(pk=pk).exists()
    return site is None or user.has_site(site)


@dataclass(frozen=True)
class RecordHistory:
    model: type[models.Model]
    pk: int
    latest: models.Model  # the newest history row
    count: int
    site: Site | None

    @property
    def rows(self) -> list:
        """Every version, oldest first (for the API and the CSV export of the whole trail)."""
        return list(history_rows(self.model, self.pk))

    @property
    def zone(self):
        import zoneinfo

        return self.site.zone if self.site else zoneinfo.ZoneInfo("UTC")

    @property
    def zone_name(self) -> str:
        return self.site.time_zone if self.site else "UTC"


# Records whose content is itself restricted (a patient's clinical identity): their history
# is shown only to whom the owning app's reveal service allows, with a purpose, and each
# view is logged there. The owning app registers its reveal (mes cannot import it).
Reveal = Callable[..., None]
_restricted: dict[str, Reveal] = {}
_sites_of: dict[str, Callable[[models.Model], list]] = {}


def register_restricted(model: type[models.Model], reveal: Reveal, *,
                        sites: Callable[[models.Model], list] | None = None) -> None:
    """``reveal(actor=, record=, purpose=, remote_addr=)`` raises a DomainError when the
    actor may not see the record (or gave no purpose) and logs the view otherwise.
    ``sites(record)``, if given, lists the sites whose people may find the record at all
    (the same sites the reveal accepts); anyone else gets a 404, as for any record."""
    _restricted[model._meta.label] = reveal
    if sites is not None:
        _sites_of[model._meta.label] = sites


def is_restricted(model: type[models.Model]) -> bool:
    return model._meta.label in _restricted


def reveal_history(user: User, record: RecordHistory, pk, *, purpose: str,
                   remote_addr: str = "") -> None:
    """Check and log a view of a restricted record's history (no-op for other records)."""
    reveal = _restricted.get(record.model._meta.label)
    if reveal is not None:
        instance = record.model._default_manager.get(pk=pk)
        reveal(actor=user, record=instance, purpose=purpose, remote_addr=remote_addr)


def history_visible_to(user: User, app_label: str, model_name: str, pk) -> RecordHistory:
    """A record's history, or a 404 when there is none or the record belongs to a site the
    user may not see (the page and the API share this). Reads only the newest version and
    the count, whatever the length of the history."""
    model = tracked_model(app_label, model_name)
    rows = history_rows(model, pk)
    latest = rows.last()
    site = record_site(model, [latest]) if latest is not None else None
    if latest is None:
        raise Http404("No such record.")
    sites_of = _sites_of.get(model._meta.label)
    instance = model._default_manager.filter(pk=pk).first() if sites_of else None
    if sites_of and instance is not None:
        allowed = any(user.has_site(s) for s in sites_of(instance))
    else:
        allowed = visible(user, model, pk, site)
    if not allowed:
        raise Http404("No such record.")
    return RecordHistory(model=model, pk=pk, latest=latest, count=rows.count(), site=site)


def _tracked_fields(history_model) -> list[models.Field]:
    skip = {"history_id", "history_date", "history_change_reason", "history_type",
            "history_user", "history_relation"}
    return [f for f in history_model._meta.concrete_fields
            if f.name not in skip and not f.name.startswith("history_") and f.name != "password"]


def field_names(model: type[models.Model]) -> list[str]:
    """The names the audit trail shows for a record type's tracked fields (the field filter)."""
    return sorted(str(f.verbose_name) for f in _tracked_fields(model.history.model))


def _display(field: models.Field, value, labels: dict) -> str:
    if value is None or value == "":
        return ""
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(field, models.ForeignKey):
        return labels.get((field.related_model, value), str(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _related_labels(fields, rows) -> dict:
    """One query per related model, whatever the number of history rows."""
    wanted: dict[type, set] = {}
    for field in fields:
        if isinstance(field, models.ForeignKey):
            ids = {getattr(r, field.attname) for r in rows} - {None}
            if ids:
                wanted.setdefault(field.related_model, set()).update(ids)
    labels = {}
    for model, ids in wanted.items():
        for obj in model._default_manager.filter(pk__in=ids):
            labels[(model, obj.pk)] = str(obj)
    return labels


def _row_changes(row, previous, fields, labels) -> list[FieldChange]:
    """The field changes one history row makes against the version before it."""
    who = row.history_user.full_name if row.history_user else "(unattributed)"
    why = row.history_change_reason or ""
    kind = {"+": "created", "~": "changed", "-": "deleted"}[row.history_type]
    changes = []
    for field in fields:
        new = getattr(row, field.attname)
        old = getattr(previous, field.attname) if previous is not None else None
        if previous is not None and old == new and kind != "deleted":
            continue
        if previous is None and new in (None, ""):
            continue
        if kind == "deleted" and field is not fields[0]:
            continue
        changes.append(FieldChange(
            history_id=row.history_id, when=row.history_date, who=who, kind=kind,
            field=str(field.verbose_name),
            old=_display(field, old, labels) if previous is not None else "",
            new="" if kind == "deleted" else _display(field, new, labels),
            why=why,
        ))
    return changes


def field_changes(model: type[models.Model], rows) -> list[FieldChange]:
    rows = list(rows)
    if not rows:
        return []
    fields = _tracked_fields(rows[0]._meta.model)
    labels = _related_labels(fields, rows)
    changes: list[FieldChange] = []
    previous = None
    for row in rows:
        changes.extend(_row_changes(row, previous, fields, labels))
        previous = row
    return changes


@dataclass(frozen=True)
class VersionPage:
    """One page of a record's audit trail: the versions on it, diffed against the version
    before each, and how many versions there are and match the filter."""

    changes: list[FieldChange]
    number: int
    num_pages: int
    matching: int
    total: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    def previous_page_number(self) -> int:
        return self.number - 1

    def next_page_number(self) -> int:
        return self.number + 1


def _day_start(day: date, zone) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=zone)


def version_page(record: RecordHistory, *, number, per_page: int = 100, field: str = "",
                 who: str = "", since: date | None = None, until: date | None = None,
                 fields_only: bool = True) -> VersionPage:
    """A page of the audit trail, paged in SQL: only the page's versions (and the one before
    each) are loaded and diffed, whatever the length of the history.

    Without a field filter, who and the dates filter in SQL. A field filter needs to know
    which versions changed that field: it reads that one column of every version (a light
    query, no model instances) and keeps the versions where it differs from the one before."""
    from datetime import timedelta

    base = history_rows(record.model, record.pk)
    history_model = base.model
    fields = _tracked_fields(history_model)
    chosen = next((f for f in fields if str(f.verbose_name) == field), None) if field else None
    filtered = base
    if who:
        # The same rule as filter_changes: the name as shown, "(unattributed)" for no user.
        by_name = models.Q(history_user__full_name__icontains=who)
        if who.lower() in "(unattributed)":
            by_name |= models.Q(history_user__isnull=True)
        filtered = filtered.filter(by_name)
    if since:
        filtered = filtered.filter(history_date__gte=_day_start(since, record.zone))
    if until and until < date.max:
        filtered = filtered.filter(
            history_date__lt=_day_start(until + timedelta(days=1), record.zone))
    total = record.count
    if field and chosen is None:
        ids: list[int] | None = []
    elif chosen is not None:
        column = list(base.values_list("history_id", chosen.attname, "history_type"))
        changed, before = set(), None
        for index, (history_id, value, kind) in enumerate(column):
            if (index == 0 and value not in (None, "")) or (index and value != before) or (
                    kind == "-" and chosen is fields[0]):
                changed.add(history_id)
            before = value
        allowed = set(filtered.values_list("history_id", flat=True)) if filtered is not base \
            else None
        ids = [h for h, _, _ in column if h in changed and (allowed is None or h in allowed)]
    else:
        ids = None
    matching = len(ids) if ids is not None else (total if filtered is base else filtered.count())
    num_pages = max(1, -(-matching // per_page))
    try:
        number = min(max(1, int(number or 1)), num_pages)
    except (TypeError, ValueError):
        number = 1
    start = (number - 1) * per_page
    if ids is None:
        page_rows = list(_with_previous_id(filtered, base)[start:start + per_page])
    else:
        wanted = set(ids[start:start + per_page])
        page_rows = list(_with_previous_id(base.filter(history_id__in=wanted), base))
    before_ids = {r.previous_id for r in page_rows} - {None}
    before = {r.history_id: r for r in base.filter(history_id__in=before_ids)} if before_ids \
        else {}
    previous = {r.history_id: before.get(r.previous_id) for r in page_rows}
    labels = _related_labels(fields, [*page_rows, *before.values()])
    changes = []
    for row in page_rows:
        row_changes = _row_changes(row, previous.get(row.history_id), fields, labels)
        if chosen is not None:
            row_changes = [c for c in row_changes if c.field == field]
        changes.extend(row_changes)
    return VersionPage(changes=changes, number=number, num_pages=num_pages, matching=matching,
                       total=total)


def _with_previous_id(queryset, base):
    """Annotate each version with the id of the version just before it in the record's
    whole history: the latest earlier version at the same instant, else the latest at an
    earlier instant. Each is a backward range scan of the (id, history_date, history_id)
    index (mes.history) that stops at its first row."""
    from django.db.models import OuterRef, Subquery
    from django.db.models.functions import Coalesce

    same_instant = base.filter(history_date=OuterRef("history_date"),
                               history_id__lt=OuterRef("history_id"))
    earlier = base.filter(history_date__lt=OuterRef("history_date"))
    return queryset.annotate(previous_id=Coalesce(
        Subquery(same_instant.order_by("-history_id").values("history_id")[:1]),
        Subquery(earlier.order_by("-history_date", "-history_id").values("history_id")[:1])))


def filter_changes(changes: list[FieldChange], *, field: str = "", who: str = "",
                   since: date | None = None, until: date | None = None, zone=None):
    out = changes
    if field:
        out = [c for c in out if c.field == field]
    if who:
        out = [c for c in out if who.lower() in c.who.lower()]
    if since:
        out = [c for c in out if c.when.astimezone(zone).date() >= since]
    if until:
        out = [c for c in out if c.when.astimezone(zone).date() <= until]
    return out


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection) without changing what is shown."""
    return f"'{value}" if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value


def as_csv(changes: list[FieldChange], zone, zone_name: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([f"When ({zone_name})", "Who", "Action", "Field", "Old value",
                     "New value", "Reason"])
    for c in changes:
        writer.writerow([c.when.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
                         *(_cell(v) for v in (c.who, c.kind, c.field, c.old, c.new, c.why))])
    return buffer.getvalue()
