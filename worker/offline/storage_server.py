"""Stand-in for the Supabase Storage HTTP endpoints Imagefill uses, on 127.0.0.1.

Speaks the real wire format: `POST /storage/v1/object/{bucket}/{path}` with a multipart body (the
file part and a `cacheControl` field) and `x-upsert`, the service-role key in `apikey` and
`Authorization: Bearer`, errors as `{"statusCode", "error", "message"}`, and public reads at
`/storage/v1/object/public/{bucket}/{path}`.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web


@dataclass
class StoredObject:
    data: bytes
    content_type: str
    cache_control: str | None
    versions: int = 1


@dataclass
class StorageStandIn:
    service_role_key: str
    buckets: set[str] = field(default_factory=lambda: {"product-images"})
    objects: dict[tuple[str, str], StoredObject] = field(default_factory=dict)
    rejected_auth: int = 0
    fail_uploads: int = 0  # answer the next N uploads with a 500
    latency_seconds: float = 0.0  # added to every upload (a slow network)

    def __post_init__(self) -> None:
        self.app = web.Application(client_max_size=20 * 1024 * 1024)
        self.app.router.add_post("/storage/v1/object/{bucket}/{path:.+}", self._upload)
        self.app.router.add_put("/storage/v1/object/{bucket}/{path:.+}", self._update)
        self.app.router.add_get("/storage/v1/object/public/{bucket}/{path:.+}", self._public)

    @staticmethod
    def _error(http_status: int, status_code: str, error: str, message: str) -> web.Response:
        return web.json_response(
            {"statusCode": status_code, "error": error, "message": message}, status=http_status
        )

    def _authorized(self, request: web.Request) -> bool:
        bearer = request.headers.get("Authorization", "")
        return (
            bearer == f"Bearer {self.service_role_key}"
            and request.headers.get("apikey") == self.service_role_key
        )

    async def _upload(self, request: web.Request) -> web.Response:
        upsert = request.headers.get("x-upsert", "false").lower() == "true"
        return await self._write(request, allow_create=True, allow_replace=upsert)

    async def _update(self, request: web.Request) -> web.Response:
        return await self._write(request, allow_create=False, allow_replace=True)

    async def _write(self, request: web.Request, *, allow_create: bool, allow_replace: bool) -> web.Response:
        await asyncio.sleep(self.latency_seconds)
        if not self._authorized(request):
            self.rejected_auth += 1
            return self._error(400, "403", "Unauthorized", "invalid signature")
        bucket, path = request.match_info["bucket"], request.match_info["path"]
        if bucket not in self.buckets:
            return self._error(400, "404", "Bucket not found", "Bucket not found")
        if self.fail_uploads > 0:
            self.fail_uploads -= 1
            return self._error(500, "500", "InternalError", "upstream storage unavailable")
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
        if data is None:
            return self._error(400, "400", "InvalidRequest", "No file part in the request")
        key = (bucket, path)
        existing = self.objects.get(key)
        if existing is not None and not allow_replace:
            return self._error(400, "409", "Duplicate", "The resource already exists")
        if existing is None and not allow_create:
            return self._error(400, "404", "not_found", "Object not found")
        versions = existing.versions + 1 if existing else 1
        self.objects[key] = StoredObject(bytes(data), content_type, cache_control, versions)
        return web.json_response({"Key": f"{bucket}/{path}", "Id": str(uuid.uuid4())})

    async def _public(self, request: web.Request) -> web.Response:
        found = self.objects.get((request.match_info["bucket"], request.match_info["path"]))
        if found is None:
            return self._error(400, "404", "not_found", "Object not found")
        headers = {"Cache-Control": f"max-age={found.cache_control}"} if found.cache_control else {}
        return web.Response(body=found.data, content_type=found.content_type, headers=headers)
