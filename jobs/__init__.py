"""Background work: the job core (core.py), the broker, and one actor module per kind.

Nothing is imported here, so services can use ``jobs.core`` while the actor modules import
services without a loop. Processes that run or start jobs call ``load_actors()`` once.
"""

from __future__ import annotations

import importlib

#: Every module that declares actors (and so registers their job policies).
ACTOR_MODULES = (
    "jobs.diagnostics",
    "jobs.sync",
    "jobs.onboarding",
    "jobs.executions",
    "jobs.credentials",
    "jobs.heartbeat",
    "jobs.git",
    "jobs.canonical",
    "jobs.drift",
    "jobs.deployments",
)


def load_actors() -> None:
    """Import every actor module and bind its actors to the process's broker (set up first).

    A module imported earlier (a test, a script) may have declared its actors on another
    broker; they are moved to the current one.
    """
    import dramatiq

    from jobs.actor import DECLARED

    for module in ACTOR_MODULES:
        importlib.import_module(module)
    broker = dramatiq.get_broker()
    for actor in DECLARED:
        if actor.broker is not broker:
            actor.broker = broker
            broker.declare_actor(actor)
