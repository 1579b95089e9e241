"""A small HTTP endpoint for the process manager: `/health` (200 or 503) and `/metrics`
(Prometheus text format)."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from aiohttp import web
from loguru import logger

if TYPE_CHECKING:
    from worker.listener import JobListener
    from worker.runner import Runner


class HealthServer:
    def __init__(
        self, runner: Runner, listener: JobListener, port: int | None, host: str = "127.0.0.1"
    ) -> None:
        self._runner = runner
        self._listener = listener
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

    def _snapshot(self) -> dict[str, object]:
        stats = self._runner.stats
        return {
            "worker_id": self._runner.queue.worker_id,
            "listener_connected": self._listener.connected,
            "listener_connections": self._listener.connections,
            "stopping": self._runner.stopping,
            "active_jobs": len(self._runner.active),
            "concurrency": self._runner.concurrency,
            "uptime_seconds": round(time.time() - stats.started_at, 1),
            **{k: v for k, v in stats.__dict__.items() if k != "started_at"},
        }

    async def _health(self, _request: web.Request) -> web.Response:
        snapshot = self._snapshot()
        healthy = not self._runner.stopping
        snapshot["status"] = "ok" if healthy else "stopping"
        return web.json_response(snapshot, status=200 if healthy else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        stats = self._runner.stats
        lines = [
            "# TYPE imagefill_jobs_claimed_total counter",
            f"imagefill_jobs_claimed_total {stats.claimed}",
            "# TYPE imagefill_jobs_completed_total counter",
            f"imagefill_jobs_completed_total {stats.completed}",
            "# TYPE imagefill_jobs_failed_total counter",
            f"imagefill_jobs_failed_total {stats.failed}",
            "# TYPE imagefill_jobs_retried_total counter",
            f"imagefill_jobs_retried_total {stats.retried}",
            "# TYPE imagefill_jobs_released_total counter",
            f"imagefill_jobs_released_total {stats.released}",
            "# TYPE imagefill_leases_lost_total counter",
            f"imagefill_leases_lost_total {stats.leases_lost}",
            "# TYPE imagefill_jobs_active gauge",
            f"imagefill_jobs_active {len(self._runner.active)}",
            "# TYPE imagefill_listener_connected gauge",
            f"imagefill_listener_connected {int(self._listener.connected)}",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")
