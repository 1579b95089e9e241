"""Image download (SSRF-safe), validation and normalization, shared by every stage.

Download: http/https only, every redirect hop re-checked, hostnames resolved through a resolver
that refuses private/loopback/link-local/multicast/reserved addresses (so a DNS answer cannot
change between the check and the connection), size capped while streaming.
Validation: the bytes decide the type (Pillow), never the extension or Content-Type.
Normalization: EXIF orientation applied, metadata dropped, alpha flattened on white, longest
side capped, JPEG q85, plus a 256px thumbnail and a content hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from PIL import Image, ImageOps, UnidentifiedImageError

from worker.packshot import background_colour, transparent_cutout, trim_uniform_borders

T = TypeVar("T")
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
MAX_PIXELS = 40_000_000  # a 10 MB file may not expand beyond this (decompression bombs)
MAX_REDIRECTS = 5
THUMB_SIDE = 256
JUDGE_SIDE = 512  # the judge's copy (worker.stages.openai_judge.JUDGE_IMAGE_SIDE; a test keeps them equal)
JPEG_QUALITY = 85

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ImageRejected(Exception):
    """The candidate is not a usable image. The message says why, in Portuguese."""


class UnsafeUrl(ImageRejected):
    """The URL points somewhere we must not fetch from (SSRF guard)."""


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 10 * 1024 * 1024
    timeout_seconds: float = 15.0
    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IpNetwork, ...] = ()

    @classmethod
    def from_allow_list(cls, allow_list: str, **kwargs: Any) -> FetchPolicy:
        """`IMAGE_FETCH_ALLOW_HOSTS`: comma-separated host names, IPs or CIDRs."""
        hosts: set[str] = set()
        networks: list[IpNetwork] = []
        for item in (part.strip() for part in allow_list.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower())
        return cls(allow_hosts=frozenset(hosts), allow_networks=tuple(networks), **kwargs)

    def address_allowed(self, address: IpAddress) -> bool:
        if any(address in network for network in self.allow_networks):
            return True
        return address.is_global and not (address.is_multicast or address.is_reserved)


def _refuse_address(policy: FetchPolicy, host: str, address: str) -> None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not policy.address_allowed(ip):
        raise UnsafeUrl(f"endereço bloqueado: {host} aponta para {ip} (rede privada, local ou reservada)")


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp does, then refuses any answer that is not a public address."""

    def __init__(self, policy: FetchPolicy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if host.lower() not in self._policy.allow_hosts:
            for result in results:
                _refuse_address(self._policy, host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


def check_url(url: str, policy: FetchPolicy) -> str:
    """Static checks on one hop: scheme, host present, IP literals (the resolver skips those)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl(f"esquema não permitido: {parts.scheme or '(vazio)'}:// — só http e https")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise UnsafeUrl("URL sem host")
    if parts.username or parts.password:
        raise UnsafeUrl("URL com usuário/senha não é aceita")
    if host in policy.allow_hosts:
        return url
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            raise UnsafeUrl(f"endereço bloqueado: {host}") from None
        return url
    _refuse_address(policy, host, host)
    return url


def image_session(policy: FetchPolicy, connections: int = 20) -> aiohttp.ClientSession:
    """The session every candidate download goes through (one per process). `connections`: at
    least the worker's concurrency, or downloads would queue behind each other."""
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(policy), limit=max(connections, 1), ttl_dns_cache=60
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(
            total=policy.timeout_seconds, sock_connect=min(5.0, policy.timeout_seconds)
        ),
        headers={"Accept": "image/jpeg,image/png,image/webp;q=0.9,*/*;q=0.1"},
    )


async def download_image(session: aiohttp.ClientSession, url: str, policy: FetchPolicy) -> bytes:
    """Fetches `url` following at most MAX_REDIRECTS redirects, each hop checked again."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        check_url(current, policy)
        try:
            async with session.get(current, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise ImageRejected(f"redirecionamento sem destino ({response.status})")
                    current = urljoin(current, location)
                    continue
                if response.status != 200:
                    raise ImageRejected(f"download falhou: HTTP {response.status}")
                declared = response.content_length
                if declared is not None and declared > policy.max_bytes:
                    raise ImageRejected(f"imagem grande demais: {declared} bytes (limite {policy.max_bytes})")
                return await _read_capped(response, policy.max_bytes)
        except UnsafeUrl:
            raise
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.__cause__, UnsafeUrl):
                raise exc.__cause__ from None
            raise ImageRejected(f"não foi possível conectar: {exc.host}:{exc.port}") from None
        except TimeoutError:
            raise ImageRejected(f"tempo esgotado ao baixar ({policy.timeout_seconds:.0f}s)") from None
        except aiohttp.ClientError as exc:
            raise ImageRejected(f"erro de rede ao baixar: {type(exc).__name__}") from None
    raise ImageRejected(f"redirecionamentos demais (mais de {MAX_REDIRECTS})")


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    buffer = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        buffer.extend(chunk)
        if len(buffer) > max_bytes:
            raise ImageRejected(f"imagem grande demais: mais de {max_bytes} bytes")
    return bytes(buffer)


@dataclass(frozen=True)
class NormalizedImage:
    main_jpeg: bytes
    thumb_jpeg: bytes
    width: int
    height: int
    source_format: str
    content_hash: str  # sha256 of main_jpeg, hex
    background: tuple[int, int, int] | None = None  # a plain background's colour (cutout possible)
    judge_jpeg: bytes = b""  # at most JUDGE_SIDE px, made in the same pass for the judge


def _sniff_non_image(data: bytes) -> str | None:
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:2048].lower()):
        return "SVG não é aceito (só jpg, png ou webp)"
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "o endereço devolveu uma página HTML, não uma imagem"
    if not data:
        return "arquivo vazio"
    return None


def normalize_image(data: bytes, max_side: int = 1200) -> NormalizedImage:
    """Validates by content and returns the stored forms. Raises ImageRejected with the reason."""
    if reason := _sniff_non_image(data):
        raise ImageRejected(reason)
    try:
        with Image.open(BytesIO(data)) as probe:
            source_format = probe.format or "?"
            if source_format not in ALLOWED_FORMATS:
                raise ImageRejected(f"formato {source_format} não aceito (só jpg, png ou webp)")
            width, height = probe.size
            if width * height > MAX_PIXELS:
                raise ImageRejected(
                    f"imagem recusada: {width}x{height} pixels excede o limite"
                    " (possível bomba de descompressão)"
                )
            if getattr(probe, "n_frames", 1) > 1 and source_format == "WEBP":
                probe.seek(0)
            probe.load()
            image = ImageOps.exif_transpose(probe)
    except ImageRejected:
        raise
    except Image.DecompressionBombError:
        raise ImageRejected("imagem recusada: possível bomba de descompressão") from None
    except UnidentifiedImageError:
        raise ImageRejected("conteúdo não é uma imagem jpg, png ou webp reconhecível") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"imagem corrompida ou truncada ({exc})") from None

    rgb = _flatten_on_white(image)
    # Planogram framing: a plain border is trimmed so the package fills the picture.
    background = background_colour(rgb)
    if background is not None:
        rgb = trim_uniform_borders(rgb, background)
    rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    main = _jpeg(rgb)
    # Each smaller copy is resized from the previous one: cheaper than from the main image.
    judge_image = rgb.copy()
    judge_image.thumbnail((JUDGE_SIDE, JUDGE_SIDE), Image.Resampling.LANCZOS)
    thumb_image = judge_image.copy()
    thumb_image.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    return NormalizedImage(
        main_jpeg=main,
        thumb_jpeg=_jpeg(thumb_image),
        judge_jpeg=_jpeg(judge_image),
        width=rgb.width,
        height=rgb.height,
        source_format=ALLOWED_FORMATS[source_format],
        content_hash=hashlib.sha256(main).hexdigest(),
        background=background,
    )


def _flatten_on_white(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    out = BytesIO()
    # No exif/icc arguments: metadata (GPS, camera, comments) is dropped.
    image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue()


def default_image_threads() -> int:
    """One thread per core this process may use: Pillow releases the GIL while it decodes,
    resizes and encodes, so threads run in parallel without pickling megabytes to a process."""
    return max(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 1)


class ImagePool:
    """Runs `normalize_image` off the event loop, in a thread pool sized to the cores.

    The queue is bounded: at most `threads * 2` images are decoded or waiting in the pool; further
    callers wait on the loop (cheaply) instead of piling decoded bitmaps into memory. The loop
    itself only ever awaits a future, so the lease keeper and the listener's probe never wait
    behind a 12 MP photo.
    """

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or default_image_threads()
        self._slots = asyncio.Semaphore(self.threads * 2)
        self._executor: ThreadPoolExecutor | None = None

    async def __aenter__(self) -> ImagePool:
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="imagefill-image")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def normalize(self, data: bytes, max_side: int = 1200) -> NormalizedImage:
        return await self.run(normalize_image, data, max_side)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """Any other Pillow work (the transparent cutout, ...), under the same bound."""
        if self._executor is None:
            raise RuntimeError("ImagePool is not open (use `async with`)")
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, work, *args)


def cutout_png(image: NormalizedImage) -> bytes | None:
    """The stored picture with its plain background made transparent (`main.png`), when it has one."""
    if image.background is None:
        return None
    with Image.open(BytesIO(image.main_jpeg)) as opened:
        return transparent_cutout(opened.convert("RGB"), image.background)
