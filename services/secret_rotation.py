"""Re-encrypt every stored secret under the newest key (run after adding a key)."""

from __future__ import annotations

from sqlalchemy import select, text

from models.db import db, tenant_scope
from models.environments import Environment
from models.support import NotificationChannel
from services.secrets import keyring

#: Every model column that holds ciphertext.
ENCRYPTED_COLUMNS = (
    (Environment, ("api_key_encrypted", "github_token_encrypted", "git_ssh_key_encrypted")),
    (NotificationChannel, ("secrets_encrypted",)),
)


def rotate_all() -> int:
    """Rotate each tenant's secrets in one transaction per tenant; returns how many changed."""
    ring = keyring()
    rotated = 0
    for tenant_id in db.scalars(text("SELECT all_tenant_ids()")).all():
        with tenant_scope(tenant_id):
            for model, columns in ENCRYPTED_COLUMNS:
                for row in db.scalars(select(model)):
                    for column in columns:
                        value = getattr(row, column)
                        if value and ring.needs_rotation(value):
                            setattr(row, column, ring.rotate(value))
                            rotated += 1
            db.commit()
    return rotated
