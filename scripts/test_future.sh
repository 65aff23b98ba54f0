#!/usr/bin/env bash
# The suite (not the chaos suite) with the clock moved ahead, a year by default: proof that no
# test depends on today's date.
#
#   scripts/test_future.sh [pytest arguments]        (make test-future)
#   FAKETIME_OFFSET=+400d scripts/test_future.sh tests/services
#
# Debian's libfaketime is preloaded into pytest and so into everything it starts. The
# PostgreSQL and Redis at 127.0.0.1 run on the real clock, so a private PostgreSQL and Redis
# (the embedded ones of `make run`, under .data/test-future) are started here under the same
# offset: now() in SQL, key expiry in Redis and time in Python all agree, a year ahead.
# Monotonic clocks move by the same offset (libfaketime 0.9.10 fails Python's sleep with
# EINVAL when they are left real), so intervals measured with them are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
[ -e "$LIB" ] || LIB=$(find /usr/lib -name libfaketime.so.1 2>/dev/null | head -n 1)
if [ -z "$LIB" ] || [ ! -e "$LIB" ]; then
	echo "libfaketime is missing: apt-get install faketime (make test-future installs it)" >&2
	exit 2
fi

export LD_PRELOAD="$LIB"
export FAKETIME="${FAKETIME_OFFSET:-+1y}"

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
postgres.start()
redis.start()
try:
    with psycopg.connect(host=str(postgres.socket_dir), user="postgres", dbname="postgres") as db:
        sql_now = db.execute("SELECT now()").fetchone()[0]
    python_now = datetime.now(UTC)
    print(f"test-future: Python's clock reads {python_now:%Y-%m-%d %H:%M}, PostgreSQL's "
          f"{sql_now.astimezone(UTC):%Y-%m-%d %H:%M} (UTC)", flush=True)
    if abs((sql_now - python_now).total_seconds()) > 60:
        sys.exit("test-future: PostgreSQL's clock did not move with Python's")
    environ = {
        "TEST_ADMIN_DATABASE_URL": postgres.url,
        "TEST_REDIS_URL": redis.url,
    }
    command = [".venv/bin/pytest", "-n", "auto", "-p", "no:cacheprovider", *sys.argv[1:]]
    code = subprocess.run(command, env={**os.environ, **environ}).returncode
finally:
    redis.stop()
    postgres.stop()
sys.exit(code)
PY
