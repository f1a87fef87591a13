"""The durable record of every accepted delivery (raw body, state, errors) and the counters behind /metrics.

One module per backend, the way huey keeps its storages: bot/journal/sqlite.py (the embedded default) and
bot/journal/redis.py (many web and worker machines); bot/journal/base.py holds the records and the protocol
both implement. Nothing here imports a backend module until open_journal picks it, and the backends import
only base, so there is no import cycle.
"""
from __future__ import annotations

from bot.journal.base import DONE_TTL_SECONDS, Claim, DeadLetter, Delivery, Journal, State
from bot.store import DEFAULT_NAMESPACE, backend_of, sqlite_synchronous

__all__ = ["DONE_TTL_SECONDS", "Claim", "DeadLetter", "Delivery", "Journal", "State", "SqliteJournal",
           "open_journal"]


def open_journal(url: str, *, namespace: str = DEFAULT_NAMESPACE) -> Journal:
    """SqliteJournal or RedisJournal, chosen by QUEUE_URL alone."""
    kind, target = backend_of(url)
    if kind == "sqlite":
        from bot.journal.sqlite import SqliteJournal

        return SqliteJournal(target, namespace=namespace, synchronous=sqlite_synchronous(url))
    from bot.journal.redis import RedisJournal

    return RedisJournal(target, namespace=namespace)


def __getattr__(name: str):
    # `from bot.journal import SqliteJournal` keeps working without importing sqlite3 for a Redis deployment.
    if name == "SqliteJournal":
        from bot.journal.sqlite import SqliteJournal

        return SqliteJournal
    if name == "RedisJournal":
        from bot.journal.redis import RedisJournal

        return RedisJournal
    raise AttributeError(f"module 'bot.journal' has no attribute {name!r}")
