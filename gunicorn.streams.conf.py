"""gunicorn settings of the stream service (app/core/stream_service.py): Server-Sent Events on asyncio.

    gunicorn -c gunicorn.streams.conf.py 'app.core.stream_service:create_asgi_app()'

nginx sends the stream paths here (deploy/nginx/ggzy-locations.conf); everything else goes to the request
workers (gunicorn.conf.py). One process holds thousands of idle streams; a second one is for a second core
or a restart without a gap. Needs REDIS_URL (the events come from the request workers through Redis)."""

import os

bind = os.environ.get("STREAMS_BIND", "127.0.0.1:5001")
workers = int(os.environ.get("STREAMS_WORKERS", "1"))
worker_class = "asgi"
worker_connections = int(os.environ.get("STREAMS_CONNECTIONS", "10000"))  # open streams per process
timeout = 30  # heartbeat of the event loop, not a limit on a stream
graceful_timeout = 10
keepalive = 5
accesslog = os.environ.get("STREAMS_ACCESS_LOG", "-")
# As the request workers (gunicorn.conf.py): no client address and no referrer. Who watches an opening hall
# before the record is public must not be linkable to an address by the platform's logs.
access_log_format = '- %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(a)s" %(L)ss'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190
control_socket_disable = True
