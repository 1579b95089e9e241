"""SupabaseImageStore (supabase-py's storage client) against the Storage API stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from worker.images import normalize_image
from worker.offline.image_host import synthesize_product_image
from worker.offline.services import STANDIN_SERVICE_ROLE_KEY, OfflineServices
from worker.storage import StorageFailed, SupabaseImageStore

Maker = Callable[[str, str], SupabaseImageStore]


@pytest.fixture
async def make_store() -> AsyncIterator[Callable[[str, str], SupabaseImageStore]]:
    stores: list[SupabaseImageStore] = []

    def make(url: str, key: str) -> SupabaseImageStore:
        stores.append(SupabaseImageStore(url, key))
        return stores[-1]

    yield make
    for store in stores:
        await store.close()


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
    assert services.storage.objects[("product-images", "products/prod-1/main.jpg")].versions == 2
    assert replaced.public_url != stored.public_url, "a replacement must get a new URL for the CDN"


async def test_wrong_key_is_refused_with_a_clear_error(services: OfflineServices, make_store: Maker) -> None:
    assert services.storage is not None
    store = make_store(services.storage_url, "wrong-key")
    with pytest.raises(StorageFailed, match="invalid signature"):
        await store.save("prod-2", normalize_image(synthesize_product_image("c", (100, 100))))
    assert services.storage.rejected_auth == 1
    assert services.storage.objects == {}


async def test_unreachable_storage_is_a_retryable_failure(make_store: Maker) -> None:
    store = make_store("http://127.0.0.1:9", STANDIN_SERVICE_ROLE_KEY)
    with pytest.raises(StorageFailed, match="falha ao enviar"):
        await store.save("prod-3", normalize_image(synthesize_product_image("d", (100, 100))))
