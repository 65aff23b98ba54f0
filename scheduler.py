"""The clock: APScheduler enqueues scheduled work; it never does the work itself."""

from __future__ import annotations

import logging

from apscheduler.schedulers.blocking import BlockingScheduler

from services.config import Settings


def build_scheduler(settings: Settings) -> BlockingScheduler:
    return BlockingScheduler(timezone="UTC")


def main() -> None:
    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level)
    build_scheduler(settings).start()


if __name__ == "__main__":
    main()
