"""The history (django-simple-history) every model of ours keeps.

The audit trail reads one record's versions in order, a page at a time, each with the version
before it (``mes.audit_trail.version_page``). simple-history's own indexes are on the record's
id alone and on (history_date, id); with them, a page of a record with thousands of versions
sorted them all, and finding each row's previous version scanned them again (17 ms for a page
of a lot with 500 versions, issue 10). ``History`` indexes each history table by
(record id, history_date, history_id) instead of (history_date, id), which nothing reads
without the id: the page and each previous version are then index range scans.
"""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords


class History(HistoricalRecords):
    def get_meta_options(self, model):
        meta = super().get_meta_options(model)
        meta["indexes"] = (
            models.Index(fields=(model._meta.pk.attname, "history_date", "history_id")),
        )
        return meta
