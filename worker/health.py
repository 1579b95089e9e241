"""A small HTTP endpoint for the process manager: `/health` (200 or 503) and `/metrics`
(Prometheus text format). It reads a `WorkerSnapshot` from a callable and knows nothing else of
the worker."""

from __future__ import annotations

import time
from types import TracebackType

from aiohttp import web
from loguru import logger

from worker.stats import SnapshotSource, WorkerSnapshot


class HealthServer:
    def __init__(self, snapshot: SnapshotSource, port: int | None, host: str = "127.0.0.1") -> None:
        self._snapshot = snapshot
        self._port = port
        self._host = host
        self._app_runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def __aenter__(self) -> HealthServer:
        if self._port is None:
            return self
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        self._app_runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._app_runner.setup()
        site = web.TCPSite(self._app_runner, self._host, self._port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self._port
        logger.bind(port=self.bound_port).info("health_listening")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._app_runner is not None:
            await self._app_runner.cleanup()

    async def _health(self, _request: web.Request) -> web.Response:
        snap = self._snapshot()
        body: dict[str, object] = {
            "worker_id": snap.worker_id,
            "listener_connected": snap.listener_connected,
            "listener_connections": snap.listener_connections,
            "wakeup": snap.wakeup,
            "wakeup_live": snap.wakeup_live,
            "stopping": snap.stopping,
            "active_jobs": snap.active_jobs,
            "concurrency": snap.concurrency,
            "uptime_seconds": round(time.time() - snap.stats.started_at, 1),
            **{k: v for k, v in snap.stats.__dict__.items() if k != "started_at"},
            "status": "stopping" if snap.stopping else "ok",
        }
        if snap.loop_lag is not None:
            body["loop_lag_p99_seconds"] = snap.loop_lag.quantile(0.99)
        return web.json_response(body, status=503 if snap.stopping else 200)

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(text=render_metrics(self._snapshot()), content_type="text/plain")


def render_metrics(snap: WorkerSnapshot) -> str:
    stats = snap.stats
    lines = []
    for name, kind, value in (
        ("imagefill_jobs_claimed_total", "counter", stats.claimed),
        ("imagefill_jobs_completed_total", "counter", stats.completed),
        ("imagefill_jobs_failed_total", "counter", stats.failed),
        ("imagefill_jobs_retried_total", "counter", stats.retried),
        ("imagefill_jobs_released_total", "counter", stats.released),
        ("imagefill_leases_lost_total", "counter", stats.leases_lost),
        ("imagefill_jobs_active", "gauge", snap.active_jobs),
        ("imagefill_listener_connected", "gauge", int(snap.listener_connected)),
    ):
        lines += [f"# TYPE {name} {kind}", f"{name} {value}"]
    if snap.loop_lag is not None:
        name = "imagefill_event_loop_lag_seconds"
        lines += [
            f"# HELP {name} How late the event loop ran a 50 ms timer: time a callback blocked it.",
            f"# TYPE {name} histogram",
        ]
        lines += [f'{name}_bucket{{le="{bound}"}} {count}' for bound, count in snap.loop_lag.cumulative()]
        lines += [f"{name}_sum {snap.loop_lag.total:.6f}", f"{name}_count {snap.loop_lag.observations}"]
    return "\n".join(lines) + "\n"
