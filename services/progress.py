"""How long-running service functions report progress: a job passes ``ctx.progress``."""

from __future__ import annotations

from typing import Any, Protocol


class Progress(Protocol):
    def __call__(
        self, *, current: int | None = ..., total: int | None = ..., message: str | None = ...
    ) -> None: ...


def no_progress(**_: Any) -> None:
    """For callers outside a job: progress goes nowhere."""
