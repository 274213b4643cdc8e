"""gunicorn settings; override with GUNICORN_CMD_ARGS or environment variables."""

import multiprocessing
import os
from typing import Any

from gunicorn import glogging

bind = os.environ.get("BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))  # long uploads stream; requests are not killed early
graceful_timeout = 30
keepalive = 5
accesslog = "-"
# No client address in the access log: an anonymous report, or an envelope upload just before a deadline, must
# not be linkable to its sender by the platform's logs. The audit log records the address of every change made
# by a signed-in account.
# No referrer either: the page after a one-time link names it in its Referer.
access_log_format = '- %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(a)s" %(L)ss'
errorlog = "-"
# One-time links carry their token in the path (account links, an expert's answer to an invitation): the
# access log shows the route, not the token.
SECRET_PATH_PREFIXES = ("/auth/link/", "/experts/answer/")


class PrivateAccessLogger(glogging.Logger):
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        path = str(atoms.get("U") or "")
        for prefix in SECRET_PATH_PREFIXES:
            if path.startswith(prefix):
                atoms["U"], atoms["q"] = prefix + "<token>", ""
                atoms["r"] = f"{atoms.get('m')} {prefix}<token> {atoms.get('H')}"
        return atoms


logger_class = PrivateAccessLogger
loglevel = os.environ.get("LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190
# gunicorn ≥ 25 opens a control socket at ~/.gunicorn/gunicorn.ctl; a second server on the same machine (a
# second node of the rehearsal, a benchmark baseline) would fight over it. Nothing here uses it.
control_socket_disable = True


def post_worker_init(worker: object) -> None:
    """What is alive once the app is loaded (modules, routes, mappers, templates) lives as long as the
    worker: freeze it out of the collector's reach, so full collections walk only what requests create.
    Without it a draw over 100,000 experts spends more time in the collector than in SQL."""
    import gc

    gc.collect()
    gc.freeze()
