"""The deploy writer: one workflow file into one environment, as n8n-api.md ("Writing a
workflow into an environment") and DOMAIN.md say. Restore, revert, keep-hotfix and promotions
all write through it.

    with environments.n8n_session(env) as client:
        writer = deploy.EnvironmentWriter(env, client, lease=ctx_lease)
        outcome = writer.write(file)               # DeployOutcome
        ...
        writer.finish()                            # digests of rows whose references moved

For each file: the environment's linked workflow is updated in place (PUT, same n8n id, so
webhook URLs survive); only when there is none (or n8n no longer has it) is one created
(POST), and the new id is recorded at once. The body is ``workflow_file.to_n8n`` with the
target's current copy as base (its node ids, webhookIds and staticData kept; never pinData),
credentials resolved by (type, name) or a logical mapping, workflow references through the
environment's links; unresolved references refuse the write (DeployRefused, 409) unless the
caller allows them, and so do tag names n8n refuses. Then tags by name (missing ones created),
then activate or deactivate as asked, then a read-back compared with what was sent (exact
digest). The lease check runs before each write to n8n. The outcome is recorded in
workflow_env_map (linked, runtime digest, aligned digest, cached definition) on a short
transaction of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Integer,
    Text,
    Uuid,
    bindparam,
    case,
    column,
    func,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from jobs.core import tenant_connection
from models.db import db
from models.environments import Environment
from models.workflows import WorkflowEnvMap
from services import env_links, ignore_rules, runtime_digest
from services.bulk import json_page
from services.errors import Conflict
from services.n8n import N8nBadRequest, N8nClient, N8nConflict, N8nNotFound
from services.sync import MAX_CACHED_BYTES
from services.workflow_digest import exact_digest, tag_names
from services.workflow_file import WorkflowFile, to_n8n

LeaseCheck = Callable[[], None]
#: n8n refuses a tag name out of 1-24 characters (409 "Tag already exists", measured on 1.123).
TAG_NAME_MAX = 24


class DeployRefused(Conflict):
    """References the target cannot resolve (or tag names it refuses); nothing was written."""

    code = "unresolved_references"


@dataclass(frozen=True)
class DeployOutcome:
    """What one write did."""

    canonical_id: str | None
    n8n_id: str
    #: created or updated.
    action: str
    active: bool
    #: The read-back equals what was sent (exact digest over the fields sent).
    verified: bool
    #: Runtime digest of the read-back copy in this environment.
    digest: str
    #: Digest of the file in this environment: the runtime copy is aligned with it.
    approved_digest: str
    #: Unresolved references, a refused activation, a read-back that differs.
    problems: tuple[dict[str, Any], ...] = ()
    workflow: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "canonical_id": self.canonical_id,
            "n8n_id": self.n8n_id,
            "action": self.action,
            "active": self.active,
            "verified": self.verified,
            "digest": self.digest,
            "approved_digest": self.approved_digest,
            "problems": list(self.problems),
        }


class EnvironmentWriter:
    """Writes files into one environment; reuse one for a batch (links, credentials, tags and
    ignore rules are read once, or given by a caller that just read them)."""

    def __init__(
        self,
        env: Environment,
        client: N8nClient,
        *,
        lease: LeaseCheck | None = None,
        links: env_links.EnvLinks | None = None,
        credentials: env_links.CredentialResolver | None = None,
        rules: tuple[str, ...] | None = None,
        defer_records: bool = False,
    ) -> None:
        self.env = env
        #: Record each outcome at ``finish`` (one transaction for the batch) instead of at
        #: once; a creation's link is recorded at once either way.
        self._defer = defer_records
        self._deferred: list[tuple[tuple, dict[str, Any]]] = []
        self._created: set[str] = set()
        self.client = client
        self._lease = lease or (lambda: None)
        self.links = links if links is not None else env_links.links_for(env.id)
        self.credentials = credentials or env_links.credentials_for(env.id)
        self._rules = rules if rules is not None else ignore_rules.rules()
        self._tags: dict[str, str] | None = None
        self._links_moved = False

    def context(self) -> runtime_digest.DigestContext:
        return runtime_digest.context_for(
            self.env.id, links=self.links, credentials=self.credentials, rules=self._rules
        )

    def write(
        self,
        file: WorkflowFile,
        *,
        n8n_id: str | None = None,
        link: bool = True,
        active: bool | None = None,
        allow_unresolved: bool = False,
        current: Mapping[str, Any] | None = None,
    ) -> DeployOutcome:
        """Write ``file`` into the environment.

        ``link``: the written workflow is this environment's copy of ``file.canonical_id``
        (updated in place when linked, recorded as linked). ``n8n_id``: update that workflow
        instead (a snapshot of a workflow without canonical id, with ``link=False``).
        ``active``: the state to leave it in (default: the file's). ``current``: the target's
        copy as the caller just read it (a snapshot), saving the read."""
        existing = n8n_id or (self.links.n8n_id_for(file.canonical_id) if link else None)
        base = None
        if existing:
            fresh = current is not None and str(current.get("id")) == existing
            base = current if fresh else self._current(existing)
        body, unresolved = to_n8n(
            file,
            resolve_workflow=self.links.n8n_id_for,
            resolve_credential=self.credentials.resolve,
            base=base,
        )
        refused = [tag for tag in file.tags if not 0 < len(tag) <= TAG_NAME_MAX]
        if refused:
            raise DeployRefused(
                f"n8n takes tag names of 1 to {TAG_NAME_MAX} characters; {file.name!r} has "
                f"{len(refused)} other(s); nothing was written.",
                code="invalid_tag_names",
                tags=refused,
            )
        problems = [u.as_dict() for u in unresolved]
        if problems and not allow_unresolved:
            raise DeployRefused(
                f"{len(problems)} reference(s) of {file.name!r} cannot be resolved in "
                f"{self.env.name}; nothing was written.",
                problems=problems,
            )
        self._lease()
        if base is not None:
            stored = self.client.update_workflow(str(base["id"]), body)
            action = "updated"
        else:
            stored = self.client.create_workflow(body)
            action = "created"
        workflow_id = str(stored["id"])
        if action == "created" and link:
            # Recorded at once: a retry after a crash updates this one instead of a twin.
            self._record(workflow_id, stored, file, link=True, digest=None, approved=None)
            self.links = self.links.with_link(workflow_id, file.canonical_id)
            self._created.add(workflow_id)
            self._links_moved = True
        moved = self._set_tags(workflow_id, list(file.tags), tag_names(base or {}))
        want_active = file.active if active is None else active
        is_active = bool(base and base.get("active"))
        if want_active != is_active:
            moved = True
            is_active, refused = self._activate(workflow_id, want_active)
            if refused:
                problems.append(refused)
        # n8n answers an update with the stored workflow: that is the read-back unless tags
        # or the active state changed after it.
        read = (
            stored if action == "updated" and not moved else self.client.get_workflow(workflow_id)
        )
        verified = _verified(read, body)
        if not verified:
            problems.append(
                {"kind": "verification", "message": "n8n stored something else than was sent"}
            )
        ctx = self.context()
        outcome = DeployOutcome(
            file.canonical_id if link else None,
            workflow_id,
            action,
            bool(read.get("active", is_active)),
            verified,
            ctx.runtime(read),
            ctx.file(file),
            tuple(problems),
            read,
        )
        record = (workflow_id, read, file)
        options = {"link": link, "digest": outcome.digest, "approved": outcome.approved_digest}
        if self._defer:
            self._deferred.append((record, options))
        else:
            self._record(*record, **options)
        return outcome

    def record_deferred(self, conn: Connection) -> None:
        """The deferred records so far, in ``conn``'s transaction (a caller's own records of
        the batch commit with them)."""
        if self._deferred:
            self._record_many(conn, self._deferred)
            self._deferred = []

    def finish(self) -> None:
        """After a batch: the deferred records left (one transaction); when it created
        workflows, the digests of the environment's rows that reference other workflows
        (their links moved); commits."""
        if self._deferred:
            with tenant_connection(self.env.tenant_id) as conn:
                self.record_deferred(conn)
        if self._links_moved:
            runtime_digest.recompute_environment(self.env.id, ctx=self.context())
            db.commit()
            self._links_moved = False

    # --- steps ------------------------------------------------------------------------------

    def _linked_elsewhere(self, canonical: uuid.UUID, workflow_id: str) -> bool:
        """Whether another workflow here may still hold the canonical id (the links read at
        the start, or one gone from n8n since): an update in place of the linked copy is not."""
        return self.links.n8n_id_for(canonical) != workflow_id or workflow_id in self._created

    def _current(self, workflow_id: str) -> dict[str, Any] | None:
        try:
            return self.client.get_workflow(workflow_id)
        except N8nNotFound:
            return None

    def _set_tags(self, workflow_id: str, wanted: list[str], current: list[str]) -> bool:
        if sorted(set(wanted)) == sorted(current):
            return False
        ids = [self._tag_id(name) for name in sorted(set(wanted))]
        self._lease()
        self.client.set_workflow_tags(workflow_id, ids)
        return True

    def _tag_id(self, name: str) -> str:
        if self._tags is None:
            self._tags = {t["name"]: str(t["id"]) for t in self.client.list_tags()}
        if name not in self._tags:
            self._lease()
            try:
                self._tags[name] = str(self.client.create_tag(name)["id"])
            except N8nConflict:  # created meanwhile by someone else
                self._tags = {t["name"]: str(t["id"]) for t in self.client.list_tags()}
        return self._tags[name]

    def _activate(self, workflow_id: str, active: bool) -> tuple[bool, dict[str, Any] | None]:
        self._lease()
        try:
            if active:
                self.client.activate_workflow(workflow_id)
            else:
                self.client.deactivate_workflow(workflow_id)
        except N8nBadRequest as error:
            return not active, {
                "kind": "activation",
                "message": f"n8n refused to {'activate' if active else 'deactivate'} it: "
                f"{error.n8n_message or error}",
            }
        return active, None

    def _values(self, workflow_id: str, workflow: Mapping[str, Any], digest: str | None) -> dict:
        """A workflow_env_map row's values for what n8n stored."""
        size = len(orjson.dumps(workflow))
        return {
            "environment_id": self.env.id,
            "n8n_workflow_id": workflow_id,
            "workflow_name": workflow.get("name"),
            "workflow_data": dict(workflow) if size <= MAX_CACHED_BYTES else None,
            "workflow_data_bytes": size,
            "env_content_hash": digest,
            "n8n_updated_at": workflow.get("updatedAt"),
            "is_active": bool(workflow.get("active")),
            "is_archived": bool(workflow.get("isArchived")),
            "tags": tag_names(workflow),
            "missing_since": None,
        }

    def _record_many(self, conn: Connection, deferred: list[tuple[tuple, dict[str, Any]]]) -> None:
        """Deferred records: updates in place of linked copies in one statement, the rest
        one by one."""
        rows = []
        for (workflow_id, workflow, file), options in deferred:
            canonical = uuid.UUID(file.canonical_id)
            if options["link"] and not self._linked_elsewhere(canonical, workflow_id):
                values = self._values(workflow_id, workflow, options["digest"])
                rows.append(
                    {name: values[name] for name in _LINKED_COLUMNS if name in values}
                    | {"canonical_id": file.canonical_id, "git_content_hash": options["approved"]}
                )
            else:
                self._record(workflow_id, workflow, file, conn=conn, **options)
        if rows:
            params = {"tenant_id": self.env.tenant_id, "environment_id": self.env.id}
            conn.execute(_UPSERT_LINKED, params | {"rows": rows})

    def _record(
        self,
        workflow_id: str,
        workflow: Mapping[str, Any],
        file: WorkflowFile,
        *,
        link: bool,
        digest: str | None,
        approved: str | None,
        conn: Connection | None = None,
    ) -> None:
        if conn is None:
            with tenant_connection(self.env.tenant_id) as own:
                self._record(
                    workflow_id,
                    workflow,
                    file,
                    link=link,
                    digest=digest,
                    approved=approved,
                    conn=own,
                )
            return
        values = self._values(workflow_id, workflow, digest)
        table = WorkflowEnvMap.__table__
        canonical = uuid.UUID(file.canonical_id) if link else None
        if link:
            values.update(canonical_id=canonical, status="linked", git_content_hash=approved)
        insert = pg_insert(WorkflowEnvMap).values(tenant_id=self.env.tenant_id, **values)
        updated = {k: insert.excluded[k] for k in values if k != "environment_id"}
        if digest is None:  # the first record of a creation: keep what a later one sets
            updated.pop("env_content_hash")
        if not link:
            updated["status"] = case(
                (table.c.status == "ignored", table.c.status),
                (table.c.canonical_id.is_not(None), "linked"),
                else_="untracked",
            )
        if link and self._linked_elsewhere(canonical, workflow_id):
            # The canonical workflow's previous copy here (gone from n8n) lets go of it.
            conn.execute(
                update(WorkflowEnvMap)
                .where(
                    WorkflowEnvMap.environment_id == self.env.id,
                    WorkflowEnvMap.canonical_id == canonical,
                    WorkflowEnvMap.n8n_workflow_id != workflow_id,
                )
                .values(
                    canonical_id=None,
                    git_content_hash=None,
                    status=case(
                        (WorkflowEnvMap.status == "linked", "untracked"),
                        else_=WorkflowEnvMap.status,
                    ),
                    updated_at=func.now(),
                )
            )
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=["tenant_id", "environment_id", "n8n_workflow_id"],
                set_={**updated, "updated_at": func.now()},
            )
        )


#: The deferred records of linked copies updated in place, as one JSON page.
_LINKED = json_page(
    column("n8n_workflow_id", Text),
    column("workflow_name", Text),
    column("workflow_data", JSONB),
    column("workflow_data_bytes", Integer),
    column("env_content_hash", Text),
    column("n8n_updated_at", DateTime(timezone=True)),
    column("is_active", Boolean),
    column("is_archived", Boolean),
    column("tags", JSONB),
    column("canonical_id", Uuid),
    column("git_content_hash", Text),
)
_LINKED_COLUMNS = [c.name for c in _LINKED.c]


def _upsert_linked():
    source = select(
        bindparam("tenant_id"),
        bindparam("environment_id"),
        *_LINKED.c,
        literal("linked"),
        null(),
    ).select_from(_LINKED)
    columns = ["tenant_id", "environment_id", *_LINKED_COLUMNS, "status", "missing_since"]
    # Python-side defaults (a uuid4 for id) would be one value for every row.
    insert = pg_insert(WorkflowEnvMap).from_select(columns, source, include_defaults=False)
    return insert.on_conflict_do_update(
        index_elements=["tenant_id", "environment_id", "n8n_workflow_id"],
        set_={name: insert.excluded[name] for name in columns[3:]} | {"updated_at": func.now()},
    )


_UPSERT_LINKED = _upsert_linked()


def _verified(read: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    """Whether n8n stored what was sent: the read-back, cut to the fields and settings sent
    (n8n adds defaults such as ``callerPolicy`` and fills node ids), digests exactly like it."""
    by_name = {n.get("name"): n for n in read.get("nodes") or [] if isinstance(n, Mapping)}
    nodes = []
    for node in sent["nodes"]:
        stored = by_name.get(node["name"])
        if stored is None:
            return False
        nodes.append({k: stored.get(k) for k in node})
    settings = read.get("settings") or {}
    projected = {
        "name": read.get("name"),
        "nodes": nodes,
        "connections": read.get("connections") or {},
        "settings": {k: settings.get(k) for k in sent.get("settings") or {}},
    }
    return exact_digest(projected) == exact_digest(sent)
