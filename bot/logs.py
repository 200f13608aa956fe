"""Logging: one line per event, as text or JSON, with the case and the Slack request.

The case id and the Slack request id ride in context variables, set where a request comes
in and where a case is loaded, and copied into the threads that do the work. Known secrets
are redacted from every line, as a last line of defence: no code logs them on purpose.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from bot.domain.lifecycle import case_reference

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                       default=None)
case_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("case_id", default=None)
# When the request being worked arrived (set with request_id): what the outbox measures a
# person's wait from (storage.models.OutboxRow.requested_at).
request_at: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("request_at",
                                                                            default=None)


class ContextExecutor(ThreadPoolExecutor):
    """A pool whose jobs see the context variables of the thread that submitted them."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)


class _Context(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 8]

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.case_id = case_id.get()
        if self.secrets:
            message = record.getMessage()
            redacted = message
            for secret in self.secrets:
                redacted = redacted.replace(secret, "[redacted]")
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key in ("case_id", "request_id"):
            value = getattr(record, key, None)
            if value is not None:
                line[key] = case_reference(value) if key == "case_id" else value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = []
        case_id, request_id = getattr(record, "case_id", None), getattr(record, "request_id",
                                                                          None)
        if case_id is not None:
            extra.append(f"case={case_reference(case_id)}")
        if request_id:
            extra.append(f"request={request_id}")
        return f"{text} {' '.join(extra)}" if extra else text


def make_handler(*, json_lines: bool, secrets: Iterable[str],
                 stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.addFilter(_Context(secrets))
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    return handler


class _BoltTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when given a client, then warns
    that it won't use it; the client Amends gives it carries that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def configure(*, level: str, json_lines: bool, secrets: Iterable[str]) -> None:
    """Amends' own loggers at `level`; libraries (Alembic, Bolt, gunicorn, urllib3) only
    say warnings and errors, unless the level is DEBUG."""
    handler = make_handler(json_lines=json_lines, secrets=secrets)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level == "DEBUG" else max(logging.WARNING, _number(level)))
    logging.getLogger("amends").setLevel(level)
    bolt = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _BoltTokenNotice) for f in bolt.filters):
        bolt.addFilter(_BoltTokenNotice())


def _number(level: str) -> int:
    value = logging.getLevelName(level)
    return value if isinstance(value, int) else logging.INFO
