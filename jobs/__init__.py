"""Background work: the job core (core.py), the broker, and one actor module per kind.

Nothing is imported here, so services can use ``jobs.core`` while the actor modules import
services without a loop. Processes that run or start jobs call ``load_actors()`` once.
"""

from __future__ import annotations

import importlib

#: Every module that declares actors (and so registers their job policies).
ACTOR_MODULES = ("jobs.diagnostics",)


def load_actors() -> None:
    for module in ACTOR_MODULES:
        importlib.import_module(module)
