"""Structured logs: events with fields (job_id, product_id, stage, outcome, ms), JSON off a TTY."""

from __future__ import annotations

import sys
import time

from loguru import logger


def elapsed_ms(started: float) -> int:
    """Milliseconds since a `time.monotonic()` reading, for the `ms` field of log events."""
    return round((time.monotonic() - started) * 1000)


def configure_logging(json_output: bool | None = None, level: str = "INFO") -> None:
    serialize = not sys.stderr.isatty() if json_output is None else json_output
    logger.remove()
    if serialize:
        logger.add(sys.stderr, level=level, serialize=True, backtrace=False, diagnose=False)
    else:
        logger.add(
            sys.stderr,
            level=level,
            backtrace=False,
            diagnose=False,  # never print local variables: they may hold secrets
            format="<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message} <dim>{extra}</dim>",
        )
