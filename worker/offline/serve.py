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
            # STORAGE_BACKEND=local too: a .env copied from .env.example says `supabase`, and
            # without Supabase keys a first offline backfill would be refused.
            if key != "DATABASE_URL":
                print(f"export {key}='{value}'", flush=True)
        print("# DATABASE_URL: o seu banco de teste (o .env.example aponta para o Supabase)", flush=True)
        print("# stand-ins no ar; Ctrl-C para parar", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve())
