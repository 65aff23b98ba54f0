#!/usr/bin/env bash
# The suite (not the chaos suite) with the clock moved ahead, a year by default: proof that no
# test depends on today's date.
#
#   scripts/test_future.sh [pytest arguments]        (make test-future)
#   TEST_FUTURE_DAYS=400 scripts/test_future.sh tests/services
#
# Every process the tests use moves by the same offset: pytest, its workers and every Python
# process they start under time-machine (tests/clock/sitecustomize.py), with monotonic clocks
# left real; git, and a private PostgreSQL and Redis (under .data/test-future: the ones at
# 127.0.0.1 keep the real clock) under Debian's libfaketime. So now() in SQL, Redis's clock and
# Python's agree, a year ahead. Python is moved from inside because under libfaketime its timed
# waits (sem_clockwait) never return when monotonic clocks move and its sleeps fail when they
# do not. PostgreSQL's own timers (lock_timeout) never fire under libfaketime: the two tests
# that wait for one are deselected here (NEED_SQL_TIMERS) and run in `make test`.
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
"""Start PostgreSQL and Redis under libfaketime, check every clock moved, run pytest."""

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import redis as redis_client

from scripts.embedded import EmbeddedPostgres, EmbeddedRedis

#: Tests that need PostgreSQL's own timers (lock_timeout), which never fire under libfaketime.
NEED_SQL_TIMERS = (
    "tests/git/test_remote.py::test_a_branch_that_never_stops_moving_gives_up",
    "tests/git/test_remote.py::test_another_process_holding_the_repository_makes_us_wait_then_busy",
)

root = Path(".data/test-future").resolve()
shutil.rmtree(root, ignore_errors=True)  # a cluster from another run, maybe another offset
(root / "pg").mkdir(parents=True)
(root / "redis").mkdir()
postgres, redis = EmbeddedPostgres(root / "pg"), EmbeddedRedis(root / "redis")
os.environ["LD_PRELOAD"] = os.environ["N8NOPS_FAKETIME_LIB"]  # for these two only
postgres.start()
redis.start()
del os.environ["LD_PRELOAD"]
try:
    with psycopg.connect(host=str(postgres.socket_dir), user="postgres", dbname="postgres") as db:
        sql_now = db.execute("SELECT now()").fetchone()[0]
    redis_now = datetime.fromtimestamp(redis_client.Redis.from_url(redis.url).time()[0], UTC)
    python_now = datetime.now(UTC)
    real_now = datetime.fromtimestamp(int(subprocess.check_output(["date", "+%s"])), UTC)
    print(f"test-future: {python_now:%Y-%m-%d %H:%M} UTC in Python, PostgreSQL and Redis "
          f"({real_now:%Y-%m-%d} outside)", flush=True)
    offset = int(os.environ["N8NOPS_CLOCK_OFFSET_S"])
    if abs((python_now - real_now).total_seconds() - offset) > 60:
        sys.exit("test-future: Python's clock did not move")
    for name, now in (("PostgreSQL", sql_now), ("Redis", redis_now)):
        if abs((now - python_now).total_seconds()) > 60:
            sys.exit(f"test-future: {name}'s clock did not move with Python's")
    command = [".venv/bin/pytest", "-n", "auto", "-p", "no:cacheprovider", "-p", "no:time_machine"]
    command += [f"--deselect={test}" for test in NEED_SQL_TIMERS] + sys.argv[1:]
    environ = {**os.environ, "TEST_ADMIN_DATABASE_URL": postgres.url, "TEST_REDIS_URL": redis.url}
    code = subprocess.run(command, env=environ).returncode
finally:
    redis.stop()
    postgres.stop()
sys.exit(code)
PY
