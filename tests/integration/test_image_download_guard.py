"""download_image over real HTTP on loopback: the SSRF guard and every hostile answer."""

from __future__ import annotations

import re
import socket

import pytest

from worker.images import (
    FetchPolicy,
    GuardedResolver,
    ImageRejected,
    ImageUnavailable,
    UnsafeUrl,
    download_image,
    image_session,
)
from worker.offline.services import OfflineServices

LOCAL = FetchPolicy.from_allow_list("127.0.0.1", max_bytes=2 * 1024 * 1024, timeout_seconds=2)
DEFAULT = FetchPolicy()


async def test_default_policy_refuses_the_local_image_host(services: OfflineServices) -> None:
    async with image_session(DEFAULT) as session:
        with pytest.raises(UnsafeUrl, match=r"127\.0\.0\.1"):
            await download_image(session, f"{services.image_base_url}/static/a.jpg", DEFAULT)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.jpg",
        "http://localhost/x.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/x.jpg",
        "http://192.168.1.1/x.jpg",
        "http://[::1]/x.jpg",
        "http://[::ffff:127.0.0.1]/x.jpg",
        "http://0.0.0.0/x.jpg",
        "http://224.0.0.1/x.jpg",
        "file:///etc/passwd",
        "ftp://example.com/x.jpg",
        "gopher://example.com/",
        "http://user:pass@example.com/x.jpg",
        "javascript:alert(1)",
        "http://2130706433/x.jpg",
        "http://127.1/x.jpg",
        "http://0x7f.1/x.jpg",
        "http://0177.0.0.1/x.jpg",
        "http://[::1]:8080/x.jpg",
    ],
)
async def test_unsafe_urls_are_refused_before_any_connection(url: str) -> None:
    async with image_session(DEFAULT) as session:
        with pytest.raises(UnsafeUrl):
            await download_image(session, url, DEFAULT)


async def test_resolver_refuses_names_that_resolve_to_private_addresses() -> None:
    resolver = GuardedResolver(DEFAULT)
    try:
        with pytest.raises(UnsafeUrl, match=r"127\.0\.0\.1"):
            await resolver.resolve("localhost", 80, socket.AF_INET)
    finally:
        await resolver.close()


async def test_every_redirect_hop_is_checked(services: OfflineServices) -> None:
    async with image_session(LOCAL) as session:
        with pytest.raises(UnsafeUrl, match=r"169\.254\.169\.254"):
            await download_image(session, f"{services.image_base_url}/hostile/redirect-metadata", LOCAL)
        with pytest.raises(ImageRejected, match="redirecionamentos demais"):
            await download_image(session, f"{services.image_base_url}/hostile/redirect-loop", LOCAL)
        data = await download_image(session, f"{services.image_base_url}/hostile/redirect-ok", LOCAL)
        assert data.startswith(b"\xff\xd8")


async def test_size_cap_while_streaming(services: OfflineServices) -> None:
    async with image_session(LOCAL) as session:
        with pytest.raises(ImageRejected, match="grande demais"):
            await download_image(session, f"{services.image_base_url}/hostile/huge", LOCAL)
        with pytest.raises(ImageRejected, match="grande demais"):
            await download_image(session, f"{services.image_base_url}/hostile/huge-chunked", LOCAL)


async def test_timeout_and_http_errors_are_reasons_not_crashes(services: OfflineServices) -> None:
    services.image_host.slow_seconds = 5
    # Only the slow picture gets the short timeout (it is the session's): a busy machine may take
    # longer than 0.5 s to answer the others.
    hurried = FetchPolicy.from_allow_list("127.0.0.1", timeout_seconds=0.5)
    async with image_session(hurried) as session:
        # Faults that may pass: the job is retried later, the picture is not judged.
        with pytest.raises(ImageUnavailable, match="tempo esgotado"):
            await download_image(session, f"{services.image_base_url}/hostile/slow", hurried)
    policy = FetchPolicy.from_allow_list("127.0.0.1", timeout_seconds=10)
    async with image_session(policy) as session:
        with pytest.raises(ImageUnavailable, match="HTTP 503"):
            await download_image(session, f"{services.image_base_url}/hostile/unavailable", policy)
        with pytest.raises(ImageUnavailable, match="HTTP 429"):
            await download_image(session, f"{services.image_base_url}/hostile/throttled", policy)
        with pytest.raises(ImageUnavailable, match=r"ServerDisconnected|ClientPayloadError|ClientOSError"):
            await download_image(session, f"{services.image_base_url}/hostile/reset", policy)
        # A verdict on the picture itself.
        with pytest.raises(ImageRejected, match="HTTP 404"):
            await download_image(session, f"{services.image_base_url}/hostile/nope", policy)


@pytest.mark.parametrize(
    ("host", "shown"),
    [
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
    ],
)
async def test_legacy_numeric_hosts_get_a_clear_message(host: str, shown: str) -> None:
    async with image_session(DEFAULT) as session:
        with pytest.raises(UnsafeUrl, match=rf"não canônico \({re.escape(host)} = {re.escape(shown)}\)"):
            await download_image(session, f"http://{host}/x.jpg", DEFAULT)
