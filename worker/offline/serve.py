"""`python -m worker.offline.serve`: the offline stand-ins on 127.0.0.1 until Ctrl-C, printing the
settings that point Imagefill at them (e.g. to run `imagefill eval` on the shipped labelled set
without a network or a key)."""

from __future__ import annotations

import asyncio
import signal

from worker.offline.services import OfflineServices

UNUSED_DATABASE = "postgresql://sem-banco/"


async def serve() -> None:
    async with OfflineServices() as services:
        env = services.worker_env(UNUSED_DATABASE, storage="local", judge=True, search=True)
        for key, value in env.items():
            if key not in ("DATABASE_URL", "STORAGE_BACKEND"):
                print(f"export {key}='{value}'", flush=True)
        print("# stand-ins no ar; Ctrl-C para parar", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve())
