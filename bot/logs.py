"""JSON log lines (one per delivery, one per job) with secrets redacted before anything is written."""
from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, Iterable

_PATTERNS = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
    re.compile(r"\bgh[opsur]_[A-Za-z0-9_]{20,}"),  # GitHub tokens: installation (ghs_), OAuth, PAT
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),  # JWTs
    re.compile(r"sha256=[0-9a-fA-F]{64}"),  # X-Hub-Signature-256
    re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9_.\-]{8,}"),
)
_known: set[str] = set()


def register_secrets(values: Iterable[str | None]) -> None:
    """Values (webhook secrets, keys, tokens) that must never reach a log line, even outside known shapes."""
    for value in values:
        if value:
            raw = value.reveal() if hasattr(value, "reveal") else value
            if len(raw) >= 6:
                _known.add(raw)


def redact(text: str) -> str:
    for value in _known:
        text = text.replace(value, "[REDACTED]")
    for pattern in _PATTERNS:
        text = pattern.sub("[REDACTED]", text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, default=str))


def configure(level: str = "INFO", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


def event(logger: logging.Logger, msg: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """One structured line: fields become top-level JSON keys."""
    logger.log(level, msg, extra={"fields": fields})
