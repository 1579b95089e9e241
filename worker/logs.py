"""Structured logs: events with fields (job_id, product_id, stage, outcome, ms), JSON off a TTY.

Off a TTY each event is one flat JSON object, `{"time", "level", "event", ...fields}`: what a log
pipeline indexes, without loguru's serialized record (~1 KB a line, the message written twice,
file/line/process/thread blocks nobody reads).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Message


def elapsed_ms(started: float) -> int:
    """Milliseconds since a `time.monotonic()` reading, for the `ms` field of log events."""
    return round((time.monotonic() - started) * 1000)


def event_json(record: Any) -> str:
    """One line per event; the fields are the ones bound with `logger.bind(...)`."""
    event: dict[str, Any] = {
        "time": record["time"].isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "event": record["message"],
    }
    for key, value in record["extra"].items():
        event.setdefault(key, value)
    if record["exception"] is not None:
        exc_type, exc_value, _tb = record["exception"]
        event["exception"] = "".join(traceback.format_exception(exc_type, exc_value, _tb)).rstrip()
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str)


class JsonLineSink:
    """A loguru sink writing `event_json` lines to a stream (stderr by default)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def __call__(self, message: Message) -> None:
        stream = self._stream or sys.stderr
        stream.write(event_json(message.record) + "\n")
        stream.flush()


class _ToLoguru(logging.Handler):
    """Routes the standard `logging` records of libraries (asyncpg, asyncio, aiohttp) through
    loguru, so JSON mode stays one JSON object per line, tracebacks included."""

    def emit(self, record: logging.LogRecord) -> None:
        level: str | int
        try:
            level = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(exception=record.exc_info).bind(logger_name=record.name).log(level, record.getMessage())


def log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's exception handler: an unhandled task error becomes one structured event."""
    exc = context.get("exception")
    logger.opt(exception=exc if isinstance(exc, BaseException) else None).bind(
        detail=str(context.get("message", ""))
    ).error("asyncio_unhandled_error")


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    exc = args.exc_value if isinstance(args.exc_value, BaseException) else None
    logger.opt(exception=exc).bind(thread=getattr(args.thread, "name", None)).error("thread_unhandled_error")


def _log_uncaught_exception(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logger.opt(exception=(exc_type, exc, tb)).error("uncaught_error")


def configure_logging(json_output: bool | None = None, level: str = "INFO") -> None:
    as_json = not sys.stderr.isatty() if json_output is None else json_output
    logging.basicConfig(handlers=[_ToLoguru()], level=logging.WARNING, force=True)
    # Everything else Python prints on its own (warnings, an exception escaping a thread or the
    # process) goes through the same sink, so JSON mode never emits a raw traceback line.
    logging.captureWarnings(True)
    threading.excepthook = _log_thread_exception
    sys.excepthook = _log_uncaught_exception
    logger.remove()
    if as_json:
        # diagnose=False everywhere: never print local variables, they may hold secrets.
        logger.add(JsonLineSink(), level=level, backtrace=False, diagnose=False, catch=True)
    else:
        logger.add(
            sys.stderr,
            level=level,
            backtrace=False,
            diagnose=False,
            format="<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message} <dim>{extra}</dim>",
        )
