"""Log lines with secrets redacted before anything is written: one JSON object per line (LOG_FORMAT=json, the
default: one per delivery, one per job, and every other line, gunicorn's included), or LOG_FORMAT=text for a
person reading a terminal."""
from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from typing import Any, Iterable

# (markers, pattern): a pattern runs only on text containing one of its markers, which keeps a clean line cheap.
_SHAPES = (
    (("PRIVATE KEY",), r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
    (("ghs_", "ghp_", "gho_", "ghu_", "ghr_"), r"gh[opsur]_[A-Za-z0-9_]{20,}"),  # installation, OAuth, PAT tokens
    (("github_pat_",), r"github_pat_[A-Za-z0-9_]{20,}"),
    (("glpat-",), r"glpat-[A-Za-z0-9_\-]{20,}"),
    (("eyJ",), r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),  # JWTs
    (("sha256=",), r"sha256=[0-9a-fA-F]{64}"),  # X-Hub-Signature-256
    (("bearer", "token"), r"(?i:\b(?:bearer|token)\s+[A-Za-z0-9_.\-]{8,})"),  # markers matched on lower case
)
_COMPILED = tuple((markers, re.compile(pattern, re.S)) for markers, pattern in _SHAPES)
_known: set[str] = set()
# Every shape's markers in lower case: a line containing none of them (in lower case) needs no pattern at all.
_ANY_MARKER = tuple({marker.lower() for markers, _ in _SHAPES for marker in markers})


def register_secrets(values: Iterable[str | None]) -> None:
    """Values (webhook secrets, keys, tokens) that must never reach a log line, even outside known shapes."""
    for value in values:
        if value:
            raw = value.reveal() if hasattr(value, "reveal") else value
            if len(raw) >= 6:
                _known.add(raw)
                _known.add(json.dumps(raw)[1:-1])  # as it appears inside a JSON line


def redact(text: str) -> str:
    hits = [secret for secret in _known if secret in text]
    if hits:
        for secret in sorted(hits, key=len, reverse=True):
            text = text.replace(secret, "[REDACTED]")
    lower = text.lower()
    if not any(marker in lower for marker in _ANY_MARKER):  # the usual clean line
        return text
    for markers, pattern in _COMPILED:
        if markers[0] == "bearer":
            lower = text.lower() if lower is None else lower
            haystack = lower
        else:
            haystack = text
        if any(marker in haystack for marker in markers):
            text = pattern.sub("[REDACTED]", text)
            lower = None
    return text


_ENCODER = json.JSONEncoder(default=str)  # json.dumps(..., default=str) without building an encoder per line
_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """ISO 8601 UTC with milliseconds; the part up to the second is formatted once per second."""
    global _second
    whole = int(created)
    if _second[0] != whole:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((created - whole) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return redact(_ENCODER.encode(line))


class TextFormatter(logging.Formatter):
    """`HH:MM:SS level logger: msg key=value ...`, for a terminal; the same fields and redaction as JSON."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={_text_value(value)}" for key, value in getattr(record, "fields", {}).items()
                          if value is not None)
        line = (time.strftime("%H:%M:%S", time.localtime(record.created)) +
                f" {record.levelname.lower():<7} {record.name}: {record.getMessage()}" + (f"  {fields}" if fields else ""))
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if (" " in text or not text) else text


FORMATS = ("json", "text")
_format = "json"


def formatter() -> logging.Formatter:
    """The formatter LOG_FORMAT chose (for handlers other libraries set up, such as gunicorn's)."""
    return TextFormatter() if _format == "text" else JsonFormatter()


def configure(level: str = "INFO", stream=None, *, fmt: str | None = None) -> None:
    global _format
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        _format = fmt
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.captureWarnings(True)  # a library's warning is a log line too, not a bare line on stderr
    # A crash is a log line too, not a bare traceback among JSON lines (the main thread's and any other thread's).
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback,
                                                      thread=getattr(args.thread, "name", None))
    # Our own lines cover each delivery and job; huey's per-task lines and werkzeug's access lines would
    # double them. Their warnings and errors still come through.
    for noisy in ("huey", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))


def _log_uncaught(exc_type, exc_value, traceback, thread: str | None = None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc_value, traceback)
        return
    event(logging.getLogger("bot"), "uncaught exception", level=logging.CRITICAL, thread=thread,
          exc_info=(exc_type, exc_value, traceback))


def event(logger: logging.Logger, msg: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """One structured line: fields become top-level JSON keys."""
    exc_info = fields.pop("exc_info", None)
    logger.log(level, msg, extra={"fields": fields}, exc_info=exc_info)
