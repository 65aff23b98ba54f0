"""The data model: importing this package registers every table on ``Base.metadata``."""

from models import tenancy  # noqa: I001  (first: the other modules point at tenants and users)
from models import (
    audit,
    billing,
    configuration,
    credentials,
    drift,
    environments,
    executions,
    jobs,
    promotions,
    snapshots,
    support,
    workflows,
)
from models.base import Base

__all__ = [
    "Base",
    "audit",
    "billing",
    "configuration",
    "credentials",
    "drift",
    "environments",
    "executions",
    "jobs",
    "promotions",
    "snapshots",
    "support",
    "tenancy",
    "workflows",
]
