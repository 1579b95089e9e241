"""SupabaseImageStore (supabase-py's storage client) against the Storage API stand-in, and the
stand-in refusing what the real server (github.com/supabase/storage) refuses, with its answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from email.utils import parsedate_to_datetime

import asyncpg
import httpx
import pytest

from tests.harness import MigratedDatabase
from worker.images import normalize_image
from worker.offline.image_host import synthesize_product_image
from worker.offline.services import STANDIN_SERVICE_ROLE_KEY, OfflineServices
from worker.offline.storage_server import Bucket, product_images_bucket
from worker.storage import StorageFailed, StorageRefused, SupabaseImageStore

Maker = Callable[..., SupabaseImageStore]
BUCKET = "product-images"


@pytest.fixture
async def make_store() -> AsyncIterator[Maker]:
    stores: list[SupabaseImageStore] = []

    def make(url: str, key: str, bucket: str = BUCKET) -> SupabaseImageStore:
        stores.append(SupabaseImageStore(url, key, bucket))
        return stores[-1]

    yield make
    for store in stores:
        await store.close()


@pytest.fixture
async def http(services: OfflineServices) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{services.storage_url}/storage/v1") as client:
        yield client


def auth(key: str = STANDIN_SERVICE_ROLE_KEY) -> dict[str, str]:
    return {"apikey": key, "Authorization": f"Bearer {key}"}


async def upload(
    http: httpx.AsyncClient,
    key: str,
    data: bytes = b"\xff\xd8jpeg",
    content_type: str = "image/jpeg",
    *,
    upsert: bool = False,
    token: str = STANDIN_SERVICE_ROLE_KEY,
) -> httpx.Response:
    headers = auth(token) | ({"x-upsert": "true"} if upsert else {})
    files = {"file": ("main.jpg", data, content_type)}
    # The key as one already-encoded path, the way storage3 sends it (yarl quotes each segment).
    return await http.post(
        f"/object/{BUCKET}/{key}", headers=headers, files=files, data={"cacheControl": "3600"}
    )


async def test_upload_upsert_content_type_and_versioned_url(
    services: OfflineServices, make_store: Maker
) -> None:
    assert services.storage is not None
    store = make_store(services.storage_url, STANDIN_SERVICE_ROLE_KEY)
    first = normalize_image(synthesize_product_image("a", (800, 800)))
    stored = await store.save("prod-1", first)
    assert stored.path == "products/prod-1/main.jpg"
    assert stored.public_url == (
        f"{services.storage_url}/storage/v1/object/public/product-images/products/prod-1/main.jpg"
        f"?v={first.content_hash[:16]}"
    )
    main = services.storage.objects[("product-images", "products/prod-1/main.jpg")]
    thumb = services.storage.objects[("product-images", "products/prod-1/thumb_256.jpg")]
    assert main.data == first.main_jpeg and thumb.data == first.thumb_jpeg
    assert main.content_type == "image/jpeg" and main.cache_control == "31536000"

    second = normalize_image(synthesize_product_image("b", (800, 800)))
    replaced = await store.save("prod-1", second)
    again = services.storage.objects[("product-images", "products/prod-1/main.jpg")]
    assert again.versions == 2 and again.id == main.id, "an upsert keeps the object's Id"
    assert replaced.public_url != stored.public_url, "a replacement must get a new URL for the CDN"


async def test_a_wrong_key_is_refused_for_good_and_names_the_setting(
    services: OfflineServices, make_store: Maker
) -> None:
    assert services.storage is not None
    store = make_store(services.storage_url, "wrong-key")
    with pytest.raises(StorageRefused, match="SUPABASE_SERVICE_ROLE_KEY") as refused:
        await store.save("prod-2", normalize_image(synthesize_product_image("c", (100, 100))))
    assert "403" in str(refused.value) and "Invalid Compact JWS" in str(refused.value)
    anon = make_store(services.storage_url, services.storage.anon_key)
    with pytest.raises(StorageRefused, match=r"row-level security.*SUPABASE_SERVICE_ROLE_KEY"):
        await anon.save("prod-2", normalize_image(synthesize_product_image("c", (100, 100))))
    assert services.storage.objects == {}


async def test_unreachable_or_failing_storage_is_a_retryable_failure(
    services: OfflineServices, make_store: Maker
) -> None:
    image = normalize_image(synthesize_product_image("d", (100, 100)))
    with pytest.raises(StorageFailed, match="falha ao enviar") as unreachable:
        await make_store("http://127.0.0.1:9", STANDIN_SERVICE_ROLE_KEY).save("prod-3", image)
    assert not isinstance(unreachable.value, StorageRefused)
    assert services.storage is not None
    services.storage.fail_uploads = 1
    with pytest.raises(StorageFailed, match="indisponível") as failing:
        await make_store(services.storage_url, STANDIN_SERVICE_ROLE_KEY).save("prod-3", image)
    assert not isinstance(failing.value, StorageRefused)


async def test_bucket_limits_are_permanent_refusals_naming_the_bucket_setting(
    services: OfflineServices, make_store: Maker
) -> None:
    assert services.storage is not None
    image = normalize_image(synthesize_product_image("e", (400, 400)))
    services.storage.buckets[BUCKET] = Bucket(file_size_limit=len(image.thumb_jpeg) - 1)
    store = make_store(services.storage_url, STANDIN_SERVICE_ROLE_KEY)
    with pytest.raises(
        StorageRefused, match=r"limite de tamanho do bucket «product-images».*file_size_limit"
    ):
        await store.save("prod-4", image)
    services.storage.buckets[BUCKET] = Bucket(allowed_mime_types=("image/webp",))
    with pytest.raises(StorageRefused, match=r"não aceita image/jpeg.*allowed_mime_types"):
        await store.save("prod-4", image)
    missing = make_store(services.storage_url, STANDIN_SERVICE_ROLE_KEY, "imagens")
    with pytest.raises(StorageRefused, match=r"bucket «imagens» não existe.*STORAGE_BUCKET"):
        await missing.save("prod-4", image)


async def test_the_startup_check_writes_reads_the_bucket_and_leaves_nothing(
    services: OfflineServices, make_store: Maker
) -> None:
    assert services.storage is not None
    found = await make_store(services.storage_url, STANDIN_SERVICE_ROLE_KEY).check()
    assert "bucket «product-images» público, limite 5 MiB" in found
    assert services.storage.objects == {}, "the probe is removed"
    with pytest.raises(StorageRefused, match="SUPABASE_SERVICE_ROLE_KEY"):
        await make_store(services.storage_url, services.storage.anon_key).check()
    with pytest.raises(StorageRefused, match="STORAGE_BUCKET"):
        await make_store(services.storage_url, STANDIN_SERVICE_ROLE_KEY, "outro").check()
    services.storage.buckets[BUCKET] = Bucket(public=False)
    with pytest.raises(StorageRefused, match="não é público"):
        await make_store(services.storage_url, STANDIN_SERVICE_ROLE_KEY).check()
    services.storage.buckets[BUCKET] = Bucket(allowed_mime_types=("image/jpeg",))
    with pytest.raises(StorageRefused, match="não aceita image/png"):
        await make_store(services.storage_url, STANDIN_SERVICE_ROLE_KEY).check()


# --- the stand-in answers as the real server does --------------------------------------------


@pytest.mark.parametrize(
    "key", ["products/AÇÚCAR-01/main.jpg", "products/CX%2312%25/main.jpg", "products/a~b/main.jpg"]
)
async def test_keys_outside_the_real_alphabet_are_invalid(http: httpx.AsyncClient, key: str) -> None:
    answer = await upload(http, key)
    assert answer.status_code == 400
    body = answer.json()
    assert body["statusCode"] == "400" and body["code"] == "InvalidKey" and body["error"] == "InvalidKey"
    assert body["message"].startswith("Invalid key: products/")


async def test_upload_again_without_upsert_is_409_with_a_code_and_upsert_keeps_the_id(
    http: httpx.AsyncClient,
) -> None:
    first = await upload(http, "products/x/main.jpg")
    assert first.status_code == 200 and first.json()["Key"] == "product-images/products/x/main.jpg"
    again = await upload(http, "products/x/main.jpg")
    assert again.status_code == 400
    assert again.json() == {
        "statusCode": "409",
        "code": "ResourceAlreadyExists",
        "error": "Duplicate",
        "message": "The resource already exists",
    }
    upserted = await upload(http, "products/x/main.jpg", b"\xff\xd8other", upsert=True)
    assert upserted.status_code == 200 and upserted.json()["Id"] == first.json()["Id"]


async def test_size_type_and_key_refusals_carry_the_real_codes(
    http: httpx.AsyncClient, services: OfflineServices
) -> None:
    assert services.storage is not None
    services.storage.buckets[BUCKET] = Bucket(file_size_limit=10)
    big = await upload(http, "products/y/main.jpg", b"\xff" * 11)
    assert big.status_code == 400
    assert big.json() == {
        "statusCode": "413",
        "code": "EntityTooLarge",
        "error": "Payload too large",
        "message": "The object exceeded the maximum allowed size",
    }
    text = await upload(http, "products/y/a.txt", b"x", "text/plain")
    assert text.status_code == 400
    assert text.json() == {
        "statusCode": "415",
        "code": "InvalidMimeType",
        "error": "invalid_mime_type",
        "message": "mime type text/plain is not supported",
    }
    anon = await upload(http, "products/y/b.jpg", b"x", token=services.storage.anon_key)
    assert anon.status_code == 400 and anon.json()["statusCode"] == "403"
    assert anon.json()["message"] == "new row violates row-level security policy"


async def test_public_reads_have_etag_last_modified_304_and_206(http: httpx.AsyncClient) -> None:
    data = bytes(range(256)) * 4
    assert (await upload(http, "products/z/main.jpg", data)).status_code == 200
    url = f"/object/public/{BUCKET}/products/z/main.jpg"
    whole = await http.get(url)
    assert whole.status_code == 200 and whole.content == data
    etag, modified = whole.headers["ETag"], whole.headers["Last-Modified"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 34
    assert parsedate_to_datetime(modified).tzinfo is not None
    assert whole.headers["Cache-Control"] == "max-age=3600" and whole.headers["Accept-Ranges"] == "bytes"

    same = await http.get(url, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    unchanged = await http.get(url, headers={"If-Modified-Since": modified})
    assert unchanged.status_code == 304
    assert (await http.get(url, headers={"If-None-Match": '"other"'})).status_code == 200

    part = await http.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    tail = await http.get(url, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == data[-5:]
    outside = await http.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert outside.status_code == 416 and outside.json()["code"] == "InvalidRange"

    missing = await http.get(f"/object/public/{BUCKET}/products/none/main.jpg")
    assert missing.status_code == 400
    assert missing.json()["statusCode"] == "404" and missing.json()["code"] == "NoSuchKey"


async def test_the_standin_bucket_is_the_one_the_migration_creates(db: MigratedDatabase) -> None:
    conn = await asyncpg.connect(db.dsn)
    try:
        row = await conn.fetchrow(
            "select public, file_size_limit, allowed_mime_types from storage.buckets where id = $1", BUCKET
        )
    finally:
        await conn.close()
    assert row is not None
    standin = product_images_bucket()[BUCKET]
    assert (row["public"], row["file_size_limit"], tuple(row["allowed_mime_types"])) == (
        standin.public,
        standin.file_size_limit,
        standin.allowed_mime_types,
    )
