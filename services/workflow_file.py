"""The repository people read: one normalised, reviewable JSON file per canonical workflow.

A file holds what restores a workflow that works and looks the same in any environment, and
nothing that belongs to one instance or to a run:

- a header ``"n8n-ops": {"format", "canonicalId", "slug"}``, then ``name``, ``active`` and
  ``tags`` (names) as metadata, ``settings`` (those n8n accepts on write), ``nodes`` (sticky
  notes last, each sorted by name) and ``connections``;
- no ids, versionId, timestamps, staticData, pinData, meta, sharing, node ids or webhookIds;
- credentials by type and name: ``"credentials": {"httpHeaderAuth": {"name": "CRM"}}``;
- references to other workflows (Execute Workflow / toolWorkflow ``parameters.workflowId``,
  ``settings.errorWorkflow``, ``settings.callerIds``) as ``canonical:<canonical id>`` in
  place of the instance's id; a reference to a workflow with no canonical id keeps that id,
  and deploying the file reports it as unresolvable.

Keys come in a fixed order (parameters sorted), two-space indentation, UTF-8 unescaped, one
trailing newline; short scalar lists (positions, tags) and connection targets sit on one line.
The same workflow gives the same bytes whatever its key or node order, so a Git diff shows
real changes only.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.n8n.payload import NODE_KEYS_1X, SETTINGS_KEYS_1X, workflow_write_body
from services.workflow_compare import match_nodes
from services.workflow_digest import (
    CredentialKey,
    ReferenceSite,
    WorkflowRef,
    calls_workflows,
    rewrite_workflow_references,
    semantic_digest,
)
from services.workflow_file_format import (
    CANONICAL_PREFIX,
    FORMAT_VERSION,
    HEADER_KEY,
    NODE_FIELDS,
    InvalidWorkflowFile,
    dumps,
    load,
    validated,
)

__all__ = [
    "CANONICAL_PREFIX",
    "FORMAT_VERSION",
    "InvalidWorkflowFile",
    "Unresolved",
    "WorkflowFile",
    "canonical_id_of",
    "dump",
    "from_n8n",
    "parse",
    "render",
    "to_canonical_references",
    "to_n8n",
]

#: Resolves a canonical id to the target environment's n8n workflow id, None when absent.
ResolveWorkflow = Callable[[str], str | None]
#: Resolves (credential type, name) to the target's credential ``{"id", "name"}``, or None.
ResolveCredential = Callable[[str, str], Mapping[str, Any] | None]

#: Namespace of the node ids (and webhookIds) given to nodes the target does not have yet
#: (uuid5 of the canonical id and node name: the same node gets the same id on every deploy).
_NODE_ID_NAMESPACE = uuid.UUID("6f1c3a52-9a3e-4d0e-8a57-3f0b7e4c2d10")
#: Nodes that receive calls without "Trigger" in their type.
WEBHOOK_NODE_TYPES = frozenset(
    {"n8n-nodes-base.webhook", "n8n-nodes-base.wait", "n8n-nodes-base.form"}
)


@dataclass(frozen=True)
class WorkflowFile:
    """A parsed, valid, normalised workflow file. ``nodes``, ``settings`` and ``connections``
    are in n8n's shapes, with references to other workflows as ``canonical:<id>``."""

    canonical_id: str
    slug: str
    name: str
    active: bool
    tags: tuple[str, ...]
    settings: Mapping[str, Any]
    nodes: tuple[Mapping[str, Any], ...]
    connections: Mapping[str, Any]
    #: Semantic digests computed so far: (credential key, ignore rules, digest). A deployment
    #: digests each file for its plan, its write and its approved copy.
    _digests: list[tuple[CredentialKey | None, tuple[str, ...], str]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )
    #: Its canonical bytes once made (``dump``).
    _bytes: list[bytes] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def workflow(self) -> dict[str, Any]:
        """The content as an n8n workflow object (no ids), for digests, diffs and rules."""
        return {
            "name": self.name,
            "active": self.active,
            "tags": [{"name": tag} for tag in self.tags],
            "settings": dict(self.settings),
            "nodes": [dict(node) for node in self.nodes],
            "connections": dict(self.connections),
        }

    def semantic_digest(
        self, *, credential_key: CredentialKey | None = None, ignore_rules: Iterable[str] = ()
    ) -> str:
        """Equal to ``semantic_digest`` of any n8n copy whose references map to this file's."""
        rules = tuple(ignore_rules)
        for key, seen, found in self._digests:
            # A bound method equals another only on the same object: the same mapping.
            if key == credential_key and seen == rules:
                return found
        found = semantic_digest(
            self.workflow,
            credential_key=credential_key,
            workflow_ref=canonical_id_of,
            ignore_rules=rules,
        )
        self._digests.append((credential_key, rules, found))
        return found

    def credential_refs(self) -> list[tuple[str, str]]:
        """Every (credential type, name) the nodes use, sorted, once each."""
        return sorted(
            {
                (cred_type, ref["name"])
                for node in self.nodes
                for cred_type, ref in (node.get("credentials") or {}).items()
            }
        )

    def workflow_refs(self) -> list[str]:
        """The canonical ids of the workflows this one calls or names, sorted, once each."""
        found: set[str] = set()

        def collect(workflow_id: str, _site: ReferenceSite) -> str:
            if canonical := canonical_id_of(workflow_id):
                found.add(canonical)
            return workflow_id

        rewrite_workflow_references(self.workflow, collect)
        return sorted(found)


@dataclass(frozen=True)
class Unresolved:
    """A reference ``to_n8n`` could not resolve in the target environment."""

    #: ``credential`` or ``workflow``.
    kind: str
    #: The node holding the reference; None for a workflow setting.
    node: str | None
    #: ``credentials.<type>``, ``parameters.workflowId``, ``settings.errorWorkflow``...
    path: str
    #: ``<type>:<name>`` for a credential; the canonical id, or the foreign n8n id, for a workflow.
    reference: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "node": self.node,
            "path": self.path,
            "reference": self.reference,
            "message": self.message,
        }


def canonical_id_of(reference: str) -> str | None:
    """The canonical id in a ``canonical:<id>`` reference; None for anything else."""
    if reference.startswith(CANONICAL_PREFIX):
        return reference[len(CANONICAL_PREFIX) :] or None
    return None


def to_canonical_references(
    workflow: Mapping[str, Any], workflow_ref: WorkflowRef
) -> dict[str, Any]:
    """``workflow`` with each reference to another workflow as ``canonical:<id>`` where
    ``workflow_ref`` knows the id; unknown ids stay as they are."""

    def rewrite(workflow_id: str, _site: ReferenceSite) -> str:
        canonical = workflow_ref(workflow_id)
        return CANONICAL_PREFIX + canonical if canonical else workflow_id

    return rewrite_workflow_references(workflow, rewrite)


def from_n8n(
    workflow: Mapping[str, Any], *, canonical_id: str, slug: str, workflow_ref: WorkflowRef
) -> WorkflowFile:
    """The file content of an n8n workflow (as GET /workflows/{id} returns it).

    ``workflow_ref`` maps the instance's workflow ids to canonical ids (None: not canonical).
    Raises InvalidWorkflowFile when the workflow cannot be represented (a node without a name,
    two nodes with one name, a credential without a name...).
    """
    if not isinstance(workflow, Mapping):
        raise InvalidWorkflowFile([("$", "a workflow must be a JSON object")])
    mapped = to_canonical_references(workflow, workflow_ref)
    settings = mapped.get("settings")
    raw = {
        HEADER_KEY: {"format": FORMAT_VERSION, "canonicalId": canonical_id, "slug": slug},
        "name": mapped.get("name"),
        "active": bool(mapped.get("active")),
        "tags": _tag_names(mapped.get("tags")),
        "settings": (
            {k: v for k, v in settings.items() if k in SETTINGS_KEYS_1X}
            if isinstance(settings, Mapping)
            else settings
        ),
        "nodes": (
            [_file_node(node) for node in mapped["nodes"]]
            if isinstance(mapped.get("nodes"), list)
            else mapped.get("nodes", [])
        ),
        "connections": mapped.get("connections") or {},
    }
    return _to_file(validated(raw))


def render(
    workflow: Mapping[str, Any], *, canonical_id: str, slug: str, workflow_ref: WorkflowRef
) -> bytes:
    """The file's bytes for an n8n workflow: ``dump(from_n8n(...))``."""
    return dump(from_n8n(workflow, canonical_id=canonical_id, slug=slug, workflow_ref=workflow_ref))


def parse(data: bytes | str, *, canonical_id: str | None = None) -> WorkflowFile:
    """A file's content, validated and normalised; InvalidWorkflowFile (with every problem,
    each naming its place in the file) for anything else. ``canonical_id``, when given, must
    be the header's (a file is named after its canonical id)."""
    file = _to_file(load(data))
    if canonical_id is not None and file.canonical_id != canonical_id:
        raise InvalidWorkflowFile(
            [
                (
                    f"$['{HEADER_KEY}'].canonicalId",
                    f"is {file.canonical_id!r}, but the file belongs to {canonical_id!r}",
                )
            ]
        )
    return file


def dump(file: WorkflowFile) -> bytes:
    """The file's canonical bytes (made once per file)."""
    if not file._bytes:
        file._bytes.append(_dump(file))
    return file._bytes[0]


def _dump(file: WorkflowFile) -> bytes:
    document = {
        HEADER_KEY: {
            "format": FORMAT_VERSION,
            "canonicalId": file.canonical_id,
            "slug": file.slug,
        },
        "name": file.name,
        "active": file.active,
        "tags": list(file.tags),
        "settings": file.settings,
        "nodes": list(file.nodes),
        "connections": file.connections,
    }
    return dumps(document)


def to_n8n(
    file: WorkflowFile,
    *,
    resolve_workflow: ResolveWorkflow,
    resolve_credential: ResolveCredential,
    base: Mapping[str, Any] | None = None,
    settings_keys: frozenset[str] = SETTINGS_KEYS_1X,
    node_keys: frozenset[str] = NODE_KEYS_1X,
) -> tuple[dict[str, Any], list[Unresolved]]:
    """The body for POST/PUT /workflows in a target environment, and every reference that
    could not be resolved there (all of them, at once).

    ``base`` is the target's current copy when there is one: its node ids and webhookIds are
    kept, matched by node name (then by type with equal parameters or position, for a renamed
    node), so production webhook URLs survive; its staticData is kept. Nodes it lacks get a
    stable id (and triggers and webhook, wait and form nodes a stable webhookId, which n8n
    does not add). Nothing carries staticData from elsewhere, nor pinData. An
    unresolved credential is sent as ``{"id": null, "name"}`` and an unresolved workflow
    reference as it is in the file; the caller decides whether to deploy anyway.
    """
    problems: list[Unresolved] = []

    def resolve(reference: str, site: ReferenceSite) -> str:
        canonical = canonical_id_of(reference)
        target = resolve_workflow(canonical) if canonical else None
        if target:
            return target
        where = f"node {site.node!r}" if site.node else site.path
        message = (
            f"{where} calls canonical workflow {canonical}, which the target does not have"
            if canonical
            else f"{where} names n8n workflow {reference!r}, which has no canonical workflow"
        )
        problems.append(
            Unresolved("workflow", site.node, site.path, canonical or reference, message)
        )
        return reference

    content = rewrite_workflow_references(file.workflow, resolve)
    nodes = [_deploy_node(node, problems, resolve_credential) for node in content["nodes"]]
    base_nodes = [n for n in (base or {}).get("nodes") or [] if isinstance(n, Mapping)]
    pairs, _removed, added = match_nodes(base_nodes, nodes)
    for before, after in pairs:
        for key in ("id", "webhookId"):
            if before.get(key):
                after[key] = before[key]
    taken = {n.get(k) for n in [*base_nodes, *nodes] for k in ("id", "webhookId")}
    for node in added:
        node["id"] = _new_id(f"{file.canonical_id}/{node['name']}", taken)
        if _receives_webhooks(node) and not node.get("webhookId"):
            # n8n 1.123 adds node ids on write but no webhookId, and a trigger without one
            # registers a broken URL; the editor gives every such node one.
            node["webhookId"] = _new_id(f"{file.canonical_id}/{node['name']}/webhook", taken)
    body = workflow_write_body(
        {
            "name": file.name,
            "nodes": nodes,
            "connections": content["connections"],
            "settings": content["settings"],
            "staticData": (base or {}).get("staticData"),
        },
        settings_keys=settings_keys,
        node_keys=node_keys,
    )
    return _copied(body), problems


def _copied(body: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON body (it shares the file's nested values): orjson's round trip,
    several times faster than deepcopy, which takes what orjson cannot encode (an integer
    past 64 bits)."""
    try:
        return orjson.loads(orjson.dumps(body))
    except orjson.JSONEncodeError:
        return copy.deepcopy(body)


def _new_id(seed: str, taken: set[Any]) -> str:
    """The same id for the same node on every deploy, unless the target uses it already."""
    while (new := str(uuid.uuid5(_NODE_ID_NAMESPACE, seed))) in taken:
        seed += "/"
    taken.add(new)
    return new


def _receives_webhooks(node: Mapping[str, Any]) -> bool:
    """Triggers and the nodes that wait for a call: what the editor gives a webhookId."""
    node_type = str(node.get("type"))
    return node_type.lower().endswith("trigger") or node_type in WEBHOOK_NODE_TYPES


def _file_node(node: Any) -> Any:
    """An n8n node as the file keeps it: known fields only, credentials by name, no caches of
    the called workflow's per-instance URL."""
    if not isinstance(node, Mapping):
        return node
    out = {k: node[k] for k in NODE_FIELDS if k in node}
    credentials = node.get("credentials")
    if isinstance(credentials, Mapping):
        out["credentials"] = {
            cred_type: {"name": ref.get("name") if isinstance(ref, Mapping) else ref}
            for cred_type, ref in credentials.items()
        }
    parameters = node.get("parameters")
    locator = parameters.get("workflowId") if isinstance(parameters, Mapping) else None
    if calls_workflows(node) and isinstance(locator, Mapping):
        parameters = dict(parameters)
        parameters["workflowId"] = {k: v for k, v in locator.items() if k != "cachedResultUrl"}
        out["parameters"] = parameters
    return out


def _tag_names(tags: Any) -> Any:
    if not isinstance(tags, list):
        return tags if tags is not None else []
    return [tag.get("name") if isinstance(tag, Mapping) else tag for tag in tags]


def _deploy_node(
    node: Mapping[str, Any], problems: list[Unresolved], resolve_credential: ResolveCredential
) -> dict[str, Any]:
    out = dict(node)
    credentials = {}
    for cred_type, ref in (node.get("credentials") or {}).items():
        target = resolve_credential(cred_type, ref["name"])
        if target:
            credentials[cred_type] = {"id": target["id"], "name": target["name"]}
            continue
        credentials[cred_type] = {"id": None, "name": ref["name"]}
        problems.append(
            Unresolved(
                "credential",
                node["name"],
                f"credentials.{cred_type}",
                f"{cred_type}:{ref['name']}",
                f"node {node['name']!r} uses {cred_type} credential {ref['name']!r}, "
                "which the target does not have",
            )
        )
    if credentials:
        out["credentials"] = credentials
    locator = (node.get("parameters") or {}).get("workflowId")
    if (
        calls_workflows(node)
        and isinstance(locator, Mapping)
        and locator.get("mode") == "list"
        and not canonical_id_of(str(locator.get("value", "")))
    ):
        # What the editor stores beside a workflow picked from its list.
        out["parameters"] = {
            **node["parameters"],
            "workflowId": {**locator, "cachedResultUrl": f"/workflow/{locator.get('value')}"},
        }
    return out


def _to_file(raw: Mapping[str, Any]) -> WorkflowFile:
    header = raw[HEADER_KEY]
    return WorkflowFile(
        canonical_id=header["canonicalId"],
        slug=header["slug"],
        name=raw["name"],
        active=raw["active"],
        tags=tuple(raw["tags"]),
        settings=raw["settings"],
        nodes=tuple(raw["nodes"]),
        connections=raw["connections"],
    )
