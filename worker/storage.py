"""Where stored images go: Supabase Storage in production, a local folder on the embedded default.

Both write the same paths (`products/{folder}/main.jpg` and `thumb_256.jpg`, `folder` from
`storage_folder`) and return a public URL carrying the content hash (`?v=…`), so a CDN never
serves an old picture after a replacement.

Storage's answers are sorted here: what the service refuses (a wrong key, a missing bucket, a
file over the bucket's size limit, a type it does not accept) is `StorageRefused` and fails the
job at once; what may pass (5xx, 408, 429, the network) is `StorageFailed` and is retried.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from PIL import Image
from storage3 import AsyncStorageClient
from storage3.exceptions import StorageApiError

from worker.images import NormalizedImage

MAIN_NAME = "main.jpg"
CUTOUT_NAME = "main.png"  # transparent cutout, when the background is plain
THUMB_NAME = "thumb_256.jpg"
CACHE_CONTROL_SECONDS = "31536000"  # the ?v= query makes every version a new URL
# The start-up check writes (and removes) one tiny object here: never a product's folder.
PROBE_PREFIX = "_imagefill/"
UPLOADED_TYPES = ("image/jpeg", "image/png")  # main.jpg + thumb_256.jpg, and the cutout

# The real server's key alphabet (supabase/storage, src/storage/limits.ts `VALID_OBJECT_KEY`):
# ASCII letters, digits and _/!.*'() &$=@;:+,?- — anything else is refused with InvalidKey.
VALID_OBJECT_KEY = re.compile(r"[A-Za-z0-9_/!.*'() &$=@;:+,?-]+")
# A product id made only of these (no "/", no "@") is its own folder, as it always was.
_KEPT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_!.*'() &$=;:+,?-")
HASH_MARK = "@"  # only folders of the slug form hold it: they never meet a kept id
MAX_KEPT_ID = 100
SLUG_MAX = 48
HASH_HEX = 20  # 80 bits of SHA-256
URL_PATH_SAFE = "/!$&'()*+,;=:@"  # RFC 3986 path characters; " " and "?" are escaped
TRANSIENT_STATUSES = frozenset({408, 429})
AUTH_CODES = frozenset({"AccessDenied", "InvalidJWT", "InvalidSignature", "ExpiredToken", "Unauthorized"})


class StorageFailed(Exception):
    """The upload did not go through and may on a later try (5xx, 408, 429, network): retry."""


class StorageRefused(StorageFailed):
    """Storage refused the request for a reason a retry cannot change (the key, the bucket, its
    size limit or accepted types): the job fails at once, the message names the setting to fix."""


@dataclass(frozen=True)
class StoredImage:
    public_url: str  # main.jpg with ?v=<hash>
    thumb_url: str
    path: str


def storage_folder(product_id: str) -> str:
    """The product's one folder under `products/`: the id itself when it is already a valid key
    without "/" (uuid, bigint and most codes keep their paths), else a readable ASCII slug, "@"
    and 20 hex digits of the id's SHA-256. Deterministic, at most 100 characters, never "." or
    "..", and injective: kept ids hold no "@", slug folders always do and differ by the hash."""
    text = str(product_id)
    if 0 < len(text) <= MAX_KEPT_ID and text not in (".", "..") and all(c in _KEPT for c in text):
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_HEX]
    return f"{_slug(text)}{HASH_MARK}{digest}"


def _slug(text: str) -> str:
    """`AÇÚCAR-01` → `ACUCAR-01`: accents dropped, every other run of characters becomes "-"."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", folded).strip("-.")
    return slug[:SLUG_MAX].rstrip("-.")


def object_path(product_id: str, name: str) -> str:
    return f"products/{storage_folder(product_id)}/{name}"


def versioned(url: str, image: NormalizedImage) -> str:
    return f"{url}?v={image.content_hash[:16]}"


class ImageStore(Protocol):
    async def save(self, product_id: str, image: NormalizedImage) -> StoredImage: ...

    async def save_cutout(self, product_id: str, png: bytes, image: NormalizedImage) -> str: ...

    async def check(self) -> str:
        """Proves the worker can write where it will store pictures; returns what it found.
        Raises StorageRefused (fix a setting) or StorageFailed (unreachable now)."""
        ...

    async def close(self) -> None: ...


def _probe_jpeg() -> bytes:
    out = BytesIO()
    Image.new("RGB", (8, 8), (128, 128, 128)).save(out, "JPEG")
    return out.getvalue()


def _as_int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def storage_failure(
    http_status: int | None,
    body_status: object,
    code: str,
    message: str,
    *,
    bucket: str,
    path: str,
    content_type: str | None = None,
    size: int | None = None,
) -> StorageFailed:
    """One Storage error answer → retry or refuse. The real server answers client errors with
    HTTP 400 and the meaningful status in the body (`{"statusCode": "403", "code": ...}`), so the
    body's status decides, the HTTP status only where there is no body (a gateway, a proxy)."""
    status = _as_int(body_status) or http_status
    detail = f"{status} {code}: {message}".strip()
    transient = {http_status, status} & TRANSIENT_STATUSES or any(
        s is not None and s >= 500 for s in (http_status, status)
    )
    if transient or status is None or not 400 <= status < 500:
        return StorageFailed(f"Supabase Storage indisponível ({detail}); nova tentativa mais tarde")
    if status in (401, 403) or code in AUTH_CODES:
        return StorageRefused(
            f"o Supabase Storage recusou a chave ({detail}): confira SUPABASE_SERVICE_ROLE_KEY —"
            " use a chave service_role do projeto (não a anon/publishable)"
        )
    if code == "NoSuchBucket" or (status == 404 and "bucket" in message.lower()):
        return StorageRefused(
            f"o bucket «{bucket}» não existe no Supabase Storage ({detail}): confira STORAGE_BUCKET"
            " ou crie o bucket com `imagefill migrate`"
        )
    if status == 413 or code == "EntityTooLarge":
        size_text = f" ({size} bytes)" if size is not None else ""
        return StorageRefused(
            f"{path}{size_text} passa do limite de tamanho do bucket «{bucket}» ({detail}):"
            " aumente o file_size_limit do bucket (a migration do Imagefill usa 5 MiB)"
            " ou reduza IMAGE_MAX_SIDE"
        )
    if status == 415 or code == "InvalidMimeType":
        return StorageRefused(
            f"o bucket «{bucket}» não aceita {content_type or 'esse tipo'} ({detail}): inclua"
            f" {', '.join(UPLOADED_TYPES)} nos tipos permitidos do bucket (allowed_mime_types)"
        )
    return StorageRefused(f"o Supabase Storage recusou {path} ({detail})")


def _api_failure(exc: StorageApiError, **context: Any) -> StorageFailed:
    """storage3 keeps only the body's `error` (not its `code`) and, for a body it cannot read (a
    gateway's `{"message": ...}`), not the HTTP status either: read the response it came from."""
    response = _response_behind(exc)
    if response is None:
        return storage_failure(None, exc.status, str(exc.code), str(exc.message), **context)
    return _response_failure(response, **context)


def _response_behind(exc: BaseException) -> httpx.Response | None:
    seen: BaseException | None = exc
    for _ in range(5):  # the HTTPStatusError is the cause, or the context of a KeyError cause
        if seen is None:
            return None
        if isinstance(seen, httpx.HTTPStatusError):
            return seen.response
        seen = seen.__cause__ or seen.__context__
    return None


def _response_failure(response: httpx.Response, **context: Any) -> StorageFailed:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {"message": response.text[:200]}
    return storage_failure(
        response.status_code,
        body.get("statusCode"),
        str(body.get("code") or body.get("error") or ""),
        str(body.get("message") or ""),
        **context,
    )


def _network_failure(exc: Exception) -> StorageFailed:
    return StorageFailed(f"falha ao enviar para o Supabase Storage: {type(exc).__name__}")


class SupabaseImageStore:
    """Uploads through Supabase Storage's HTTP API with supabase-py's storage client."""

    def __init__(self, supabase_url: str, service_role_key: str, bucket: str = "product-images") -> None:
        self._headers = {"apikey": service_role_key, "Authorization": f"Bearer {service_role_key}"}
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        self._base = f"{supabase_url.rstrip('/')}/storage/v1/"
        self._client = AsyncStorageClient(self._base, self._headers, http_client=self._http)
        self._bucket = bucket

    async def close(self) -> None:
        await self._http.aclose()

    async def save(self, product_id: str, image: NormalizedImage) -> StoredImage:
        return await persist_image_to_supabase_storage(self._client, self._bucket, product_id, image)

    async def save_cutout(self, product_id: str, png: bytes, image: NormalizedImage) -> str:
        path = object_path(product_id, CUTOUT_NAME)
        await _upload(self._client, self._bucket, path, png, "image/png")
        return versioned(await self._client.from_(self._bucket).get_public_url(path), image)

    async def check(self) -> str:
        """Uploads a tiny JPEG under `_imagefill/`, reads the bucket, removes the JPEG. The upload
        comes first: with a wrong key the bucket read says only "not found" (RLS hides the
        bucket), while the upload names the key."""
        probe = f"{PROBE_PREFIX}startup-check-{uuid.uuid4().hex}.jpg"
        await _upload(self._client, self._bucket, probe, _probe_jpeg(), "image/jpeg")
        try:
            bucket = await self._bucket_info()
        finally:
            try:
                await self._client.from_(self._bucket).remove([probe])
            except StorageApiError as exc:
                raise _api_failure(exc, bucket=self._bucket, path=probe) from None
            except Exception as exc:
                raise _network_failure(exc) from None
        return _describe_bucket(self._bucket, bucket)

    async def _bucket_info(self) -> dict[str, Any]:
        try:
            response = await self._http.get(
                f"{self._base}bucket/{quote(self._bucket)}", headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise _network_failure(exc) from None
        if response.status_code != 200:
            raise _response_failure(response, bucket=self._bucket, path=f"bucket/{self._bucket}")
        info: dict[str, Any] = response.json()
        return info


def _describe_bucket(name: str, bucket: dict[str, Any]) -> str:
    """Refuses a bucket whose public URLs would not open or that refuses a type we upload."""
    if not bucket.get("public"):
        raise StorageRefused(
            f"o bucket «{name}» não é público: as URLs gravadas em image_url não abririam no painel;"
            " marque-o como público (a migration do Imagefill o cria assim) ou confira STORAGE_BUCKET"
        )
    allowed = list(bucket.get("allowed_mime_types") or [])
    refused = [
        t for t in UPLOADED_TYPES if allowed and t not in allowed and f"{t.split('/')[0]}/*" not in allowed
    ]
    if refused:
        raise StorageRefused(
            f"o bucket «{name}» não aceita {', '.join(refused)} (allowed_mime_types = {', '.join(allowed)}):"
            f" inclua {', '.join(UPLOADED_TYPES)} nos tipos permitidos do bucket"
        )
    limit = bucket.get("file_size_limit")
    limit_text = f"limite {int(limit) / 1048576:g} MiB" if limit else "sem limite próprio"
    types_text = ", ".join(allowed) if allowed else "qualquer tipo"
    return f"bucket «{name}» público, {limit_text}, aceita {types_text}; gravação e remoção verificadas"


async def _upload(client: AsyncStorageClient, bucket: str, path: str, data: bytes, content_type: str) -> None:
    options = {"content-type": content_type, "cache-control": CACHE_CONTROL_SECONDS, "upsert": "true"}
    try:
        await client.from_(bucket).upload(path, data, options)  # type: ignore[arg-type]
    except StorageApiError as exc:
        raise _api_failure(exc, bucket=bucket, path=path, content_type=content_type, size=len(data)) from None
    except Exception as exc:  # httpx errors and the like: network trouble, retry later
        raise _network_failure(exc) from None


async def persist_image_to_supabase_storage(
    client: AsyncStorageClient, bucket: str, product_id: str, image: NormalizedImage
) -> StoredImage:
    """The seed's `persistImageToSupabaseStorage`: main.jpg and thumb_256.jpg, upserted."""
    files = client.from_(bucket)
    main_path = object_path(product_id, MAIN_NAME)
    thumb_path = object_path(product_id, THUMB_NAME)
    # Thumbnail first: main.jpg is what the catalogue points at, so it lands last.
    await _upload(client, bucket, thumb_path, image.thumb_jpeg, "image/jpeg")
    await _upload(client, bucket, main_path, image.main_jpeg, "image/jpeg")
    main_url = await files.get_public_url(main_path)
    thumb_url = await files.get_public_url(thumb_path)
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

    async def check(self) -> str:
        probe = f"{PROBE_PREFIX}startup-check-{uuid.uuid4().hex}.jpg"
        try:
            await asyncio.to_thread(self._write, probe, _probe_jpeg())
            await asyncio.to_thread((self._root / probe).unlink)
        except OSError as exc:
            raise StorageRefused(
                f"a pasta {self._root} não aceita gravação ({exc.strerror or exc}): confira LOCAL_STORAGE_DIR"
            ) from None
        return f"pasta {self._root}: gravação e remoção verificadas"

    def _write(self, relative: str, data: bytes) -> None:
        target = self._root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(target)  # atomic: a reader never sees half a file

    def _url(self, relative: str) -> str:
        if self._public_base:
            # A kept id may hold " " or "?", which a URL path must escape.
            return f"{self._public_base}/{quote(relative, safe=URL_PATH_SAFE)}"
        return (self._root / relative).resolve().as_uri()
