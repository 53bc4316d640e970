"""Logging set-up shared by every command: text or JSON lines, always redacted.

Core modules log with the standard :mod:`logging` module under the ``rackshop`` logger; this module
decides where it goes. Text output is rendered by :mod:`rackshop.console` (the only rich importer);
``--log-format json`` writes one JSON object per line to stderr, which is what log shippers and
``jq`` want. Every record passes :class:`RedactingFilter`, so a secret never reaches a handler.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from rackshop.redact import redact

LOGGER = "rackshop"

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class RedactingFilter(logging.Filter):
    """Masks registered secrets in the message and in every extra field of a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg`` and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)


def event(logger: logging.Logger, message: str, level: int = logging.INFO,
          **fields: Any) -> None:
    """Log a structured event: ``fields`` become JSON keys in ``--log-format json``."""
    logger.log(level, message, extra={k: _plain(v) for k, v in fields.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def setup_json_logging(level: int, stream: IO[str] | None = None,
                       file: Path | None = None) -> None:
    """Route the ``rackshop`` logger to JSON lines on ``stream`` (stderr) and ``file``."""
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if file:
        handlers.append(_file_handler(file))
    for h in handlers:
        h.setFormatter(JsonFormatter())
    _install(level, handlers)


def install_handlers(level: int, handlers: list[logging.Handler],
                     file: Path | None = None) -> None:
    """Route the ``rackshop`` logger to the given handlers (plus a plain-text log file)."""
    all_handlers = list(handlers)
    if file:
        fh = _file_handler(file)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        all_handlers.append(fh)
    _install(level, all_handlers)


def _file_handler(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    return logging.FileHandler(path, encoding="utf-8")


def _install(level: int, handlers: list[logging.Handler]) -> None:
    root = logging.getLogger(LOGGER)
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for h in handlers:
        h.addFilter(RedactingFilter())
        root.addHandler(h)
    root.setLevel(level)
    root.propagate = False
