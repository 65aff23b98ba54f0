"""psycopg under gevent (the web worker's model) with models.cooperative_wait installed: every
statement, pipelined or not, still gets its results, and a greenlet waiting on PostgreSQL
lets the others run. In a child process: monkey-patching must come before anything else."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import json, sys, time

    import gevent
    import psycopg
    from psycopg import waiting

    from models import cooperative_wait

    cooperative_wait.install()
    url = sys.argv[1]

    def sleeper(n):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT pg_sleep(0.3)")
            with conn.pipeline():
                conn.execute("BEGIN")
                first = conn.execute("SELECT set_config('app.x', %s, true)", [str(n)])
                second = conn.execute("SELECT current_setting('app.x') || '!'")
            conn.execute("COMMIT")
            doubled = conn.execute("SELECT %s::int * 2", [n]).fetchone()[0]
            return first.fetchone()[0], second.fetchone()[0], doubled

    started = time.monotonic()
    results = [g.get() for g in [gevent.spawn(sleeper, n) for n in range(8)]]
    print(json.dumps({
        "installed": waiting.wait is cooperative_wait.wait,
        "results": results,
        "elapsed": time.monotonic() - started,
    }))
    """
)


def test_waits_under_gevent_return_every_result_and_overlap(database):
    url = database["app"].replace("postgresql+psycopg://", "postgresql://")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["installed"]
    assert report["results"] == [[str(n), f"{n}!", 2 * n] for n in range(8)]
    # Eight 0.3 s sleeps one after the other would take 2.4 s.
    assert report["elapsed"] < 1.5, report["elapsed"]


def test_without_gevent_psycopg_keeps_its_own_wait():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from psycopg import waiting; before = waiting.wait\n"
            "from models import cooperative_wait; cooperative_wait.install()\n"
            "print(waiting.wait is before)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    assert done.stdout.strip() == "True"
