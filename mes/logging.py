"""Log filters. A refused request (403, 404 and the other 4xx) is the system working as meant:
one line is enough, without the traceback Django attaches to a PermissionDenied, which would
bury real errors in the console and the logs. Server errors keep their traceback."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
