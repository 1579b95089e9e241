"""Every product id maps to one folder the real Storage server accepts: valid key alphabet, no
nested folders, bounded length, deterministic and injective; uuid and bigint ids keep their paths."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st
from storage3._async.file_api import relative_path_to_parts

from worker.offline.storage_server import VALID_OBJECT_KEY
from worker.storage import MAIN_NAME, object_path, storage_folder

CORPUS = [
    "AÇÚCAR-01",
    "açúcar-01",
    "ACUCAR-01",
    "CX#12",
    "50%",
    "%C3%87",
    "a/b",
    "a-b",
    "a/b/c",
    "/",
    ".",
    "..",
    "...",
    "código com espaço",
    "x" * 100,
    "x" * 101,
    "x" * 5000,
    "日本語",
    "emoji 😀",
    "a@b",
    "a-b@0000000000",
    "tab\there",
    "",
]


def assert_valid_folder(product_id: str) -> str:
    folder = storage_folder(product_id)
    key = object_path(product_id, MAIN_NAME)
    assert VALID_OBJECT_KEY.fullmatch(key), (product_id, key)
    assert "/" not in folder and folder not in ("", ".", "..") and len(folder) <= 100, (product_id, folder)
    # supabase-py unquotes the path and splits it on "/": the key must come through unchanged.
    assert relative_path_to_parts(key) == ("products", folder, MAIN_NAME), key
    assert storage_folder(product_id) == folder, "deterministic"
    return folder


def test_uuid_bigint_and_safe_ids_keep_their_paths() -> None:
    for product_id in [str(uuid.uuid4()), "1", "9223372036854775807", "prod-1", "SKU_12.5", "CX 12 (un)"]:
        assert object_path(product_id, MAIN_NAME) == f"products/{product_id}/{MAIN_NAME}"


def test_unsafe_ids_get_a_readable_slug_and_a_hash() -> None:
    assert storage_folder("AÇÚCAR-01").startswith("ACUCAR-01@")
    assert storage_folder("a/b").startswith("a-b@"), "one folder, not products/a/b/"
    assert storage_folder("CX#12 50%").startswith("CX-12-50@")
    assert len(storage_folder("x" * 5000)) <= 100


def test_the_corpus_maps_to_distinct_valid_folders() -> None:
    folders = [assert_valid_folder(i) for i in CORPUS]
    assert len(set(folders)) == len(CORPUS), "two ids never share a folder"


@settings(max_examples=500)
@given(st.text(min_size=1, max_size=300))
def test_any_text_maps_to_a_valid_folder(product_id: str) -> None:
    assert_valid_folder(product_id)


@settings(max_examples=500)
@given(st.text(max_size=120), st.text(max_size=120))
def test_different_ids_never_share_a_folder(a: str, b: str) -> None:
    if a != b:
        assert storage_folder(a) != storage_folder(b)
