"""Starts every offline stand-in on 127.0.0.1 (free ports) for the demo and the tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

from worker.offline.image_host import ImageHost
from worker.offline.off_server import OpenFoodFactsStandIn
from worker.offline.storage_server import StorageStandIn

STANDIN_SERVICE_ROLE_KEY = "offline-service-role-key-not-a-secret"


@dataclass
class OfflineServices:
    image_host: ImageHost = field(default_factory=ImageHost)
    image_base_url: str = ""
    off_base_url: str = ""
    storage_url: str = ""
    off: OpenFoodFactsStandIn | None = None
    storage: StorageStandIn | None = None
    _runners: list[web.AppRunner] = field(default_factory=list)

    async def __aenter__(self) -> OfflineServices:
        self.image_base_url = await self._serve(self.image_host.app)
        self.off = OpenFoodFactsStandIn(self.image_base_url)
        self.off_base_url = await self._serve(self.off.app)
        self.storage = StorageStandIn(STANDIN_SERVICE_ROLE_KEY)
        self.storage_url = await self._serve(self.storage.app)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    def worker_env(self, database_url: str, *, storage: str = "supabase") -> dict[str, str]:
        """The settings a worker needs to use these stand-ins: base URLs only, no test branches."""
        env = {
            "DATABASE_URL": database_url,
            "OFF_BASE_URL": self.off_base_url,
            "OFF_USER_AGENT": "Imagefill/0.1 (imagefill-offline@example.com)",
            "OFF_RATE_LIMIT_PER_MINUTE": "6000",
            "IMAGE_FETCH_ALLOW_HOSTS": "127.0.0.1",
            "STORAGE_BACKEND": storage,
        }
        if storage == "supabase":
            env |= {"SUPABASE_URL": self.storage_url, "SUPABASE_SERVICE_ROLE_KEY": STANDIN_SERVICE_ROLE_KEY}
        return env
