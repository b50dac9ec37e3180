"""gunicorn's settings for Propusk (deploy/systemd/propusk-web.service loads this file).

The application is ``propusk.wsgi:application``: it answers HCP's event pushes before the
staff pages' middleware and takes the client's address from a trusted proxy
(PROPUSK_TRUSTED_PROXIES). Listen on the loopback only: nginx (deploy/nginx/propusk.conf)
terminates TLS in front of it.
"""

import multiprocessing
import os

bind = os.environ.get("PROPUSK_GUNICORN_BIND", "127.0.0.1:8001")
# Threads carry the webhook's bursts and the desk's photo uploads; processes the CPU.
worker_class = "gthread"
workers = int(
    os.environ.get("PROPUSK_GUNICORN_WORKERS", str(min(2 * multiprocessing.cpu_count(), 8)))
)
threads = int(os.environ.get("PROPUSK_GUNICORN_THREADS", "4"))
# A photo upload over a slow phone connection; nginx buffers the body first anyway.
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle a worker now and then (memory of decoded photos returns to the system).
max_requests = 2000
max_requests_jitter = 200
# Invitation links and the webhook carry their token in the path: no access log here
# (nginx's is configured without the path's tokens), errors to stderr (the journal).
accesslog = None
errorlog = "-"
loglevel = "info"
# Django reads X-Forwarded-Proto itself (DJANGO_BEHIND_TLS_PROXY) and the client's address
# through propusk.core.proxy: gunicorn needs to trust nothing.
forwarded_allow_ips = ""
proc_name = "propusk-web"
