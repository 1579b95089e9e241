"""The audit of automatic approvals as the CLI shows it: measured precision per source and confidence
band (Wilson 95 % intervals, computed in SQL), a suggested threshold (never applied), and the audited
items exported as a labelled set `imagefill eval` reads."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

SOURCE_LABELS = {
    "openfoodfacts": "Open Food Facts",
    "search_api": "busca (API)",
    "browser": "busca (navegador)",
}
EXPORT_COLUMNS = (
    "ean",
    "name",
    "brand",
    "image",
    "correct",
    "source",
    "confidence",
    "approved_at",
    "audited_at",
    "approval_id",
)


@dataclass(frozen=True)
class PrecisionLine:
    source: str | None  # None: every source
    band: float | None  # None: every band
    audited: int
    correct: int
    precision: float
    wilson_low: float
    wilson_high: float

    @property
    def source_label(self) -> str:
        return "todas" if self.source is None else SOURCE_LABELS.get(self.source, self.source)

    @property
    def band_label(self) -> str:
        if self.band is None:
            return "todas"
        top = 1.0 if self.band >= 0.95 else self.band + 0.05
        return f"{decimal(self.band)}–{decimal(top)}"


@dataclass(frozen=True)
class ThresholdLine:
    threshold: float
    audited: int
    correct: int
    wilson_low: float
    target: float
    meets_target: bool


@dataclass(frozen=True)
class AuditSummary:
    lines: list[PrecisionLine]
    thresholds: list[ThresholdLine]

    def suggestion(self, configured: float | None = None) -> str:
        """The suggested threshold in words (pt-BR): the lowest band start whose audited approvals
        have a Wilson lower bound at or above the target. A suggestion only: nothing changes."""
        if not self.thresholds:
            return "Nenhuma aprovação automática auditada ainda: sem precisão medida nem limiar sugerido."
        now = f" (hoje IMAGE_CONFIDENCE_THRESHOLD = {decimal(configured)})" if configured is not None else ""
        target = percent(self.thresholds[0].target, digits=0)
        meeting = [t for t in self.thresholds if t.meets_target]
        if meeting:
            best = meeting[0]
            return (
                f"Limiar sugerido (não aplicado): com {decimal(best.threshold)} a precisão medida seria"
                f" ≥ {target} com {best.audited} auditadas (limite inferior de Wilson"
                f" {percent(best.wilson_low)}){now}."
            )
        top = max(self.thresholds, key=lambda t: t.wilson_low)
        return (
            f"Sem limiar sugerido: nenhuma faixa chega a {target} no limite inferior de Wilson"
            f" (melhor: a partir de {decimal(top.threshold)}, {percent(top.wilson_low)} com {top.audited}"
            f" auditadas){now}; audite mais itens."
        )


def decimal(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}".replace(".", ",")


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %".replace(".", ",")


async def audit_summary(conn: asyncpg.Connection) -> AuditSummary:
    precision = await conn.fetch("select * from public.image_audit_precision()")
    thresholds = await conn.fetch("select * from public.image_audit_threshold()")
    return AuditSummary(
        [
            PrecisionLine(
                r["source"],
                None if r["band"] is None else float(r["band"]),
                r["audited"],
                r["correct"],
                r["measured_precision"],
                r["wilson_low"],
                r["wilson_high"],
            )
            for r in precision
        ],
        [
            ThresholdLine(
                float(r["threshold"]),
                r["audited"],
                r["correct"],
                r["wilson_low"],
                r["target"],
                r["meets_target"],
            )
            for r in thresholds
        ],
    )


@dataclass(frozen=True)
class ExportResult:
    written: int
    correct: int
    without_picture: int  # audited before their original URL was recorded: cannot be judged again


async def audited_approvals(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch("select * from imagefill.audited_approvals()"))


def write_audit_labels(path: Path, rows: list[asyncpg.Record]) -> ExportResult:
    """Writes the audited approvals as `imagefill eval` labels: the picture the judge approved (its
    original URL) and whether a person found it right."""
    usable = [r for r in rows if r["original_url"]]
    lines: list[dict[str, Any]] = [
        {
            "ean": r["ean"] or "",
            "name": r["name"] or "",
            "brand": r["brand"] or "",
            "image": r["original_url"],
            "correct": "sim" if r["correct"] else "não",
            "source": r["source"],
            "confidence": f"{r['confidence']:.3f}",
            "approved_at": r["approved_at"].isoformat(),
            "audited_at": r["audited_at"].isoformat() if r["audited_at"] else "",
            "approval_id": r["approval_id"],
        }
        for r in usable
    ]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(
            "# Imagefill — aprovações automáticas auditadas,"
            f" exportadas em {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.\n"
            "# image = a foto que o juiz aprovou (URL original); correct = veredito da auditoria.\n"
        )
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        writer.writerows(lines)
    return ExportResult(len(lines), sum(1 for r in usable if r["correct"]), len(rows) - len(usable))
