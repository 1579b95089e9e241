"""Starts every offline stand-in on 127.0.0.1 (free ports) for the demo and the tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

from worker.offline.image_host import ImageHost
from worker.offline.off_server import OpenFoodFactsStandIn
from worker.offline.openai_server import OpenAIStandIn
from worker.offline.search_server import BraveSearchStandIn
from worker.offline.storage_server import StorageStandIn

STANDIN_SERVICE_ROLE_KEY = "offline-service-role-key-not-a-secret"
STANDIN_OPENAI_KEY = "sk-offline-standin-not-a-secret"
STANDIN_SEARCH_KEY = "brave-offline-standin-not-a-secret"


@dataclass
class OfflineServices:
    image_host: ImageHost = field(default_factory=ImageHost)
    image_base_url: str = ""
    off_base_url: str = ""
    storage_url: str = ""
    off: OpenFoodFactsStandIn | None = None
    storage: StorageStandIn | None = None
    openai: OpenAIStandIn = field(default_factory=OpenAIStandIn)
    openai_base_url: str = ""
    search: BraveSearchStandIn | None = None
    search_base_url: str = ""
    _runners: list[web.AppRunner] = field(default_factory=list)

    async def __aenter__(self) -> OfflineServices:
        self.image_base_url = await self._serve(self.image_host.app)
        self.off = OpenFoodFactsStandIn(self.image_base_url)
        self.off_base_url = await self._serve(self.off.app)
        self.storage = StorageStandIn(STANDIN_SERVICE_ROLE_KEY)
        self.storage_url = await self._serve(self.storage.app)
        self.openai_base_url = await self._serve(self.openai.app) + "/v1"
        self.search = BraveSearchStandIn(self.image_base_url, STANDIN_SEARCH_KEY)
        self.search_base_url = await self._serve(self.search.app)
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

    def worker_env(
        self, database_url: str, *, storage: str = "supabase", judge: bool = False, search: bool = False
    ) -> dict[str, str]:
        """The settings a worker needs to use these stand-ins: base URLs only, no test branches.
        `judge`: also the OpenAI stand-in (stage 2; without it nothing is auto-approved);
        `search`: also the Brave image-search stand-in (stage 3)."""
        env = {
            "DATABASE_URL": database_url,
            "OFF_BASE_URL": self.off_base_url,
            "OFF_USER_AGENT": "Imagefill/0.1 (imagefill-offline@example.com)",
            "OFF_RATE_LIMIT_PER_MINUTE": "6000",
            "IMAGE_FETCH_ALLOW_HOSTS": "127.0.0.1",
            "STORAGE_BACKEND": storage,
        }
        if judge:
            env |= {"OPENAI_BASE_URL": self.openai_base_url, "OPENAI_API_KEY": STANDIN_OPENAI_KEY}
        if search:
            env |= {
                "IMAGE_SEARCH_PROVIDER": "brave",
                "IMAGE_SEARCH_API_KEY": STANDIN_SEARCH_KEY,
                "IMAGE_SEARCH_BASE_URL": self.search_base_url,
            }
        if storage == "supabase":
            env |= {"SUPABASE_URL": self.storage_url, "SUPABASE_SERVICE_ROLE_KEY": STANDIN_SERVICE_ROLE_KEY}
        return env
