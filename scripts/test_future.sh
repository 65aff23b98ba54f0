#!/usr/bin/env bash
# The suite (not the chaos suite) with the clock moved ahead, a year by default: proof that no
# test depends on today's date.
#
#   scripts/test_future.sh [pytest arguments]        (make test-future)
#   TEST_FUTURE_DAYS=400 scripts/test_future.sh tests/services
#
# Every process's wall clock moves, and by the same offset: PostgreSQL and Redis (a private
# pair started here, under .data/test-future, since the ones at 127.0.0.1 keep the real clock)
# and git under Debian's libfaketime; pytest, its workers and every Python process they start
# under time-machine (tests/clock/sitecustomize.py). So now() in SQL, Redis expiries and
# Python's clock agree, a year ahead. Monotonic clocks stay real: under libfaketime, Python's
# timed waits (sem_clockwait) never return when they move and its sleeps fail when they don't,
# which is why Python is moved from inside instead.
set -euo pipefail
cd "$(dirname "$0")/.."

LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
[ -e "$LIB" ] || LIB=$(find /usr/lib -name libfaketime.so.1 2>/dev/null | head -n 1)
if [ -z "$LIB" ] || [ ! -e "$LIB" ]; then
	echo "libfaketime is missing: apt-get install faketime (make test-future installs it)" >&2
	exit 2
fi

OFFSET_DAYS="${TEST_FUTURE_DAYS:-365}"
# C programs (PostgreSQL, Redis, git): libfaketime, preloaded by the launcher below and by
# tests/clock/bin/git, never into Python (see above).
export N8NOPS_FAKETIME_LIB="$LIB"
export FAKETIME="+${OFFSET_DAYS}d"
export PATH="$PWD/tests/clock/bin:$PATH"
# Python processes: time-machine, from tests/clock/sitecustomize.py.
export N8NOPS_CLOCK_OFFSET_S=$((OFFSET_DAYS * 86400))
export PYTHONPATH="$PWD/tests/clock${PYTHONPATH:+:$PYTHONPATH}"

exec .venv/bin/python - "$@" <<'PY'
"""Start PostgreSQL and Redis under the preloaded clock, run pytest against them, stop them."""

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from scripts.embedded import EmbeddedPostgres, EmbeddedRedis

root = Path(".data/test-future").resolve()
shutil.rmtree(root, ignore_errors=True)  # a cluster from another run, maybe another offset
root.mkdir(parents=True)
postgres, redis = EmbeddedPostgres(root / "pg"), EmbeddedRedis(root / "redis")
(root / "pg").mkdir()
(root / "redis").mkdir()
os.environ["LD_PRELOAD"] = os.environ["N8NOPS_FAKETIME_LIB"]  # for these two only
postgres.start()
redis.start()
del os.environ["LD_PRELOAD"]
try:
    with psycopg.connect(host=str(postgres.socket_dir), user="postgres", dbname="postgres") as db:
        sql_now = db.execute("SELECT now()").fetchone()[0]
    python_now = datetime.now(UTC)
    print(f"test-future: Python's clock reads {python_now:%Y-%m-%d %H:%M}, PostgreSQL's "
          f"{sql_now.astimezone(UTC):%Y-%m-%d %H:%M} (UTC)", flush=True)
    real_now = datetime.fromtimestamp(int(subprocess.check_output(["date", "+%s"])), UTC)
    if abs((python_now - real_now).total_seconds() - int(os.environ["N8NOPS_CLOCK_OFFSET_S"])) > 60:
        sys.exit("test-future: Python's clock did not move")
    if abs((sql_now - python_now).total_seconds()) > 60:
        sys.exit("test-future: PostgreSQL's clock did not move with Python's")
    environ = {
        "TEST_ADMIN_DATABASE_URL": postgres.url,
        "TEST_REDIS_URL": redis.url,
    }
    command = [".venv/bin/pytest", "-n", "auto", "-p", "no:cacheprovider", "-p", "no:time_machine"]
    command += sys.argv[1:]
    code = subprocess.run(command, env={**os.environ, **environ}).returncode
finally:
    redis.stop()
    postgres.stop()
sys.exit(code)
PY
