"""Image download (SSRF-safe), validation and normalization, shared by every stage.

Download: http/https only, every redirect hop re-checked, hostnames resolved through a resolver
that refuses private/loopback/link-local/multicast/reserved addresses (so a DNS answer cannot
change between the check and the connection), size capped while streaming. The same policy and
resolver guard every other outbound call (`guarded_session`, used by the Open Food Facts client).
A fault that may pass (timeout, reset, 5xx, 429) is `ImageUnavailable` (the job retries later);
a picture that is really unusable is `ImageRejected`.
Validation: the bytes decide the type (Pillow), never the extension or Content-Type.
Decoding is bounded by pixels, not only by bytes: the size is read from the header first; a JPEG
is decoded at 1/2, 1/4 or 1/8 scale (`draft`) when that still covers the output; nothing above
MAX_DECODE_PIXELS is ever decoded, and large pictures take turns (LARGE_DECODE_SLOT, held for the
whole normalization), which is what keeps a worker under its documented memory ceiling.
Normalization: EXIF orientation applied, metadata dropped, alpha flattened on white, longest
side capped, JPEG q85, plus a 256px thumbnail, a content hash and the picture's perceptual hash
(`worker.picture_identity`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import ipaddress
import os
import socket
import tempfile
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from types import TracebackType
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from PIL import Image, ImageOps, UnidentifiedImageError

from worker.packshot import background_colour, transparent_cutout, trim_uniform_borders
from worker.picture_identity import picture_hash

T = TypeVar("T")
ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# A planogram shows at most IMAGE_MAX_SIDE (1200) px: a 12-megapixel source is already plenty.
# The bound is set by memory, not by taste: resizing an RGBA raster needs a premultiplied copy, so
# the heaviest legal picture costs ~2 x 4 bytes x MAX_DECODE_PIXELS (~100 MB) while it is worked on.
MAX_DECODE_PIXELS = 12_000_000  # never decoded beyond this: a 4000x3000 photo (RGBA: 48 MB)
# A JPEG may declare more: `draft` decodes it at 1/2..1/8 scale, and the scaled size must still
# fit MAX_DECODE_PIXELS. Anything declaring more than this is refused from its header alone.
MAX_DECLARED_PIXELS = 8192 * 8192
MIN_IMAGE_SIDE = 100  # smaller pictures are useless on a planogram (and 1x1 is a tracking pixel)
# Decodes above LARGE_DECODE_PIXELS (a 12 MP photo, a hostile PNG) take turns, one per process,
# whatever the thread pool's size: that bounds a worker's memory; ordinary pictures run in parallel.
LARGE_DECODE_PIXELS = 4_000_000
LARGE_DECODE_SLOT = threading.BoundedSemaphore(1)
# Pillow's own guard, aligned with ours (it warns above this and raises above twice this).
Image.MAX_IMAGE_PIXELS = MAX_DECLARED_PIXELS
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


class ImageUnavailable(Exception):
    """The picture could not be fetched right now (timeout, reset, 5xx, 429): retry the job later.
    The message says what happened, in Portuguese, and promises nothing."""


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
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            raise UnsafeUrl(f"endereço bloqueado: {host}") from None
        _refuse_legacy_numeric_host(host)
        return url
    _refuse_address(policy, host, host.strip("[]"))
    return url


def _refuse_legacy_numeric_host(host: str) -> None:
    """`2130706433`, `127.1`, `0x7f.1`, `0177.0.0.1`: forms that inet_aton (and so some HTTP stacks)
    read as an IPv4 address. They have no honest use in a picture URL: refuse them by name."""
    if not all(part and (part.isdigit() or part.startswith("0x")) for part in host.split(".")):
        return
    try:
        address = socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        raise UnsafeUrl(f"endereço numérico inválido: {host}") from None
    raise UnsafeUrl(
        f"endereço IP em formato numérico não canônico ({host} = {address}) não é aceito;"
        " use um nome ou um endereço público comum"
    )


def guarded_session(
    policy: FetchPolicy,
    *,
    timeout: aiohttp.ClientTimeout | None = None,
    headers: dict[str, str] | None = None,
    limit: int = 20,
) -> aiohttp.ClientSession:
    """A session whose every connection goes through the SSRF-safe resolver. Callers pass
    `allow_redirects=False` and check each hop with `check_url` (see `follow_redirects`)."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), limit=limit, ttl_dns_cache=60)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers)


def image_session(policy: FetchPolicy, connections: int = 20) -> aiohttp.ClientSession:
    """The session every candidate download goes through (one per process). `connections`: at
    least the worker's concurrency, or downloads would queue behind each other."""
    return guarded_session(
        policy,
        limit=max(connections, 1),
        timeout=aiohttp.ClientTimeout(
            total=policy.timeout_seconds, sock_connect=min(5.0, policy.timeout_seconds)
        ),
        headers={"Accept": "image/jpeg,image/png,image/webp;q=0.9,*/*;q=0.1"},
    )


def redirect_target(current: str, response: aiohttp.ClientResponse, policy: FetchPolicy) -> str | None:
    """The next hop of a redirect, already checked against the policy; None if not a redirect."""
    if response.status not in (301, 302, 303, 307, 308):
        return None
    location = response.headers.get("Location")
    if not location:
        raise ImageRejected(f"redirecionamento sem destino ({response.status})")
    return check_url(urljoin(current, location), policy)


async def download_image(session: aiohttp.ClientSession, url: str, policy: FetchPolicy) -> bytes:
    """Fetches `url` following at most MAX_REDIRECTS redirects, each hop checked again."""
    current = check_url(url, policy)
    host = urlsplit(url).hostname or "?"
    for _ in range(MAX_REDIRECTS + 1):
        try:
            async with session.get(current, allow_redirects=False) as response:
                if (target := redirect_target(current, response, policy)) is not None:
                    current = target
                    continue
                if response.status in (408, 425, 429) or response.status >= 500:
                    raise ImageUnavailable(
                        f"falha temporária ao baixar a imagem: HTTP {response.status} de {host}"
                    )
                if response.status != 200:
                    raise ImageRejected(f"download falhou: HTTP {response.status}")
                declared = response.content_length
                if declared is not None and declared > policy.max_bytes:
                    raise ImageRejected(f"imagem grande demais: {declared} bytes (limite {policy.max_bytes})")
                return await _read_capped(response, policy.max_bytes)
        except (ImageRejected, ImageUnavailable):
            raise
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.__cause__, UnsafeUrl):
                raise exc.__cause__ from None
            raise ImageUnavailable(
                f"não foi possível conectar a {exc.host}:{exc.port} para baixar a imagem"
            ) from None
        except TimeoutError:
            raise ImageUnavailable(
                f"tempo esgotado ao baixar a imagem de {host} ({policy.timeout_seconds:g} s)"
            ) from None
        except aiohttp.InvalidURL:
            raise ImageRejected("URL de imagem inválida") from None
        except aiohttp.ClientError as exc:
            raise ImageUnavailable(
                f"erro de rede ao baixar a imagem de {host}: {type(exc).__name__}"
            ) from None
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
    judge_jpeg: bytes = b""  # at most JUDGE_SIDE px, made in the same pass (only when asked for)
    # worker.picture_identity.picture_hash(judge_jpeg or main_jpeg): made in the pool, never on the loop
    picture_hash: str = ""


def _sniff_non_image(data: bytes) -> str | None:
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:2048].lower()):
        return "SVG não é aceito (só jpg, png ou webp)"
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "o endereço devolveu uma página HTML, não uma imagem"
    if not data:
        return "arquivo vazio"
    return None


def normalize_image(
    data: bytes, max_side: int = 1200, judge_side: int | None = JUDGE_SIDE
) -> NormalizedImage:
    """Validates by content and returns the stored forms. Raises ImageRejected with the reason.
    `judge_side`: also make the judge's copy (None when no judge is configured: nobody reads it)."""
    if reason := _sniff_non_image(data):
        raise ImageRejected(reason)
    # A large picture holds the process's one large slot for its whole normalization (decode,
    # trim, resize, encode), so two large rasters never coexist; ordinary ones run in parallel.
    slot = LARGE_DECODE_SLOT if _declared_pixels(data) > LARGE_DECODE_PIXELS else contextlib.nullcontext()
    with slot:
        return _normalize(data, max_side, judge_side)


def _normalize(data: bytes, max_side: int, judge_side: int | None) -> NormalizedImage:
    # Decoded (bounded) at up to twice the output size, so trimming a plain border keeps detail.
    rgb, source_format = _decode_bounded(data, draft_side=max_side, keep_side=max_side * 2)
    # Planogram framing: a plain border is trimmed so the package fills the picture.
    background = background_colour(rgb)
    if background is not None:
        rgb = trim_uniform_borders(rgb, background)
    rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    main = _jpeg(rgb)
    judge = b""
    if judge_side is not None and max(rgb.size) <= judge_side:
        judge = main  # already the judge's size: the judge sends it as it is
    elif judge_side is not None:
        # Transient, read by a model at 512 px: BICUBIC (half LANCZOS' cost) is as legible.
        judge = _jpeg(_fitted(rgb, judge_side, Image.Resampling.BICUBIC), stored=False)
    return NormalizedImage(
        main_jpeg=main,
        thumb_jpeg=_jpeg(_fitted(rgb, THUMB_SIDE)),  # the same with or without a judge
        judge_jpeg=judge,
        picture_hash=picture_hash(judge or main),
        width=rgb.width,
        height=rgb.height,
        source_format=ALLOWED_FORMATS[source_format],
        content_hash=hashlib.sha256(main).hexdigest(),
        background=background,
    )


def _fitted(
    image: Image.Image, side: int, resample: Image.Resampling = Image.Resampling.LANCZOS
) -> Image.Image:
    """A copy whose longest side is at most `side` (LANCZOS, as for the stored picture)."""
    copy = image.copy()
    copy.thumbnail((side, side), resample)
    return copy


def _declared_pixels(data: bytes) -> int:
    """Width x height from the header alone (0 when unreadable: the decode will say why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as probe:
                return int(probe.size[0] * probe.size[1])
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return 0


def _decode_bounded(data: bytes, *, draft_side: int, keep_side: int) -> tuple[Image.Image, str]:
    """Header first (size, format), refusal before any pixel is decoded; then the smallest decode
    that still covers `max_side`, shrunk at once so only one full-size raster ever exists."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(BytesIO(data))
        with probe:
            source_format = probe.format or "?"
            if source_format not in ALLOWED_FORMATS:
                raise ImageRejected(f"formato {source_format} não aceito (só jpg, png ou webp)")
            width, height = probe.size
            if min(width, height) < MIN_IMAGE_SIDE:
                raise ImageRejected(
                    f"imagem pequena demais: {width}x{height} pixels (mínimo {MIN_IMAGE_SIDE} no menor lado)"
                )
            if source_format == "JPEG":
                probe.draft(None, (draft_side, draft_side))  # decode at 1/2..1/8 scale when that suffices
            decoded = probe.size[0] * probe.size[1]
            if width * height > MAX_DECLARED_PIXELS or decoded > MAX_DECODE_PIXELS:
                raise ImageRejected(
                    f"imagem recusada: {width}x{height} pixels excede o limite de"
                    f" {MAX_DECODE_PIXELS // 1_000_000} megapixels (possível bomba de descompressão)"
                )
            if getattr(probe, "n_frames", 1) > 1:
                probe.seek(0)  # animated WEBP/PNG: the first frame only
            probe.load()
            probe.thumbnail((keep_side, keep_side), Image.Resampling.LANCZOS)
            image = ImageOps.exif_transpose(probe)
            return _flatten_on_white(image), source_format
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("imagem recusada: possível bomba de descompressão") from None
    except UnidentifiedImageError:
        raise ImageRejected("conteúdo não é uma imagem jpg, png ou webp reconhecível") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(f"imagem corrompida ou truncada ({str(exc)[:120]})") from None


def _flatten_on_white(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _jpeg(image: Image.Image, *, stored: bool = True) -> bytes:
    """A stored picture gets optimized Huffman tables (lossless, ~30-40% fewer bytes than plain for
    a packshot, +1 ms). Not progressive: on packshots that was no smaller (often larger) and took
    2.5x the CPU of the whole encode; only busy photos gained 5-7%. The judge's copy is transient
    (sent once to OpenAI, billed by pixels, not bytes): a plain baseline JPEG, the cheapest."""
    # Into a file descriptor, not a BytesIO: Pillow releases the GIL while it encodes into a file
    # (`encode_to_file`) but holds it for the whole encode into a buffer, stalling the event loop.
    with _scratch_file() as out:
        # No exif/icc arguments: metadata (GPS, camera, comments) is dropped.
        image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=stored)
        out.seek(0)
        return out.read()


def _scratch_file() -> BinaryIO:
    """An anonymous in-memory file (Linux memfd), or a temporary file elsewhere."""
    if hasattr(os, "memfd_create"):
        return open(os.memfd_create("imagefill-encode"), "w+b")
    return tempfile.TemporaryFile()


_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
EAGER_RELEASE_BYTES = 1024 * 1024


def release_large_buffers_eagerly() -> bool:
    """Makes glibc serve every allocation above 1 MB with its own mmap, returned to the system on
    free. By default glibc raises that threshold (up to 32 MB) after the first large free and keeps
    freed rasters in per-thread arenas: with a thread pool, a worker that decoded a few large
    pictures would then hold hundreds of MB it no longer uses. Returns False where the C library
    is not glibc (the call is skipped; nothing else changes)."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, EAGER_RELEASE_BYTES) and mallopt(_M_TRIM_THRESHOLD, EAGER_RELEASE_BYTES)
    )


def default_image_threads() -> int:
    """One thread per core this process may use, less one: Pillow releases the GIL while it
    decodes, resizes and encodes, so threads run in parallel without pickling megabytes to a
    process, and one core stays with the event loop (every job's HTTP and database work, the lease
    keeper, the listener). Measured on 2 cores, 500 jobs at concurrency 20 (bench/bench_e2e.py's
    stand-ins, 3 interleaved runs): one image thread 0.90 efficiency, two 0.87, and the loop's worst
    lag 25 ms against 33 ms."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(cores - 1, 1)


class ImagePool:
    """Runs `normalize_image` off the event loop, in a thread pool sized to the cores (less one).

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
        release_large_buffers_eagerly()
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="imagefill-image")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def normalize(
        self, data: bytes, max_side: int = 1200, judge_side: int | None = JUDGE_SIDE
    ) -> NormalizedImage:
        return await self.run(normalize_image, data, max_side, judge_side)

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
