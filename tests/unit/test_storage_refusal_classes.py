"""Which Storage answers fail a job for good and which are retried: the real server's status in
the body decides (client errors come as HTTP 400), the HTTP status where there is no such body."""

from __future__ import annotations

import pytest

from worker.storage import StorageRefused, storage_failure

CONTEXT = {"bucket": "product-images", "path": "products/x/main.jpg", "content_type": "image/jpeg"}


@pytest.mark.parametrize(
    ("http", "body_status", "code", "names"),
    [
        (400, "403", "AccessDenied", "SUPABASE_SERVICE_ROLE_KEY"),
        (401, None, "", "SUPABASE_SERVICE_ROLE_KEY"),  # a gateway's {"message": "Invalid API key"}
        (400, "404", "NoSuchBucket", "STORAGE_BUCKET"),
        (400, "413", "EntityTooLarge", "file_size_limit"),
        (400, "415", "InvalidMimeType", "allowed_mime_types"),
        (400, "400", "InvalidKey", "products/x/main.jpg"),
        (400, "409", "ResourceAlreadyExists", "products/x/main.jpg"),
    ],
)
def test_client_errors_are_refusals_naming_what_to_fix(
    http: int, body_status: str | None, code: str, names: str
) -> None:
    failure = storage_failure(http, body_status, code, "m", **CONTEXT)
    assert isinstance(failure, StorageRefused) and names in str(failure), failure


@pytest.mark.parametrize(
    ("http", "body_status"),
    [
        (500, "500"),
        (502, None),
        (503, None),
        (429, "429"),
        (400, "429"),
        (408, None),
        (400, "408"),
        (None, None),
    ],
)
def test_server_errors_timeouts_and_throttling_are_retried(http: int | None, body_status: str | None) -> None:
    failure = storage_failure(http, body_status, "x", "m", **CONTEXT)
    assert not isinstance(failure, StorageRefused) and "nova tentativa" in str(failure)
