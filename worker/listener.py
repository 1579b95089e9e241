"""LISTEN/NOTIFY with a dedicated connection that cannot go silently deaf.

asyncpg does not notice a dead server until TCP gives up, and other queues' listeners have
stayed quiet forever after an outage. So: after every (re)connect we LISTEN first and only then
ask for a table scan (nothing inserted during the gap is missed); every few seconds we NOTIFY
ourselves on a probe channel and expect it back; no answer (or a termination) → reconnect.
Supabase's transaction pooler (port 6543) cannot LISTEN: we fall back to polling and say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
from loguru import logger

from worker.lifetimes import BackgroundTask

JOBS_CHANNEL = "imagefill_jobs"
PROBE_CHANNEL = "imagefill_probe"


class JobListener(BackgroundTask):
    def __init__(
        self,
        dsn: str,
        on_wake: Callable[[str], None],
        *,
        probe_interval: float = 5.0,
        probe_timeout: float = 5.0,
        reconnect_delay: float = 1.0,
        listen_supported: bool = True,
        poll_only: bool = False,
    ) -> None:
        super().__init__()
        self._dsn = dsn
        self._on_wake = on_wake
        self._probe_interval = probe_interval
        self._probe_timeout = probe_timeout
        self._reconnect_delay = reconnect_delay
        self._listen_supported = listen_supported
        self._poll_only = poll_only  # WORKER_WAKEUP=poll: never LISTEN, by choice
        self._probe_token = ""
        self._probe_answered = asyncio.Event()
        self._connection_lost = asyncio.Event()
        self.connected = False
        self.connections = 0  # how many times a LISTEN connection was (re)established

    task_name = "imagefill-listener"

    def _should_start(self) -> bool:
        if self._poll_only:
            logger.bind(component="listener").info("wakeup_poll")
            return False
        if not self._listen_supported:
            logger.bind(component="listener").warning(
                "listen_unavailable: DATABASE_URL usa o transaction pooler (porta 6543), que não suporta "
                "LISTEN; usando só polling. Use a conexão direta ou o session pooler para reagir na hora."
            )
        return self._listen_supported

    async def _run(self) -> None:
        log = logger.bind(component="listener")
        while True:
            conn: asyncpg.Connection | None = None
            try:
                connection = await asyncio.wait_for(self._connect(), timeout=10)
                conn = connection
                self._connection_lost.clear()
                connection.add_termination_listener(lambda _c: self._connection_lost.set())
                # LISTEN first, then scan: a job inserted between the two is seen by the scan.
                await connection.add_listener(JOBS_CHANNEL, self._notified)
                await connection.add_listener(PROBE_CHANNEL, self._probed)
                self.connected = True
                self.connections += 1
                log.bind(connections=self.connections).info("listener_connected")
                self._on_wake("connected")
                await self._probe_forever(connection)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.bind(error=f"{type(exc).__name__}: {exc}").warning("listener_lost")
            finally:
                self.connected = False
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(self._reconnect_delay)

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self._dsn, server_settings={"application_name": "imagefill listener"})

    async def _probe_forever(self, conn: asyncpg.Connection) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connection_lost.wait(), timeout=self._probe_interval)
            if self._connection_lost.is_set() or conn.is_closed():
                raise ConnectionError("conexão LISTEN encerrada")
            self._probe_token = uuid.uuid4().hex
            self._probe_answered.clear()
            await asyncio.wait_for(
                conn.execute(f"select pg_notify('{PROBE_CHANNEL}', $1)", self._probe_token),
                timeout=self._probe_timeout,
            )
            try:
                await asyncio.wait_for(self._probe_answered.wait(), timeout=self._probe_timeout)
            except TimeoutError:
                raise ConnectionError("a sonda NOTIFY não voltou a tempo") from None

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_wake(payload or "notify")

    def _probed(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == self._probe_token:
            self._probe_answered.set()
