"""Django's PostgreSQL backend, whose connection health check (`CONN_HEALTH_CHECKS`) runs at most once a second.

Django checks a persistent connection with a `SELECT 1` round trip at the start of every request that uses it.
A metering event is a request of a few statements, so that check was one statement in four of a single event's
(measured with `bench credits_ingest`). Here a connection that passed a check, or was opened, less than
`HEALTH_CHECK_INTERVAL` seconds ago is taken as healthy; an idle one is checked as before. A server that went away
within that second fails the request that finds it, as it would have failed a request already running; Django then
closes the connection (`errors_occurred`) and the next request opens a new one."""

from __future__ import annotations

import time

from django.db.backends.postgresql import base

HEALTH_CHECK_INTERVAL = 1.0  # seconds


class DatabaseWrapper(base.DatabaseWrapper):
    health_check_enabled: bool
    health_check_done: bool
    checked_at = 0.0  # time.monotonic() of the last passed check, or of the connection's opening

    def connect(self) -> None:
        super().connect()
        self.checked_at = time.monotonic()

    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and time.monotonic() - self.checked_at < HEALTH_CHECK_INTERVAL
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
        if self.connection is not None and self.health_check_done:
            self.checked_at = time.monotonic()
