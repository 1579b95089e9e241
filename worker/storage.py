"""Where stored images go: Supabase Storage in production, a local folder on the embedded default.

Both write the same paths (`products/{product_id}/main.jpg` and `thumb_256.jpg`) and return a
public URL carrying the content hash (`?v=…`), so a CDN never serves an old picture after a
replacement.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import httpx
from storage3 import AsyncStorageClient
from storage3.exceptions import StorageApiError

from worker.images import NormalizedImage

MAIN_NAME = "main.jpg"
CUTOUT_NAME = "main.png"  # transparent cutout, when the background is plain
THUMB_NAME = "thumb_256.jpg"
CACHE_CONTROL_SECONDS = "31536000"  # the ?v= query makes every version a new URL


class StorageFailed(Exception):
    """The upload did not go through; the job should retry."""


@dataclass(frozen=True)
class StoredImage:
    public_url: str  # main.jpg with ?v=<hash>
    thumb_url: str
    path: str


def object_path(product_id: str, name: str) -> str:
    safe_id = quote(str(product_id), safe="")
    return f"products/{safe_id}/{name}"


def versioned(url: str, image: NormalizedImage) -> str:
    return f"{url}?v={image.content_hash[:16]}"


class ImageStore(Protocol):
    async def save(self, product_id: str, image: NormalizedImage) -> StoredImage: ...

    async def save_cutout(self, product_id: str, png: bytes, image: NormalizedImage) -> str: ...

    async def close(self) -> None: ...


class SupabaseImageStore:
    """Uploads through Supabase Storage's HTTP API with supabase-py's storage client."""

    def __init__(self, supabase_url: str, service_role_key: str, bucket: str = "product-images") -> None:
        headers = {"apikey": service_role_key, "Authorization": f"Bearer {service_role_key}"}
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        self._client = AsyncStorageClient(
            f"{supabase_url.rstrip('/')}/storage/v1/", headers, http_client=self._http
        )
        self._bucket = bucket

    async def close(self) -> None:
        await self._http.aclose()

    async def save(self, product_id: str, image: NormalizedImage) -> StoredImage:
        return await persist_image_to_supabase_storage(self._client, self._bucket, product_id, image)

    async def save_cutout(self, product_id: str, png: bytes, image: NormalizedImage) -> str:
        files = self._client.from_(self._bucket)
        options = {"content-type": "image/png", "cache-control": CACHE_CONTROL_SECONDS, "upsert": "true"}
        path = object_path(product_id, CUTOUT_NAME)
        try:
            await files.upload(path, png, options)  # type: ignore[arg-type]
            return versioned(await files.get_public_url(path), image)
        except StorageApiError as exc:
            raise StorageFailed(f"Supabase Storage recusou o upload: {exc.message}") from None
        except Exception as exc:
            raise StorageFailed(f"falha ao enviar para o Supabase Storage: {type(exc).__name__}") from None


async def persist_image_to_supabase_storage(
    client: AsyncStorageClient, bucket: str, product_id: str, image: NormalizedImage
) -> StoredImage:
    """The seed's `persistImageToSupabaseStorage`: main.jpg and thumb_256.jpg, upserted."""
    files = client.from_(bucket)
    options = {"content-type": "image/jpeg", "cache-control": CACHE_CONTROL_SECONDS, "upsert": "true"}
    main_path = object_path(product_id, MAIN_NAME)
    thumb_path = object_path(product_id, THUMB_NAME)
    try:
        # Thumbnail first: main.jpg is what the catalogue points at, so it lands last.
        await files.upload(thumb_path, image.thumb_jpeg, options)  # type: ignore[arg-type]
        await files.upload(main_path, image.main_jpeg, options)  # type: ignore[arg-type]
        main_url = await files.get_public_url(main_path)
        thumb_url = await files.get_public_url(thumb_path)
    except StorageApiError as exc:
        raise StorageFailed(f"Supabase Storage recusou o upload: {exc.message}") from None
    except Exception as exc:  # httpx errors and the like: network trouble, retry later
        raise StorageFailed(f"falha ao enviar para o Supabase Storage: {type(exc).__name__}") from None
    return StoredImage(versioned(main_url, image), versioned(thumb_url, image), main_path)


class LocalImageStore:
    """A folder with the same layout as the bucket (the embedded default)."""

    def __init__(
        self, root: Path, bucket: str = "product-images", public_base_url: str | None = None
    ) -> None:
        self._root = root / bucket
        self._public_base = public_base_url.rstrip("/") if public_base_url else None

    async def close(self) -> None:
        return None

    async def save(self, product_id: str, image: NormalizedImage) -> StoredImage:
        main_path = object_path(product_id, MAIN_NAME)
        thumb_path = object_path(product_id, THUMB_NAME)
        await asyncio.to_thread(self._write, thumb_path, image.thumb_jpeg)
        await asyncio.to_thread(self._write, main_path, image.main_jpeg)
        return StoredImage(
            versioned(self._url(main_path), image), versioned(self._url(thumb_path), image), main_path
        )

    async def save_cutout(self, product_id: str, png: bytes, image: NormalizedImage) -> str:
        path = object_path(product_id, CUTOUT_NAME)
        await asyncio.to_thread(self._write, path, png)
        return versioned(self._url(path), image)

    def _write(self, relative: str, data: bytes) -> None:
        target = self._root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(target)  # atomic: a reader never sees half a file

    def _url(self, relative: str) -> str:
        if self._public_base:
            return f"{self._public_base}/{relative}"
        return (self._root / relative).resolve().as_uri()
