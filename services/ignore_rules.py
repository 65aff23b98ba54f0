"""A tenant's ignore rules: JSONPath queries (services/workflow_ignore.py) naming parts of every
workflow that drift, promotions, the matrix and auto-linking leave out, like Argo CD's
ignoreDifferences. Every stored digest is computed after them, so a change starts a
``workflow_rehash`` job that recomputes the tenant's digests (services/runtime_digest.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select

from jobs import core as jobs
from models.db import db
from models.jobs import BackgroundJob
from models.workflows import WorkflowIgnoreRule
from services import audit
from services.errors import Conflict, InvalidInput
from services.rows import flush_unique, get_or_404, unchanged
from services.workflow_ignore import MAX_RULES, validate_ignore_rules


def rules() -> tuple[str, ...]:
    """The current tenant's rules, oldest first: what every digest applies."""
    return tuple(
        db.scalars(
            select(WorkflowIgnoreRule.rule).order_by(
                WorkflowIgnoreRule.created_at, WorkflowIgnoreRule.id
            )
        )
    )


def list_query() -> Select:
    return select(WorkflowIgnoreRule).order_by(WorkflowIgnoreRule.created_at, WorkflowIgnoreRule.id)


def get(rule_id: uuid.UUID) -> WorkflowIgnoreRule:
    return get_or_404(WorkflowIgnoreRule, rule_id, "No such ignore rule.")


def create(
    *, rule: str, description: str | None = None, user_id: uuid.UUID | None = None
) -> WorkflowIgnoreRule:
    """Add a rule (validated; at most MAX_RULES) and start recomputing digests."""
    _validate(rule)
    if db.scalar(select(func.count()).select_from(WorkflowIgnoreRule)) >= MAX_RULES:
        raise InvalidInput(
            f"A tenant keeps at most {MAX_RULES} ignore rules.", code="too_many_rules"
        )
    row = WorkflowIgnoreRule(rule=rule, description=description, created_by=user_id)
    db.add(row)
    flush_unique("This rule exists already.")
    audit.record(
        "ignore_rule.create",
        resource_type="workflow_ignore_rule",
        resource_id=row.id,
        new={"rule": rule, "description": description},
    )
    return _changed(row, user_id)


def update(
    rule_id: uuid.UUID, *, user_id: uuid.UUID | None = None, **fields: str | None
) -> WorkflowIgnoreRule:
    """Change a rule's query or description; a new query recomputes digests."""
    row = get(rule_id)
    before = {"rule": row.rule, "description": row.description}
    if "rule" in fields:
        _validate(fields["rule"])
    for name, value in fields.items():
        setattr(row, name, value)
    if unchanged(row):
        row.rehash_job = None
        return row
    flush_unique("This rule exists already.")
    audit.record(
        "ignore_rule.update",
        resource_type="workflow_ignore_rule",
        resource_id=row.id,
        old=before,
        new={"rule": row.rule, "description": row.description},
    )
    if row.rule == before["rule"]:
        db.commit()
        row.rehash_job = None
        return row
    return _changed(row, user_id)


def delete(rule_id: uuid.UUID, *, user_id: uuid.UUID | None = None) -> BackgroundJob:
    """Remove a rule; returns the job recomputing digests."""
    row = get(rule_id)
    audit.record(
        "ignore_rule.delete",
        resource_type="workflow_ignore_rule",
        resource_id=row.id,
        old={"rule": row.rule, "description": row.description},
    )
    db.delete(row)
    job = start_rehash(user_id)
    db.commit()
    return job


def start_rehash(user_id: uuid.UUID | None) -> BackgroundJob:
    """Queue a recomputation of every digest of the tenant (after its rules or credential
    mappings changed). Runs take turns (a lock inside the job), and each reads the rules and
    mappings when it starts, so the last one leaves every digest under the latest ones."""
    job = jobs.start("workflow_rehash", resource_type="tenant", user_id=user_id)
    if job is None:
        raise Conflict("The recomputation could not be queued; try again.", code="job_conflict")
    return job


def _changed(row: WorkflowIgnoreRule, user_id: uuid.UUID | None) -> WorkflowIgnoreRule:
    row.rehash_job = start_rehash(user_id)
    db.commit()
    return row


def _validate(rule: str | None) -> None:
    problems = validate_ignore_rules([rule])
    if problems:
        # The single rule is "rule 1" to the validator; the caller knows which one it sent.
        raise InvalidInput(problems[0].replace("rule 1 ", "the rule ", 1), code="invalid_rule")
