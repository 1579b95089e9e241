"""`imagefill off-index`: Open Food Facts' bulk export as a local lookup for Stage 1.

OFF allows ~15 product reads per minute per IP and asks bulk users to use its exports instead:
50,000 products through the API take days. This streams the JSONL export (one stored product
document per line, optionally gzipped) and keeps, for the catalogue's EANs only, what Stage 1
needs: the front-image URLs (full size, 400 px fallback), name, brand and quantity. The result is
a small SQLite file that Stage 1 reads before the live API; a miss goes to the API as before.

Export lines are OFF's stored documents: the URLs the API computes on read (`image_front_url`,
`selected_images`) may be missing, so the URL is built from `images["front_<lc>"].rev` with the
barcode-folder rule. Speed: a line's barcode is found with a regex on the raw text, and only the
lines of catalogue EANs are parsed as JSON (a 1M-line export is mostly other products).
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from worker.stages.openfoodfacts import (
    PREFERRED_LANGUAGE,
    OffImageCandidate,
    OffProduct,
    _OffProduct,
    select_front_candidates,
)

DEFAULT_IMAGES_BASE_URL = "https://images.openfoodfacts.org"
# What the API computes on read and the export's stored documents may lack.
API_COMPUTED_FIELDS = (
    "image_front_url",
    "image_url",
    "image_front_small_url",
    "image_small_url",
    "selected_images",
)
# Every "code" value on the line: the top-level one is among them (JSON key order is not fixed).
_CODE = re.compile(rb'"code"\s*:\s*"(\d{8,14})"')
_FRONT_KEY = re.compile(r"^front_([a-z]{2,3})$")

SCHEMA = """
create table if not exists off_front (
  gtin text primary key,       -- the catalogue's normalized GTIN (13-digit form for UPC-A)
  code text not null,          -- OFF's own code for the product
  name text, brands text, quantity text, lang text,
  candidates text not null     -- JSON: [[url, fallback_url, lang], ...], best first
);
create table if not exists off_meta (key text primary key, value text not null);
"""


def gtin_key(code: str) -> str:
    """OFF codes in the catalogue's normalized form (UPC-A as 13 digits, GTIN-14 with a leading
    zero as 13), so both sides meet on one spelling."""
    if len(code) == 12:
        return "0" + code
    if len(code) == 14 and code.startswith("0"):
        return code[1:]
    return code


def barcode_folders(code: str) -> list[str]:
    """The product's image folder: today's rule first (leading zeros stripped, padded to 13,
    split 3/3/3/rest), then the older one for short codes (the code unsplit), when it differs."""
    padded = code.lstrip("0").zfill(13)
    current = f"{padded[:3]}/{padded[3:6]}/{padded[6:9]}/{padded[9:]}"
    legacy = code if len(code) < 13 else f"{code[:3]}/{code[3:6]}/{code[6:9]}/{code[9:]}"
    return [current] if legacy == current else [current, legacy]


def candidates_from_document(doc: dict[str, Any], images_base_url: str) -> list[OffImageCandidate]:
    """Front images of one export document: the API's own URLs when the line has them,
    otherwise built from `images["front_<lc>"].rev` (Portuguese first, then the product's
    language, then the others)."""
    product = _OffProduct.model_validate(doc)
    if product.selected_images or product.image_front_url:
        found = select_front_candidates(product)
        if found:
            return found
    code = str(doc.get("code") or "")
    raw_images = doc.get("images")
    images: dict[str, Any] = raw_images if isinstance(raw_images, dict) else {}
    fronts: dict[str, str] = {}
    for key, value in images.items():
        match = _FRONT_KEY.match(key)
        if match and isinstance(value, dict) and value.get("rev") not in (None, ""):
            fronts[match.group(1)] = str(value["rev"])
    lang = product.lang or (doc.get("lc") if isinstance(doc.get("lc"), str) else None)
    base = images_base_url.rstrip("/")
    candidates = []
    for lc in sorted(fronts, key=lambda lc: (lc != PREFERRED_LANGUAGE, lc != lang, lc)):
        for folder in barcode_folders(code):
            stem = f"{base}/images/products/{folder}/front_{lc}.{fronts[lc]}"
            candidates.append(OffImageCandidate(f"{stem}.full.jpg", f"{stem}.400.jpg", lc))
    return candidates


def _open_export(path: Path) -> IO[bytes]:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb", buffering=1024 * 1024)


def _matching_lines(stream: IO[bytes], wanted: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for line in stream:
        keys = {gtin_key(m.decode()) for m in _CODE.findall(line)}
        if not keys & wanted:
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("code"), str):
            key = gtin_key(doc["code"].strip())
            if key in wanted:
                yield key, doc


@dataclass(frozen=True)
class IndexReport:
    lines: int
    matched: int
    with_front_image: int
    seconds: float

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


class _CountingReader:
    """Counts the lines the regex pre-filter saw (for the report), without a second pass."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.lines = 0

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self.lines += 1
            yield line


def build_index(
    export: Path, gtins: Iterable[str], out: Path, images_base_url: str = DEFAULT_IMAGES_BASE_URL
) -> IndexReport:
    """Streams `export` into a fresh SQLite lookup at `out` (replaced atomically when done)."""
    started = time.perf_counter()
    wanted = {gtin_key(g.strip()) for g in gtins if g and g.strip()}
    tmp = out.with_name(out.name + ".building")
    tmp.unlink(missing_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(tmp)
    matched = with_image = 0
    try:
        db.executescript(SCHEMA)
        with _open_export(export) as raw:
            reader = _CountingReader(raw)
            for key, doc in _matching_lines(reader, wanted):  # type: ignore[arg-type]
                matched += 1
                product = _OffProduct.model_validate(doc)
                candidates = candidates_from_document(doc, images_base_url)
                with_image += bool(candidates)
                db.execute(
                    "insert or replace into off_front values (?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        str(doc["code"]),
                        product.product_name_pt or product.product_name or product.generic_name,
                        product.brands,
                        product.quantity,
                        product.lang,
                        json.dumps([[c.url, c.fallback_url, c.lang] for c in candidates]),
                    ),
                )
        seconds = time.perf_counter() - started
        db.executemany(
            "insert or replace into off_meta values (?, ?)",
            [
                ("export", str(export)),
                ("built_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
                ("lines", str(reader.lines)),
                ("matched", str(matched)),
            ],
        )
        db.commit()
    finally:
        db.close()
    tmp.replace(out)
    return IndexReport(reader.lines, matched, with_image, seconds)


class OffExportIndex:
    """Read side, used by Stage 1. A lookup is one primary-key read in a local file (tens of
    microseconds), cheap enough for the event loop."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise FileNotFoundError(
                f"índice do Open Food Facts não encontrado: {path} (rode `imagefill off-index`)"
            )
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def close(self) -> None:
        self._db.close()

    def lookup(self, gtin: str) -> OffProduct | None:
        row = self._db.execute(
            "select code, name, brands, quantity, lang, candidates from off_front where gtin = ?",
            (gtin_key(gtin),),
        ).fetchone()
        if row is None:
            return None
        code, name, brands, quantity, lang, raw = row
        candidates = [OffImageCandidate(url, fallback, lc) for url, fallback, lc in json.loads(raw)]
        # Provenance: the product's page on Open Food Facts, as the API path records it.
        page = f"https://world.openfoodfacts.org/product/{code}"
        return OffProduct(code, name, brands, quantity, lang, candidates, page_url=page)
