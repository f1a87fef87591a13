"""What serve, worker, replay and dead-letters share: settings from the environment, logs, queue and worker."""
from __future__ import annotations

import functools
import sys

from bot import logs
from bot.queue import Queue
from bot.settings import Settings, SettingsError
from bot.store import QueueUrlError, open_store


class StartupError(Exception):
    """The environment cannot work; the message says what to fix."""


def load_settings() -> Settings:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise StartupError(str(exc)) from None
    logs.configure(settings.log_level, fmt=settings.log_format)
    logs.register_secrets([settings.github_webhook_secret, settings.github_private_key,
                           settings.gitlab_token, settings.gitlab_webhook_secret, settings.details_link_secret,
                           settings.details_link_key])
    return settings


def build(settings: Settings, *, with_worker: bool = True):
    """(queue, store, worker): the queue runs deliveries through the worker's handlers."""
    from bot.worker import Worker

    try:
        store = open_store(settings.queue_url)
        worker = Worker(settings, store=store) if with_worker else None
        queue = Queue(settings.queue_url, runner=worker)
    except QueueUrlError as exc:
        raise StartupError(str(exc)) from None
    if worker is not None:
        worker.repo_lease = functools.partial(queue.repo_lease, job="window.periodic")
        queue.on_every_five_minutes(worker.periodic)
        from bot.notify.deliver import install

        worker.jobs = queue
        install(queue, settings)  # announcements (SPEC §3 notify:) run as the queue's own jobs
        from bot import redeliver

        redeliver.install(queue, settings, store)  # failed GitHub deliveries asked again: at start, every 5 min
    return queue, store, worker


def fail(message: str) -> int:
    print(f"release-coordinator: {message}", file=sys.stderr)
    return 2
