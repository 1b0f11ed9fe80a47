"""TACT_LOG_FORMAT=json: one JSON object a line, for log shippers (Loki, ELK, CloudWatch).

Formats what the redaction filter (campaigns/logs.py, on the same handlers) left: the message
and the traceback it masked, never the raw exception again.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", "process"} plus "task"/"task_id" inside a Celery
    task and "exception" when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        task = _current_task()
        if task is not None:
            out["task"], out["task_id"] = task.name, task.request.id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


def _current_task():
    """The Celery task running in this thread, if any (found as Celery's own TaskFormatter finds it)."""
    try:
        from celery._state import get_current_task
    except ImportError:  # pragma: no cover  celery is a dependency; a bare script may lack it
        return None
    task = get_current_task()
    return task if task is not None and task.request.id else None


def use_json_format(logger: logging.Logger) -> None:
    """Celery replaces the root logger's handlers with its own: give them the JSON format too
    (with TACT_LOG_FORMAT=json)."""
    from django.conf import settings

    if getattr(settings, "TACT_LOG_FORMAT", "plain") != "json":
        return
    for handler in logger.handlers:
        if not isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(JsonFormatter())
