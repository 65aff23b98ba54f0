"""Re-encrypt every stored secret under the newest key, safely.

Safe means: a dry run first (how many secrets, which processes hold which key ids), and no
secret re-encrypted until every running process reports that it holds the newest key
(services/presence.py); otherwise a process that has not been restarted yet could no longer
read what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, text

from models.db import db, tenant_scope
from models.environments import Environment
from models.support import NotificationChannel
from services import config, presence
from services.errors import Conflict
from services.presence import ProcessReport
from services.secrets import keyring

#: Every model column that holds ciphertext.
ENCRYPTED_COLUMNS = (
    (Environment, ("api_key_encrypted", "github_token_encrypted", "git_ssh_key_encrypted")),
    (NotificationChannel, ("secrets_encrypted",)),
)


@dataclass
class RotationPlan:
    """What a rotation would do: secrets not yet under the newest key, and who runs."""

    newest: str
    pending: int = 0
    processes: list[ProcessReport] = field(default_factory=list)

    @property
    def lacking(self) -> list[ProcessReport]:
        """Running processes that could not decrypt a secret under the newest key."""
        return [p for p in self.processes if self.newest not in p.key_ids]


def plan() -> RotationPlan:
    """Count what would change and ask the running processes for their key ids; no writes."""
    result = RotationPlan(newest=keyring().newest, processes=presence.running(config.current()))
    result.pending = _walk(apply=False)
    return result


def rotate_all() -> int:
    """Rotate each tenant's secrets in one transaction per tenant; returns how many changed.

    Refuses (Conflict) while a running process does not hold the newest key.
    """
    lacking = plan().lacking
    if lacking:
        names = ", ".join(p.name for p in lacking)
        raise Conflict(
            f"{len(lacking)} running process(es) do not hold key {keyring().newest!r} yet "
            f"({names}): restart them with the new ENCRYPTION_KEYS first.",
            code="rotation_unsafe",
        )
    return _walk(apply=True)


def _walk(*, apply: bool) -> int:
    ring = keyring()
    count = 0
    for tenant_id in db.scalars(text("SELECT all_tenant_ids()")).all():
        with tenant_scope(tenant_id):
            for model, columns in ENCRYPTED_COLUMNS:
                for row in db.scalars(select(model)):
                    for column in columns:
                        value = getattr(row, column)
                        if value and ring.needs_rotation(value):
                            if apply:
                                setattr(row, column, ring.rotate(value))
                            count += 1
            if apply:
                db.commit()
            else:
                db.rollback()
    return count
