"""Stand-in for the Supabase Storage HTTP endpoints Imagefill uses, on 127.0.0.1.

It refuses what the real server (github.com/supabase/storage) refuses, with the real server's
answers, so a test against it can fail the way production would:

* uploads: `POST /storage/v1/object/{bucket}/{key}` (multipart: the file part and a
  `cacheControl` field; `x-upsert: true` to replace), `PUT` to update. Checked in the real
  server's order: the JWT (AccessDenied, statusCode 403), the bucket (NoSuchBucket, 404), the
  bucket's `allowed_mime_types` (InvalidMimeType, 415), the key alphabet (InvalidKey, 400), row
  security for a non-service key (AccessDenied, 403), an existing object without upsert
  (ResourceAlreadyExists, 409), the bucket's `file_size_limit` (EntityTooLarge, 413). Client
  errors are HTTP 400 with `{"statusCode", "code", "error", "message"}`; an upsert keeps the
  object's Id.
* `DELETE /storage/v1/object/{bucket}` (`{"prefixes": [...]}`) and `GET /storage/v1/bucket/{id}`.
* public reads `GET /storage/v1/object/public/{bucket}/{key}`: ETag (quoted MD5, as the file
  backend), Last-Modified, Cache-Control, 304 for If-None-Match / If-Modified-Since, 206 for
  Range, 416 for a range outside the file.

The default bucket mirrors what `worker/sql/08_storage_bucket.sql` creates (a test keeps the two
equal). Keys are opaque strings here (no JWT is verified): the service-role key may do anything,
the anon key is refused by row security, anything else is not a JWT.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from aiohttp import BodyPartReader, web

# src/storage/limits.ts: `VALID_OBJECT_KEY`
VALID_OBJECT_KEY = re.compile(r"^[A-Za-z0-9_/!.*'() &$=@;:+,?-]*$")
GLOBAL_FILE_SIZE_LIMIT = 50 * 1024 * 1024  # the server's own upload limit (FILE_SIZE_LIMIT)


@dataclass(frozen=True)
class Bucket:
    public: bool = True
    file_size_limit: int | None = 5 * 1024 * 1024
    allowed_mime_types: tuple[str, ...] | None = ("image/jpeg", "image/png", "image/webp")
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def product_images_bucket() -> dict[str, Bucket]:
    """What Imagefill's bucket migration creates."""
    return {"product-images": Bucket()}


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    cache_control: str | None
    versions: int = 1
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    last_modified: float = field(default_factory=time.time)

    @property
    def etag(self) -> str:
        return f'"{hashlib.md5(self.data).hexdigest()}"'  # the file backend's ETag


@dataclass
class StorageStandIn:
    service_role_key: str
    anon_key: str = "offline-anon-key-not-a-secret"
    buckets: dict[str, Bucket] = field(default_factory=product_images_bucket)
    objects: dict[tuple[str, str], StoredObject] = field(default_factory=dict)
    rejected_auth: int = 0
    refusals: list[dict[str, str]] = field(default_factory=list)  # every 4xx body sent
    fail_uploads: int = 0  # answer the next N uploads with a 500
    latency_seconds: float = 0.0  # added to every upload (a slow network)

    def __post_init__(self) -> None:
        self.app = web.Application(client_max_size=GLOBAL_FILE_SIZE_LIMIT + 1024 * 1024)
        self.app.router.add_get("/storage/v1/object/public/{bucket}/{path:.+}", self._public)
        self.app.router.add_get("/storage/v1/bucket/{bucket}", self._bucket)
        self.app.router.add_post("/storage/v1/object/{bucket}/{path:.+}", self._upload)
        self.app.router.add_put("/storage/v1/object/{bucket}/{path:.+}", self._update)
        self.app.router.add_delete("/storage/v1/object/{bucket}", self._remove)

    def _error(
        self, status_code: str, code: str, error: str, message: str, http_status: int | None = None
    ) -> web.Response:
        """The real error handler: HTTP 400 for client errors, 500 for server errors, the
        meaningful status inside the body."""
        body = {"statusCode": status_code, "code": code, "error": error, "message": message}
        if status_code.startswith("4"):
            self.refusals.append(body)
        status = http_status or (500 if status_code.startswith("5") else 400)
        return web.json_response(body, status=status)

    def _denied(self, message: str) -> web.Response:
        return self._error("403", "AccessDenied", "Unauthorized", message)

    def _role(self, request: web.Request) -> str | web.Response:
        """The JWT plugin: a token that does not verify is AccessDenied before anything else."""
        token = re.sub(r"^Bearer\s+", "", request.headers.get("Authorization", ""), flags=re.I)
        if token == self.service_role_key:
            return "service_role"
        if token == self.anon_key:
            return "anon"
        self.rejected_auth += 1
        jws = len(token.split(".")) == 3
        return self._denied("signature verification failed" if jws else "Invalid Compact JWS")

    def _no_bucket(self) -> web.Response:
        return self._error("404", "NoSuchBucket", "Bucket not found", "Bucket not found")

    async def _upload(self, request: web.Request) -> web.Response:
        upsert = request.headers.get("x-upsert", "false").lower() == "true"
        return await self._write(request, allow_create=True, allow_replace=upsert)

    async def _update(self, request: web.Request) -> web.Response:
        return await self._write(request, allow_create=False, allow_replace=True)

    async def _write(self, request: web.Request, *, allow_create: bool, allow_replace: bool) -> web.Response:
        await asyncio.sleep(self.latency_seconds)
        role = self._role(request)
        if isinstance(role, web.Response):
            return role
        name, key = request.match_info["bucket"], request.match_info["path"]
        bucket = self.buckets.get(name)
        if bucket is None:
            return self._no_bucket()
        if self.fail_uploads > 0:
            self.fail_uploads -= 1
            return self._error("500", "InternalError", "internal", "upstream storage unavailable")
        form = await self._read_form(request)
        if form is None:
            return self._error("400", "InvalidRequest", "InvalidRequest", "No content provided")
        data, content_type, cache_control = form
        if bucket.allowed_mime_types and not _mime_allowed(content_type, bucket.allowed_mime_types):
            return self._error(
                "415", "InvalidMimeType", "invalid_mime_type", f"mime type {content_type} is not supported"
            )
        if not key or not VALID_OBJECT_KEY.match(key):
            return self._error("400", "InvalidKey", "InvalidKey", f"Invalid key: {key}")
        if role != "service_role":  # Supabase creates no insert policy on storage.objects
            return self._denied("new row violates row-level security policy")
        existing = self.objects.get((name, key))
        if existing is not None and not allow_replace:
            return self._error("409", "ResourceAlreadyExists", "Duplicate", "The resource already exists")
        if existing is None and not allow_create:
            return self._error("404", "NoSuchKey", "not_found", "Object not found")
        limit = min(GLOBAL_FILE_SIZE_LIMIT, bucket.file_size_limit or GLOBAL_FILE_SIZE_LIMIT)
        if len(data) > limit:
            return self._error(
                "413", "EntityTooLarge", "Payload too large", "The object exceeded the maximum allowed size"
            )
        stored = StoredObject(bytes(data), content_type, cache_control)
        if existing is not None:  # an upsert updates the row: same Id, a new version
            stored.id, stored.versions = existing.id, existing.versions + 1
        self.objects[(name, key)] = stored
        return web.json_response({"Id": stored.id, "Key": f"{name}/{key}"})

    @staticmethod
    async def _read_form(request: web.Request) -> tuple[bytes, str, str | None] | None:
        reader = await request.multipart()
        data: bytes | None = None
        content_type = "application/octet-stream"
        cache_control: str | None = None
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                content_type = part.headers.get("Content-Type", content_type)
                data = await part.read(decode=False)
            elif part.name == "cacheControl":
                cache_control = await part.text()
        return None if data is None else (bytes(data), content_type, cache_control)

    async def _remove(self, request: web.Request) -> web.Response:
        role = self._role(request)
        if isinstance(role, web.Response):
            return role
        name = request.match_info["bucket"]
        if name not in self.buckets:
            return self._no_bucket()
        body: dict[str, Any] = await request.json()
        removed = []
        for key in body.get("prefixes", []):
            found = self.objects.get((name, key)) if role == "service_role" else None
            if found is not None:
                del self.objects[(name, key)]
                removed.append({"bucket_id": name, "name": key, "id": found.id})
        return web.json_response(removed)

    async def _bucket(self, request: web.Request) -> web.Response:
        role = self._role(request)
        if isinstance(role, web.Response):
            return role
        name = request.match_info["bucket"]
        bucket = self.buckets.get(name)
        if bucket is None or role != "service_role":  # row security hides buckets from anon
            return self._no_bucket()
        return web.json_response(
            {
                "id": name,
                "name": name,
                "owner": None,
                "public": bucket.public,
                "file_size_limit": bucket.file_size_limit,
                "allowed_mime_types": list(bucket.allowed_mime_types) if bucket.allowed_mime_types else None,
                "created_at": bucket.created_at,
                "updated_at": bucket.created_at,
                "type": "STANDARD",
            }
        )

    async def _public(self, request: web.Request) -> web.Response:
        name = request.match_info["bucket"]
        bucket = self.buckets.get(name)
        if bucket is None or not bucket.public:
            return self._no_bucket()
        found = self.objects.get((name, request.match_info["path"]))
        if found is None:
            return self._error("404", "NoSuchKey", "not_found", "Object not found")
        last_modified = datetime.fromtimestamp(int(found.last_modified), UTC)
        headers = {
            "ETag": found.etag,
            "Last-Modified": format_datetime(last_modified, usegmt=True),
            "Accept-Ranges": "bytes",
            "Cache-Control": f"max-age={found.cache_control}" if found.cache_control else "no-cache",
            "X-Robots-Tag": "none",
        }
        if _not_modified(request, found.etag, last_modified):
            return web.Response(status=304, headers=headers)
        span = request.headers.get("Range")
        if span is None:
            return web.Response(body=found.data, content_type=found.content_type, headers=headers)
        parsed = _parse_range(span, len(found.data))
        if parsed is None:
            return self._error("416", "InvalidRange", "invalid_range", "invalid range provided", 416)
        start, end = parsed
        headers["Content-Range"] = f"bytes {start}-{end}/{len(found.data)}"
        return web.Response(
            status=206, body=found.data[start : end + 1], content_type=found.content_type, headers=headers
        )


def _mime_allowed(content_type: str, allowed: tuple[str, ...]) -> bool:
    """src/storage/uploader.ts `validateMimeType`: type/subtype, or type/*."""
    requested = content_type.split(";")[0].strip().split("/")
    if len(requested) < 2:
        return False
    for entry in allowed:
        kind, _, sub = entry.partition("/")
        if kind == requested[0] and sub in ("*", requested[1]):
            return True
    return False


def _not_modified(request: web.Request, etag: str, last_modified: datetime) -> bool:
    if request.headers.get("If-None-Match") == etag:
        return True
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return last_modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """src/storage/range.ts: `bytes=a-b`, `bytes=a-`, `bytes=-n`; None is a 416."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header)
    if match is None or size <= 0 or not (match.group(1) or match.group(2)):
        return None
    first, last = match.groups()
    if not first:
        suffix = int(last)
        return None if suffix <= 0 else (max(size - suffix, 0), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if start > end or start >= size:
        return None
    return start, min(end, size - 1)
