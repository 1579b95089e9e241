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
