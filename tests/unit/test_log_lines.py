"""Logs off a TTY: one flat JSON object per event, the bound fields at the top level."""

from __future__ import annotations

import io
import json

from loguru import logger

from worker.logs import JsonLineSink


def test_one_flat_json_object_per_event_with_its_fields() -> None:
    stream = io.StringIO()
    sink_id = logger.add(JsonLineSink(stream), level="INFO", diagnose=False)
    try:
        logger.bind(job_id="j-1", product_id="p-9", outcome="ok", ms=12).info("job_done")
        try:
            raise ValueError("quebrou")
        except ValueError:
            logger.bind(job_id="j-2").exception("job_crashed")
    finally:
        logger.remove(sink_id)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert set(first) == {"time", "level", "event", "job_id", "product_id", "outcome", "ms"}
    assert first["event"] == "job_done" and first["level"] == "INFO" and first["ms"] == 12
    assert "T" in first["time"]
    crashed = json.loads(lines[1])
    assert crashed["event"] == "job_crashed" and "ValueError: quebrou" in crashed["exception"]
    # A fraction of loguru's serialized record, which repeats the message and adds file/process blocks.
    assert len(lines[0]) < 200


def test_a_field_cannot_overwrite_the_event_or_level() -> None:
    stream = io.StringIO()
    sink_id = logger.add(JsonLineSink(stream), level="INFO")
    try:
        logger.bind(event="forjado", level="DEBUG", when=object()).warning("real")
    finally:
        logger.remove(sink_id)
    line = json.loads(stream.getvalue())
    assert line["event"] == "real" and line["level"] == "WARNING"
    assert line["when"].startswith("<object object")


def test_warnings_and_thread_errors_stay_json_lines() -> None:
    """A warning or an exception escaping a thread would print a raw traceback to stderr."""
    import subprocess
    import sys

    script = (
        "import threading, warnings\n"
        "from worker.logs import configure_logging\n"
        "configure_logging(json_output=True)\n"
        "warnings.warn('a library warning', ResourceWarning, stacklevel=1)\n"
        "def boom():\n"
        "    raise RuntimeError('thread failed')\n"
        "t = threading.Thread(target=boom); t.start(); t.join()\n"
        "raise ValueError('escaped the process')\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", script], capture_output=True, text=True, check=False
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    events = [json.loads(line)["event"] for line in lines]  # raises on any non-JSON line
    assert "thread_unhandled_error" in events and "uncaught_error" in events
    assert any("a library warning" in line for line in lines)
    assert result.returncode == 1
