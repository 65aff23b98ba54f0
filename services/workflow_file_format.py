"""The workflow file format (services/workflow_file.py) as bytes: loading with validation that
names every problem by its place in the file, and writing with the normalisation and layout
that make equal content equal bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.n8n.payload import NODE_KEYS_1X, SETTINGS_KEYS_1X
from services.workflow_digest import (
    ReferenceSite,
    is_sticky_note,
    normalized_connections,
    rewrite_workflow_references,
)

#: Bumped when the layout changes in a way an older reader would misread.
FORMAT_VERSION = 1
#: The header object: format, canonical id and slug.
HEADER_KEY = "n8n-ops"
#: How the file names another workflow: ``canonical:<canonical id>``.
CANONICAL_PREFIX = "canonical:"

#: Top-level keys in file order; the first four are required.
TOP_FIELDS = (HEADER_KEY, "name", "nodes", "connections", "active", "tags", "settings")
_FILE_ORDER = (HEADER_KEY, "name", "active", "tags", "settings", "nodes", "connections")
#: Node fields the file keeps, in the order a reader meets them: what a write accepts, less
#: the per-instance ``id`` and ``webhookId``.
NODE_FIELDS = (
    "name",
    "type",
    "typeVersion",
    "position",
    "disabled",
    "parameters",
    "credentials",
    "onError",
    "continueOnFail",
    "retryOnFail",
    "maxTries",
    "waitBetweenTries",
    "alwaysOutputData",
    "executeOnce",
    "notes",
    "notesInFlow",
)
_PER_INSTANCE_NODE_FIELDS = frozenset(NODE_KEYS_1X - set(NODE_FIELDS)) | {"createdAt", "updatedAt"}
#: Workflow fields n8n returns that belong to one instance or to its runs.
_PER_INSTANCE_FIELDS = frozenset(
    {
        "id",
        "versionId",
        "activeVersionId",
        "versionCounter",
        "activeVersion",
        "createdAt",
        "updatedAt",
        "staticData",
        "pinData",
        "meta",
        "triggerCount",
        "shared",
        "homeProject",
        "isArchived",
        "description",
    }
)
#: Canonical ids name files: letters, digits, ``.``, ``_`` and ``-`` only.
_CANONICAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: A one-line list is at most this many characters, so a change in it stays readable.
_INLINE_WIDTH = 60
#: JavaScript's safe integers: an integral float within them prints as an integer.
_SAFE_INTEGER = 2**53


class InvalidWorkflowFile(ValueError):
    """A file (or a workflow to render) that is not valid; ``errors`` lists every problem."""

    def __init__(self, errors: Iterable[tuple[str, str]]):
        self.errors = [FileError(path, message) for path, message in errors]
        super().__init__("; ".join(str(e) for e in self.errors))


@dataclass(frozen=True)
class FileError:
    #: Where, as a JSONPath into the file (``$.nodes[2].typeVersion``).
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def load(data: bytes | str) -> dict[str, Any]:
    """Decode, load and validate file bytes into the normalised file structure."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidWorkflowFile(
                [("$", f"is not UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 1]!r})")]
            ) from None
    elif isinstance(data, str):
        text = data
    else:
        raise InvalidWorkflowFile([("$", f"expected bytes, got {type(data).__name__}")])
    try:
        raw = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise InvalidWorkflowFile(
            [("$", f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
        ) from None
    except _DuplicateKey as exc:
        raise InvalidWorkflowFile([("$", str(exc))]) from None
    except RecursionError:
        raise InvalidWorkflowFile([("$", "is nested too deeply")]) from None
    return validated(raw)


def validated(raw: Any) -> dict[str, Any]:
    """The normalised file structure, in file order; InvalidWorkflowFile listing every problem."""
    try:
        return _validated(raw)
    except RecursionError:
        raise InvalidWorkflowFile([("$", "is nested too deeply")]) from None


def _validated(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidWorkflowFile([("$", "the file must be a JSON object")])
    errors: list[tuple[str, str]] = []
    for key in raw:
        if key not in TOP_FIELDS:
            errors.append((f"$[{key!r}]", _unknown_top_field(key)))
    for key in TOP_FIELDS[:4]:
        if key not in raw:
            errors.append(("$", f"{key!r} is missing"))
    out: dict[str, Any] = {
        HEADER_KEY: _header(raw[HEADER_KEY], errors) if HEADER_KEY in raw else {},
        "name": _text(raw["name"], "$.name", errors) if "name" in raw else None,
        "active": raw.get("active", False),
        "tags": _tags(raw.get("tags", []), errors),
        "settings": _settings(raw.get("settings", {}), errors),
        "nodes": _nodes(raw.get("nodes", []), errors),
    }
    if not isinstance(out["active"], bool):
        errors.append(("$.active", "must be true or false"))
    names = {node["name"] for node in out["nodes"] if isinstance(node.get("name"), str)}
    out["connections"] = _connections(raw.get("connections", {}), names, errors)
    if isinstance(raw.get("nodes"), list):
        _check_references(raw["nodes"], out["settings"], errors)
    if errors:
        raise InvalidWorkflowFile(errors)
    return {key: out[key] for key in _FILE_ORDER}


def _unknown_top_field(key: str) -> str:
    if key in _PER_INSTANCE_FIELDS:
        return "belongs to one n8n instance or its runs; the file does not keep it"
    return f"is not a field of a workflow file (expected {', '.join(TOP_FIELDS)})"


def _header(header: Any, errors: list[tuple[str, str]]) -> dict[str, Any]:
    path = f"$[{HEADER_KEY!r}]"
    if not isinstance(header, Mapping):
        errors.append((path, "must be an object with format, canonicalId and slug"))
        return {}
    for key in header:
        if key not in ("format", "canonicalId", "slug"):
            errors.append((f"{path}.{key}", "is not a header field (format, canonicalId, slug)"))
    version = header.get("format")
    if type(version) is not int:
        errors.append((f"{path}.format", f"must be the format version, {FORMAT_VERSION}"))
    elif version != FORMAT_VERSION:
        newer = "a newer format than" if version > FORMAT_VERSION else "not a format"
        errors.append((f"{path}.format", f"{version} is {newer} this platform reads"))
    canonical_id = header.get("canonicalId")
    if not isinstance(canonical_id, str) or not _CANONICAL_ID.fullmatch(canonical_id):
        errors.append(
            (f"{path}.canonicalId", "must be a canonical id (letters, digits, '.', '_', '-')")
        )
    return {
        "format": version,
        "canonicalId": canonical_id,
        "slug": _text(header.get("slug"), f"{path}.slug", errors),
    }


def _text(value: Any, path: str, errors: list[tuple[str, str]]) -> Any:
    if not _is_name(value):
        errors.append((path, "must be a non-empty string"))
    return value


def _tags(tags: Any, errors: list[tuple[str, str]]) -> list[Any]:
    if not isinstance(tags, list):
        errors.append(("$.tags", "must be a list of tag names"))
        return []
    for i, tag in enumerate(tags):
        _text(tag, f"$.tags[{i}]", errors)
        if tag in tags[:i]:
            errors.append((f"$.tags[{i}]", f"repeats the tag {tag!r}"))
    return sorted(tags, key=str)


def _settings(settings: Any, errors: list[tuple[str, str]]) -> dict[str, Any]:
    if not isinstance(settings, Mapping):
        errors.append(("$.settings", "must be an object"))
        return {}
    for key, value in settings.items():
        if key not in SETTINGS_KEYS_1X:
            known = ", ".join(sorted(SETTINGS_KEYS_1X))
            errors.append((f"$.settings.{key}", f"is not a setting n8n accepts ({known})"))
        elif key in ("errorWorkflow", "callerIds") and not isinstance(value, str):
            errors.append((f"$.settings.{key}", "must be a string"))
    return normalized_value(settings)


def _nodes(nodes: Any, errors: list[tuple[str, str]]) -> list[dict[str, Any]]:
    if not isinstance(nodes, list):
        errors.append(("$.nodes", "must be a list of nodes"))
        return []
    out = []
    seen: dict[str, int] = {}
    for i, node in enumerate(nodes):
        path = f"$.nodes[{i}]"
        if not isinstance(node, Mapping):
            errors.append((path, "must be an object"))
            continue
        name = node.get("name")
        label = f"{path} ({name!r})" if isinstance(name, str) else path
        _node_fields(node, label, errors)
        if isinstance(name, str):
            if name in seen:
                errors.append(
                    (label, f"has the same name as $.nodes[{seen[name]}]; names are unique")
                )
            seen.setdefault(name, i)
        out.append(_normalized_node(node))
    return sorted(out, key=lambda n: (is_sticky_note(n), str(n.get("name"))))


def _node_fields(node: Mapping[str, Any], label: str, errors: list[tuple[str, str]]) -> None:
    for key in ("name", "type", "typeVersion"):
        if key not in node:
            errors.append((label, f"{key!r} is missing"))
    for key, value in node.items():
        where = f"{label}.{key}"
        if key in _PER_INSTANCE_NODE_FIELDS:
            errors.append((where, "is per instance; the file does not keep it"))
        elif key not in NODE_FIELDS:
            errors.append((where, "is not a node field n8n accepts on write"))
        elif key == "credentials":
            _credentials(value, where, errors)
        elif key in _FIELD_CHECKS and not _FIELD_CHECKS[key][0](value):
            errors.append((where, _FIELD_CHECKS[key][1]))


def _credentials(credentials: Any, path: str, errors: list[tuple[str, str]]) -> None:
    if not isinstance(credentials, Mapping):
        errors.append((path, 'must map credential types to {"name": ...}'))
        return
    for cred_type, ref in credentials.items():
        where = f"{path}.{cred_type}"
        if not isinstance(ref, Mapping) or set(ref) - {"name"}:
            extra = " (ids are per instance)" if isinstance(ref, Mapping) and "id" in ref else ""
            errors.append((where, f'must be {{"name": "<credential name>"}}{extra}'))
        else:
            _text(ref.get("name"), f"{where}.name", errors)


def _normalized_node(node: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: normalized_value(node[k]) for k in NODE_FIELDS if k in node}
    if "parameters" not in out and "type" in node:
        out["parameters"] = {}
        out = {k: out[k] for k in NODE_FIELDS if k in out}
    return out


def _connections(connections: Any, names: set[str], errors: list[tuple[str, str]]) -> Any:
    if not isinstance(connections, Mapping):
        errors.append(("$.connections", "must be an object keyed by source node name"))
        return {}
    for source, by_type in connections.items():
        path = f"$.connections[{source!r}]"
        if source not in names:
            errors.append((path, f"comes from {source!r}, which is not a node of this workflow"))
        if not isinstance(by_type, Mapping):
            errors.append((path, "must map connection types to lists of outputs"))
            continue
        for conn_type, outputs in by_type.items():
            _outputs(outputs, f"{path}.{conn_type}", names, errors)
    if any(e[0].startswith("$.connections") for e in errors):
        return {}
    return {
        source: {
            conn_type: [[_target(t) for t in output] for output in outputs]
            for conn_type, outputs in sorted(by_type.items())
        }
        for source, by_type in sorted(normalized_connections(connections).items())
    }


def _outputs(outputs: Any, path: str, names: set[str], errors: list[tuple[str, str]]) -> None:
    if not isinstance(outputs, list):
        errors.append((path, "must be a list of outputs"))
        return
    for i, output in enumerate(outputs):
        if output is None:
            continue
        if not isinstance(output, list):
            errors.append((f"{path}[{i}]", "must be a list of targets"))
            continue
        for j, target in enumerate(output):
            where = f"{path}[{i}][{j}]"
            if not isinstance(target, Mapping) or set(target) != {"node", "type", "index"}:
                errors.append((where, 'must be {"node": ..., "type": ..., "index": ...}'))
                continue
            if not isinstance(target["node"], str) or target["node"] not in names:
                errors.append((where, f"goes to {target['node']!r}, which is not a node"))
            if not isinstance(target["type"], str):
                errors.append((f"{where}.type", "must be a string"))
            if type(target["index"]) is not int or target["index"] < 0:
                errors.append((f"{where}.index", "must be an input number (0 or more)"))


def _target(target: Mapping[str, Any]) -> dict[str, Any]:
    return {"node": target["node"], "type": target["type"], "index": target["index"]}


def _check_references(
    nodes: list[Any], settings: dict[str, Any], errors: list[tuple[str, str]]
) -> None:
    """Each ``canonical:`` reference names a well-formed canonical id."""
    index = {
        node["name"]: i
        for i, node in enumerate(nodes)
        if isinstance(node, Mapping) and isinstance(node.get("name"), str)
    }

    def check(reference: str, site: ReferenceSite) -> str:
        if reference.startswith(CANONICAL_PREFIX) and not _CANONICAL_ID.fullmatch(
            reference[len(CANONICAL_PREFIX) :]
        ):
            where = f"$.nodes[{index[site.node]}]" if site.node else "$"
            errors.append((f"{where}.{site.path}", f"{reference!r} names no canonical id"))
        return reference

    rewrite_workflow_references({"nodes": nodes, "settings": settings}, check)


def normalized_value(value: Any) -> Any:
    """Keys sorted at every level; integral floats as integers (JavaScript has one number)."""
    if isinstance(value, Mapping):
        return {key: normalized_value(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list):
        return [normalized_value(item) for item in value]
    if type(value) is float and value.is_integer() and abs(value) < _SAFE_INTEGER:
        return int(value)
    return value


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


_BOOL = (lambda v: isinstance(v, bool), "must be true or false")
_NUMBER = (_is_number, "must be a number")
_STRING = (lambda v: isinstance(v, str), "must be a string")
#: Node field -> (check, what the field must be).
_FIELD_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (_is_name, "must be a non-empty string"),
    "type": (_is_name, "must be a non-empty string"),
    "typeVersion": _NUMBER,
    "position": (
        lambda v: isinstance(v, list) and len(v) == 2 and all(map(_is_number, v)),
        "must be [x, y]",
    ),
    "parameters": (lambda v: isinstance(v, Mapping), "must be an object"),
    "disabled": _BOOL,
    "continueOnFail": _BOOL,
    "retryOnFail": _BOOL,
    "alwaysOutputData": _BOOL,
    "executeOnce": _BOOL,
    "notesInFlow": _BOOL,
    "maxTries": _NUMBER,
    "waitBetweenTries": _NUMBER,
    "onError": _STRING,
    "notes": _STRING,
}


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"has the key {key!r} twice in one object")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)


def dumps(document: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a normalised file structure."""
    lines: list[str] = []
    _emit(document, "", lines, inline_flat=False)
    return ("".join(lines) + "\n").encode("utf-8")


def _emit(value: Any, indent: str, out: list[str], *, inline_flat: bool) -> None:
    """Pretty JSON with a stable layout; ``inline_flat`` puts flat objects on one line.
    (Normalised content holds plain dicts and lists only.)"""
    if isinstance(value, dict) and value:
        if inline_flat and all(_is_scalar(v) for v in value.values()):
            out.append(_one_line(value))
            return
        inner = indent + "  "
        out.append("{\n")
        last = len(value) - 1
        for n, (key, item) in enumerate(value.items()):
            out.append(f"{inner}{_one_line(key)}: ")
            connections = key == "connections" and not indent
            _emit(item, inner, out, inline_flat=inline_flat or connections)
            out.append(",\n" if n < last else "\n")
        out.append(indent + "}")
    elif isinstance(value, list) and value:
        if all(_is_scalar(v) for v in value) and len(_one_line(value)) <= _INLINE_WIDTH:
            out.append(_one_line(value))
            return
        inner = indent + "  "
        out.append("[\n")
        last = len(value) - 1
        for n, item in enumerate(value):
            out.append(inner)
            _emit(item, inner, out, inline_flat=inline_flat)
            out.append(",\n" if n < last else "\n")
        out.append(indent + "]")
    else:
        out.append(_one_line(value))


#: One encoder for every value: json.dumps with options builds a new one per call.
_one_line = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)
