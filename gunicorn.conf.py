"""gunicorn's settings for the web process (Procfile: gunicorn --config gunicorn.conf.py).

- gevent workers (WEB_WORKER_CLASS=gthread for threads), WEB_CONCURRENCY of them, bound to
  $PORT: every open event stream (GET /api/v1/events/stream, the dashboard's live updates)
  holds its request for as long as the client stays, which costs a greenlet (a few KiB) under
  gevent but a whole thread under gthread, so a thousand subscribers would starve a thread
  pool of its API requests (bench/RESULTS.md, "Live updates"). psycopg 3 and redis-py
  cooperate with gevent's monkey-patching;
- no control socket: gunicorn >= 25.1 would otherwise open one in a directory shared by every
  gunicorn of the user ($XDG_RUNTIME_DIR or ~/.gunicorn), where any process of the same user
  could scale or stop this one. GUNICORN_CONTROL_SOCKET names a private path to enable it;
- hard limits on the request line and headers above the app's own (web/observability.py), so
  an oversized request gets the API's JSON error unless it is far beyond any real client;
- error and access logs as JSON lines, like the app's (services/logs.py);
- Prometheus metrics of all workers (multiprocess mode) served by the master on
  WEB_METRICS_PORT at METRICS_HOST; presence (with encryption key ids) from each worker.
"""

import gc
import os
import shutil
import tempfile
import threading
import time

# Values are chosen before prometheus_client is first imported (in the app, after the fork).
_metrics_dir_is_ours = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _metrics_dir_is_ours:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="n8nops-web-metrics-")

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
worker_class = os.environ.get("WEB_WORKER_CLASS", "gevent")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
#: gthread only: threads per worker.
threads = int(os.environ.get("WEB_THREADS", "4"))
#: gevent only: connections one worker holds at once (event streams included).
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS", "4000"))

if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
    control_socket_mode = 0o600
else:
    control_socket_disable = True

#: Bytes of the request line (gunicorn's maximum); the app refuses URLs over 4 KiB as JSON.
limit_request_line = 8190
#: Header fields; the app refuses more than 64 as JSON.
limit_request_fields = 128
#: Bytes of one header field; the app refuses fields over 8 KiB, and over 16 KiB in all.
limit_request_field_size = 16380

accesslog = "-"
errorlog = "-"
logger_class = "services.logs.GunicornLogger"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def when_ready(server):
    from services import metrics
    from services.config import Settings

    settings = Settings.from_env()
    metrics.serve(settings.web_metrics_port, settings.metrics_host, multiprocess=True)


def post_worker_init(worker):
    from services import config, presence

    # What the worker loaded lives as long as it does: a full collection walking all of it
    # (about 235,000 objects) stalls every request of a gevent worker for over 100 ms, which
    # was the poll's p99 (bench/RESULTS.md). Frozen, collections walk only what requests make.
    gc.collect()
    gc.freeze()
    worker.log.info("heap frozen: %d objects", gc.get_freeze_count())
    presence.start("web", config.current())
    threading.Thread(target=_end_streams_when_stopping, args=(worker,), daemon=True).start()


def _end_streams_when_stopping(worker):
    # A stopping worker waits for its open connections (up to graceful_timeout): its event
    # streams end as soon as it stops accepting, and their clients reconnect elsewhere.
    from services import live

    while worker.alive:
        time.sleep(0.5)
    live.end_streams()


def worker_exit(server, worker):
    from services import presence

    presence.stop()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir_is_ours:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
