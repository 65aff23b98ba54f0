"""The lease check an actor runs right before each external side effect (a write to n8n, a
push to Git): services take it as a plain ``Callable[[], None]`` that raises when this attempt
no longer owns its job.

The job core's own ``JobContext.ensure_lease`` (issue 9) is used where it exists; until then
the same check is a heartbeat under the attempt's fence (LeaseLost when another attempt took
the job over, JobCancelled when an operator asked it to stop).
"""

from __future__ import annotations

from collections.abc import Callable

from jobs import core
from jobs.actor import JobContext


def lease_check(ctx: JobContext) -> Callable[[], None]:
    """The context's lease check, as a callable for services."""
    ensure = getattr(ctx, "ensure_lease", None)
    if ensure is not None:
        return ensure

    def check() -> None:
        if core.heartbeat(ctx._claim, None):
            raise core.JobCancelled(str(ctx.job_id))

    return check
