"""Running calls at the same moment in threads (PostgreSQL concurrency tests): each thread
waits at a barrier, makes its call and closes its connection; the outcome of each call is
``succeeded`` or the code of the domain error it raised."""

from __future__ import annotations

import threading

from django.db import connection

from mes.errors import DomainError


def race(calls, succeeded: str) -> list[str]:
    start = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def attempt(call):
        try:
            start.wait()
            call()
            outcomes.append(succeeded)
        except DomainError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)
