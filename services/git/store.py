"""The local side of a repository: a bare repository on this host where commits are built
and objects read, and the two ways its branch meets the world.

* A remote's clone cache (``<DATA_DIR>/git/cache/<tenant>/<url digest>.git``): ``refresh``
  fetches the branch into ``refs/remotes/origin/<branch>``; ``publish`` pushes, and reports a
  push that lost a race (the branch moved) as False.
* The tenant's embedded repository (``<DATA_DIR>/git/embedded/<tenant>.git``) is its own
  workspace: ``refresh`` reads the branch, ``publish`` moves it with a compare-and-swap.

Everything here reads many objects per process: ``ls-tree`` for a folder, ``cat-file
--batch`` for contents and blob ids, ``fast-import`` for a whole change set; never one
process per file. Callers hold the repository lock around refresh, build and publish.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from services import config
from services.git import command
from services.git.command import GitCommandError, diagnose
from services.git.errors import GitRefNotFound, GitRemoteError
from services.git.transport import RemoteSession

_OBJECT_HEADER = re.compile(rb"^([0-9a-f]{40,64}) (\w+) (\d+)$")
#: How git says a branch moved under us: the push or compare-and-swap lost a race.
_RACE = re.compile(
    r"fetch first|non-fast-forward|stale info|cannot lock ref|failed to update ref|"
    r"but expected|reference already exists",
    re.IGNORECASE,
)
#: Sub-ref where fast-import leaves the commit it built (never pushed).
STAGED_REF = "refs/n8nops/staged"


@dataclass(frozen=True)
class Identity:
    """A commit's author or committer; ``user_id`` when it is a platform user."""

    name: str
    email: str
    user_id: uuid.UUID | None = None


@dataclass
class Workspace:
    """One bare repository on this host and the branch operations use."""

    git_dir: Path
    branch: str
    env: dict[str, str]
    remote: RemoteSession | None = None
    #: Seconds a command talking to the remote may take.
    timeout: float = field(default_factory=lambda: command.REMOTE_TIMEOUT_S)

    @property
    def ref(self) -> str:
        if self.remote is None:
            return f"refs/heads/{self.branch}"
        return f"refs/remotes/origin/{self.branch}"

    def git(self, *args: str, stdin: bytes | None = None, check: bool = True):
        return command.run(args, env=self.env, git_dir=self.git_dir, stdin=stdin, check=check)

    def remote_git(self, *args: str, writing: bool = False, check: bool = True):
        """A command that talks to the remote: its environment, its scrubber, its timeout;
        a failure becomes the GitRemoteError that says what is wrong."""
        assert self.remote is not None
        try:
            return command.run(
                args,
                env=self.remote.env,
                git_dir=self.git_dir,
                timeout=self.timeout,
                scrub=self.remote.scrub,
                check=check,
            )
        except GitCommandError as error:
            raise diagnose(error, writing=writing) from None


def root() -> Path:
    """This host's Git folder: clone caches, embedded repositories, git's empty HOME."""
    return Path(config.current().data_dir) / "git"


def local_env() -> dict[str, str]:
    """The environment of git commands that touch no remote."""
    home = root() / "home"
    home.mkdir(parents=True, exist_ok=True)
    return command.clean_env(home)


def ensure_repository(git_dir: Path, env: Mapping[str, str], *, branch: str = "main") -> None:
    """Create the bare repository if it is missing (built aside, then moved into place)."""
    if (git_dir / "HEAD").exists():
        return
    git_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".init-", dir=git_dir.parent))
    try:
        init = ["init", "--quiet", "--bare", f"--initial-branch={branch}", str(building)]
        command.run(init, env=env)
        try:
            building.rename(git_dir)
        except OSError:
            if not (git_dir / "HEAD").exists():  # not just another process that won the race
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)


# --- the branch and the world -------------------------------------------------------------


def local_head(ws: Workspace) -> str | None:
    """The branch as this workspace last saw it (no network)."""
    out = ws.git("rev-parse", "--verify", "--quiet", f"{ws.ref}^{{commit}}", check=False)
    return out.stdout.decode().strip() or None


def refresh(ws: Workspace) -> str | None:
    """The branch's head now: fetched from the remote, or read from the embedded repository.
    None when the branch does not exist yet in an empty repository; a missing branch in a
    repository that has others is GitRemoteError("branch_missing")."""
    if ws.remote is None:
        return local_head(ws)
    refspec = f"+refs/heads/{ws.branch}:{ws.ref}"
    try:
        ws.remote_git(
            "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", ws.remote.url, refspec
        )
    except GitRemoteError as error:
        if error.reason != "branch_missing":
            raise
        branches = remote_branches(ws)
        if branches:
            shown = ", ".join(branches[:10])
            raise GitRemoteError("branch_missing", f"{ws.branch!r}; it has: {shown}") from None
        ws.git("update-ref", "-d", ws.ref)
        return None
    return local_head(ws)


def remote_branches(ws: Workspace) -> list[str]:
    assert ws.remote is not None
    out = ws.remote_git("ls-remote", "--heads", ws.remote.url)
    return parse_heads(out.stdout)


def parse_heads(listing: bytes) -> list[str]:
    """Branch names of an ``ls-remote --heads`` listing."""
    names = []
    for line in listing.decode(errors="replace").splitlines():
        _, _, ref = line.partition("\t")
        if ref.startswith("refs/heads/"):
            names.append(ref.removeprefix("refs/heads/"))
    return names


def publish(ws: Workspace, new: str, old: str | None) -> bool:
    """Move the branch from ``old`` (None: it must not exist) to ``new``; False when it moved
    meanwhile (someone else pushed), so the caller rebuilds on the new head."""
    if ws.remote is None:
        out = ws.git("update-ref", ws.ref, new, old or "", check=False)
        if out.returncode == 0:
            return True
        if _RACE.search(out.stderr):
            return False
        raise GitCommandError(["update-ref"], out.returncode, out.stderr)
    out = ws.remote_git(
        "push",
        "--porcelain",
        "--quiet",
        ws.remote.url,
        f"{new}:refs/heads/{ws.branch}",
        writing=True,
        check=False,
    )
    if out.returncode == 0:
        ws.git("update-ref", ws.ref, new)
        return True
    status = out.stdout.decode(errors="replace")
    if _RACE.search(status) or _RACE.search(out.stderr):
        return False
    raise diagnose(
        GitCommandError(["push"], out.returncode, f"{out.stderr}\n{status}"), writing=True
    )


# --- reading objects ------------------------------------------------------------------------


def resolve_commit(ws: Workspace, ref: str) -> str:
    """The full id of a commit named by id (or abbreviation); GitRefNotFound otherwise."""
    out = ws.git(
        "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
    )
    sha = out.stdout.decode().strip()
    if not sha:
        raise GitRefNotFound(f"No commit {ref!r} in the repository.")
    return sha


def list_tree(ws: Workspace, commit: str, *folders: str) -> list[tuple[str, str]]:
    """(path, blob id) of every regular file under each of ``folders`` (none, or "": all)
    at ``commit``; one process."""
    if "" in folders:
        folders = ()
    args = ["ls-tree", "-r", "-z", "--full-tree", commit]
    if folders:
        args += ["--", *folders]
    out = ws.git(*args)
    prefixes = tuple(f"{folder}/" for folder in folders) or ("",)
    files = []
    for entry in out.stdout.split(b"\0"):
        if not entry:
            continue
        meta, _, path_bytes = entry.partition(b"\t")
        mode, kind, sha = meta.decode().split(" ")
        path = path_bytes.decode("utf-8", errors="surrogateescape")
        # Regular files only: symlinks and submodules are not workflow files.
        if kind == "blob" and mode in ("100644", "100755") and path.startswith(prefixes):
            files.append((path, sha))
    return files


def read_objects(ws: Workspace, names: Iterable[str]) -> list[tuple[str, bytes] | None]:
    """(id, content) of each blob named (by id), in order; None for a name that is missing
    or not a file. One ``cat-file --batch`` for all."""
    names = list(names)
    if not names:
        return []
    out = ws.git("cat-file", "--batch", stdin="".join(f"{n}\n" for n in names).encode())
    data, position, found = out.stdout, 0, []
    for _ in names:
        end = data.index(b"\n", position)
        header = _OBJECT_HEADER.match(data[position:end])
        position = end + 1
        if header is None:  # "<name> missing" (or ambiguous)
            found.append(None)
            continue
        size = int(header[3])
        content = data[position : position + size]
        position += size + 1
        found.append((header[1].decode(), content) if header[2] == b"blob" else None)
    return found


def object_ids(ws: Workspace, commit: str | None, paths: Iterable[str]) -> dict[str, str | None]:
    """The blob id of each path at ``commit`` (None: no file there, or no commit yet).

    One ``ls-tree`` of the folders holding the paths: a linear pass, where asking cat-file
    for each ``commit:path`` walks the tree again per path.
    """
    paths = list(paths)
    ids: dict[str, str | None] = dict.fromkeys(paths)
    if commit is None or not paths:
        return ids
    folders = sorted({p.rsplit("/", 1)[0] if "/" in p else "" for p in paths})
    for path, sha in list_tree(ws, commit, *_outermost(folders)):
        if path in ids:
            ids[path] = sha
    return ids


def _outermost(folders: list[str]) -> list[str]:
    """Folders not inside another one of the list (sorted input)."""
    kept: list[str] = []
    for folder in folders:
        if not kept or not folder.startswith(kept[-1] + "/"):
            kept.append(folder)
    return kept


_object_formats: dict[Path, str] = {}


def blob_id(ws: Workspace, content: bytes) -> str:
    """Git's id of a blob with ``content`` (the formula of git hash-object, without a process
    per file)."""
    if ws.git_dir not in _object_formats:
        out = ws.git("rev-parse", "--show-object-format")
        _object_formats[ws.git_dir] = out.stdout.decode().strip()
    digest = hashlib.new(_object_formats[ws.git_dir])
    digest.update(b"blob %d\0" % len(content))
    digest.update(content)
    return digest.hexdigest()


# --- writing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A commit to build: its changes (path -> content, None deletes), message and author."""

    changes: Mapping[str, bytes | None]
    message: str
    author: Identity


def build_commit(
    ws: Workspace,
    *,
    parent: str | None,
    changes: Mapping[str, bytes | None],
    message: str,
    author: Identity,
    committer: Identity,
    then: Draft | None = None,
) -> tuple[str, str | None]:
    """Build one commit of all ``changes`` (path -> content, None deletes) on ``parent``
    (None: a root commit), and ``then`` on top of it, with one ``git fast-import``; returns
    both ids (None without ``then``). Nothing is published: the commits are only reachable
    from STAGED_REF."""
    now = f"{int(time.time())} +0000"
    stream = [f"reset {STAGED_REF}\n".encode()]
    drafts = [Draft(changes, message, author)] + ([then] if then else [])
    for mark, draft in enumerate(drafts, 1):
        encoded = draft.message.encode()
        stream += [
            f"commit {STAGED_REF}\nmark :{mark}\n".encode(),
            f"author {_ident(draft.author)} {now}\ncommitter {_ident(committer)} {now}\n".encode(),
            b"data %d\n%s\n" % (len(encoded), encoded),
        ]
        if mark > 1:
            stream.append(f"from :{mark - 1}\n".encode())
        elif parent:
            stream.append(f"from {parent}\n".encode())
        for path, content in draft.changes.items():
            if content is None:
                stream.append(b"D %s\n" % _quote(path))
            else:
                stream.append(
                    b"M 100644 inline %s\ndata %d\n%s\n" % (_quote(path), len(content), content)
                )
        stream.append(b"\n")
    stream += [f"get-mark :{mark}\n".encode() for mark in range(1, len(drafts) + 1)]
    stream.append(b"done\n")
    out = ws.git(
        "fast-import",
        "--quiet",
        "--done",
        "--force",
        "--date-format=raw",
        "--cat-blob-fd=1",
        stdin=b"".join(stream),
    )
    ids = out.stdout.decode().split()
    return ids[0], ids[1] if then else None


def _ident(who: Identity) -> str:
    def clean(value: str) -> str:
        return re.sub(r"[<>\n\r\0]", "", value).strip()

    return f"{clean(who.name) or 'unknown'} <{clean(who.email)}>"


def _quote(path: str) -> bytes:
    """A path as fast-import reads it: C-style quoted, so any file name is safe."""
    escaped = path.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'.encode()


#: Commits on one repository (in this process) per ``gc --auto``: each run is a process even
#: when git finds nothing to do, and a commit adds one pack or a few hundred loose objects
#: where git acts at 50 packs or 6,700 loose objects.
TIDY_EVERY = 10
_commits_since_tidy: Counter[Path] = Counter()


def tidy(ws: Workspace) -> None:
    """Pack loose objects once there are many: after a repository's first commit in this
    process and every TIDY_EVERY-th after it, git decides."""
    count = _commits_since_tidy[ws.git_dir]
    _commits_since_tidy[ws.git_dir] = (count + 1) % TIDY_EVERY
    if count == 0:
        ws.git("gc", "--auto", "--quiet")


def epoch(value: str) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)
