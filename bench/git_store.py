"""The Git layer against plain git, with 1,000 workflow-sized JSON files, in the same run.

- Remote (smart HTTP on loopback, token required; tests/git/server.py, git http-backend):
  * first commit of 1,000 files. Plain: ``git clone`` the empty repository, write the files,
    ``git add -A``, ``git commit``, ``git push``. Ours: ``commit_changes`` (clone cache set-up,
    fetch, conflict check, fast-import, push, under the advisory lock).
  * a commit changing 10 of the 1,000. Plain, in the same clone: ``git pull``, write all
    1,000 files, add, commit, push. Ours: ``commit_changes`` given all 1,000 files.
  * reading the 1,000 files at the head. Plain: ``git pull`` then reading the 1,000 files of
    the working tree. Ours: ``list_files`` (fetch, ls-tree, cat-file --batch), and
    ``list_files(contents=False)`` (blob ids only, what a sync compares first).
- Embedded: the first commit only (plain: a local non-bare repository, write, add, commit).

    .venv/bin/python bench/git_store.py [--files 1000] [--rounds 5]

Target: each at most 1.5x plain git.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from models.db import init_engine
from services import git
from services.config import configure
from services.git.target import GitTarget
from services.git.transport import Credentials, parse_remote_url
from tests.git.server import GitHttpServer

TARGET_RATIO = 1.5
TOKEN = f"bench-{uuid.uuid4().hex}"


def workflow(n: int, version: int = 0) -> bytes:
    """A workflow file of a typical size (about 4 KB, 12 nodes)."""
    nodes = [
        {
            "name": f"Node {i}",
            "type": "n8n-nodes-base.set",
            "parameters": {"values": {"string": [{"name": f"k{i}", "value": f"v{i}-{version}"}]}},
            "credentials": {"httpBasicAuth": {"name": "Shared login"}},
        }
        for i in range(12)
    ]
    body = {"name": f"Workflow {n}", "nodes": nodes, "connections": {}, "settings": {}}
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def plain(*args: str, cwd: Path | None = None) -> None:
    header = base64.b64encode(f"git:{TOKEN}".encode()).decode()
    subprocess.run(
        ["git", "-c", f"http.extraHeader=Authorization: Basic {header}",
         "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
        cwd=cwd, check=True, capture_output=True,
    )  # fmt: skip


def write_all(folder: Path, files: dict[str, bytes]) -> None:
    for path, content in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def timed(func) -> float:
    started = time.perf_counter()
    func()
    return (time.perf_counter() - started) * 1000


def one_round(server: GitHttpServer, scratch: Path, count: int) -> dict[str, tuple[float, float]]:
    first = {f"dev/wf-{n:04}.json": workflow(n) for n in range(count)}
    second = {**first, **{f"dev/wf-{n:04}.json": workflow(n, 1) for n in range(10)}}
    results = {}

    # Plain git, remote.
    name = f"plain-{uuid.uuid4().hex[:8]}"
    server.create_repository(name)
    clone = scratch / name

    def plain_commit(files, update):
        def run():
            update()
            write_all(clone, files)
            plain("add", "-A", cwd=clone)
            plain("commit", "--quiet", "-m", "backup", cwd=clone)
            plain("push", "--quiet", "origin", "HEAD:main", cwd=clone)

        return run

    plain_first = plain_commit(first, lambda: plain("clone", "-q", server.url(name), str(clone)))
    plain_second = plain_commit(second, lambda: plain("pull", "-q", "origin", "main", cwd=clone))

    def plain_read():
        plain("pull", "--quiet", "origin", "main", cwd=clone)
        assert len([p.read_bytes() for p in (clone / "dev").iterdir()]) == count

    plain_times = [timed(plain_first), timed(plain_second), timed(plain_read)]

    # Ours, remote.
    ours = f"ours-{uuid.uuid4().hex[:8]}"
    server.create_repository(ours)
    target = GitTarget(
        uuid.uuid4(), None, parse_remote_url(server.url(ours), allow_http=True), "main", "dev",
        Credentials(token=TOKEN),
    )  # fmt: skip

    def commit(changes):
        return lambda: git.commit_changes(
            target, changes=changes, message="backup", operation="backup"
        )

    def ours_read():
        assert len(git.list_files(target).files) == count

    def ours_ids():
        assert len(git.list_files(target, contents=False).files) == count

    our_times = [timed(commit(first)), timed(commit(second)), timed(ours_read)]
    for label, p, o in zip(
        ("remote: first commit", "remote: 10 of 1,000 changed", "remote: read all at head"),
        plain_times,
        our_times,
        strict=True,
    ):
        results[label] = (p, o)  # fmt: skip
    # What a sync that skips unchanged files by blob id reads first: the ids alone.
    results["remote: blob ids at head (contents=False)"] = (plain_times[2], timed(ours_ids))

    # Embedded: a local repository.
    local = scratch / f"local-{uuid.uuid4().hex[:8]}"

    def plain_local():
        plain("init", "--quiet", str(local))
        write_all(local, first)
        plain("add", "-A", cwd=local)
        plain("commit", "--quiet", "-m", "backup", cwd=local)

    embedded = GitTarget(uuid.uuid4(), None, None, "main", "dev")
    results["embedded: first commit"] = (
        timed(plain_local),
        timed(
            lambda: git.commit_changes(
                embedded, changes=first, message="backup", operation="backup"
            )
        ),
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with common.bench_environment("git") as env, tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        configure(env.settings.with_overrides(data_dir=str(data), allow_private_networks=True))
        init_engine(env.settings.database_url)
        served = Path(scratch) / "served"
        served.mkdir()
        rounds = []
        with GitHttpServer(served, {TOKEN: "write"}) as server:
            one_round(server, Path(scratch), 50)  # warm-up
            for n in range(args.rounds):
                work = Path(scratch) / f"round-{n}"
                work.mkdir()
                rounds.append(one_round(server, work, args.files))
    print(f"{args.files} files of about {len(workflow(0))} bytes, {args.rounds} rounds, median ms")
    print("| operation | plain git | services.git | ratio |")
    print("|---|---|---|---|")
    for label in rounds[0]:
        p = statistics.median(r[label][0] for r in rounds)
        o = statistics.median(r[label][1] for r in rounds)
        verdict = "met" if o / p <= TARGET_RATIO else "MISSED"
        print(f"| {label} | {p:.0f} | {o:.0f} | {o / p:.2f}x ({verdict}) |")


if __name__ == "__main__":
    main()
