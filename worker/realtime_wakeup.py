"""WORKER_WAKEUP=realtime: wake up on Supabase Realtime's `imagefill:jobs` broadcast instead of LISTEN.

For workers that cannot LISTEN: an IPv4-only host reaches Supabase through the pooler, and the
transaction pooler (port 6543) has no LISTEN at all. The enqueue statements broadcast on the private
topic `imagefill:jobs` (75_realtime_broadcast.sql); the worker joins it with the service-role key
(which passes RLS) through the `realtime` package, and claims through whatever DATABASE_URL is.
As with LISTEN: after every (re)join we ask for a table scan (nothing queued during the gap is
missed); a channel that errors or closes, or a socket that drops, is rejoined with backoff; the
runner's poll (WORKER_POLL_SECONDS) stays as the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from loguru import logger
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from realtime.types import BroadcastPayload, RealtimeChannelConfig, RealtimeChannelOptions

from worker.lifetimes import BackgroundTask

JOBS_TOPIC = "imagefill:jobs"
JOBS_EVENT = "enqueued"


def realtime_url(supabase_url: str) -> str:
    """Realtime lives at the project URL's `/realtime/v1` (the client adds `/websocket`)."""
    return supabase_url.rstrip("/") + "/realtime/v1"


class RealtimeWakeup(BackgroundTask):
    task_name = "imagefill-realtime-wakeup"

    def __init__(
        self,
        supabase_url: str,
        service_key: str,
        on_wake: Callable[[str], None],
        *,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        check_interval: float = 5.0,
    ) -> None:
        super().__init__()
        self._url = realtime_url(supabase_url)
        self._key = service_key
        self._on_wake = on_wake
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._check_interval = check_interval
        self._lost = asyncio.Event()
        self.connected = False
        self.connections = 0  # how many times the jobs channel was (re)joined

    async def _run(self) -> None:
        log = logger.bind(component="realtime")
        delay = self._first_delay
        while True:
            client = AsyncRealtimeClient(self._url, token=self._key, auto_reconnect=False)
            try:
                if await self._join(client):
                    delay = self._first_delay
                    self.connected = True
                    self.connections += 1
                    log.bind(connections=self.connections).info("realtime_connected")
                    self._on_wake("connected")  # joined first, then scan: nothing queued is missed
                    await self._until_lost(client)
                    log.warning("realtime_lost")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.bind(error=f"{type(exc).__name__}: {exc}").warning("realtime_lost")
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await client.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_delay)

    async def _join(self, client: AsyncRealtimeClient) -> bool:
        self._lost.clear()
        await client.connect()
        await client.set_auth(self._key)
        joined: list[RealtimeSubscribeStates] = []
        options = RealtimeChannelOptions(
            config=RealtimeChannelConfig(broadcast=None, presence=None, private=True)
        )
        channel = client.channel(JOBS_TOPIC, options)
        channel.on_broadcast(JOBS_EVENT, self._broadcast)

        def state(status: RealtimeSubscribeStates, error: Exception | None) -> None:
            joined.append(status)
            if status is not RealtimeSubscribeStates.SUBSCRIBED:
                if error is not None:
                    logger.bind(component="realtime", error=str(error)).warning("realtime_channel_error")
                self._lost.set()

        await asyncio.wait_for(channel.subscribe(state), timeout=15)
        return bool(joined) and joined[0] is RealtimeSubscribeStates.SUBSCRIBED

    async def _until_lost(self, client: AsyncRealtimeClient) -> None:
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), timeout=self._check_interval)
            if not client.is_connected:
                return

    def _broadcast(self, _payload: BroadcastPayload) -> None:
        self._on_wake("realtime")
