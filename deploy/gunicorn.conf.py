"""gunicorn settings for `make serve` and deploy/zeke-rft-web.service; every value from the environment.

HOST/PORT: where to listen (127.0.0.1:8000; the reverse proxy forwards to it).
WEB_CONCURRENCY: worker processes (2). GUNICORN_TIMEOUT: seconds before a stuck worker is restarted (60).
PROMETHEUS_MULTIPROC_DIR: when set, request metrics of every worker are summed on /metrics.
"""

import os
import shutil
from pathlib import Path

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# Requests are logged by zeke_rft.observability (JSON, with the request id); no second access log.
accesslog = None
errorlog = "-"
# The ingestion API takes up to 20 MB bodies: let workers recycle now and then to cap memory growth.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    """Start with an empty multiprocess folder: files left by a previous run would be summed in."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        Path(folder).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl): two instances on
# one machine (blue/green, CI beside a dev server) would fight over it. Off unless asked for.
control_socket_disable = os.environ.get("GUNICORN_CONTROL_SOCKET", "") == ""
if not control_socket_disable:
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
