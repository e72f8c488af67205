"""Serve the portal in production: waitress, with every size and wait bounded.

`python -m portal.webserver --listen 127.0.0.1:8000` (Procfile, Dockerfile, docker compose).

Why waitress rather than gunicorn's sync workers: a sync worker reads a request itself, so two
clients trickling a request body held both workers and froze the portal for 30 s. Waitress reads
each request, headers and body, whole in its I/O thread (asyncore; bodies over 512 KB spill to a
temporary file) and hands it to a worker thread only once complete; answers are buffered the
same way, so a slow reader holds no thread either. An idle connection is closed after
CHANNEL_TIMEOUT. Threads rather than processes: the views mostly wait on PostgreSQL and the
hub, and catalog pages come from an in-process cache. Threads (gunicorn's gthread) still hand
an unread request to a thread; gevent would monkey-patch psycopg, redis and the hub's OAuth
client. In docker compose a TLS proxy (Caddy, deploy/Caddyfile) also buffers bodies in front.
"""

from __future__ import annotations

import argparse

import waitress

# An idle connection (nothing received or sent) is closed after this many seconds.
CHANNEL_TIMEOUT = 30
# How often idle connections are looked for (seconds).
CLEANUP_INTERVAL = 5
# Open connections at once; more wait in the listen backlog (each costs a socket and buffers).
CONNECTION_LIMIT = 400
# GitHub's webhook payloads are at most 25 MB; nothing else the portal accepts comes close.
MAX_REQUEST_BODY_BYTES = 26 * 1024 * 1024
MAX_REQUEST_HEADER_BYTES = 64 * 1024
# Worker threads: requests being answered at once (the I/O thread holds every other connection).
# More than the hub calls may have waiting (HUB_PAGE_CONCURRENCY + HUB_LAUNCH_QUEUE = 24 in
# settings: a launch storm), so a hanging hub always leaves threads for the catalog. Threads
# waiting on the hub cost no CPU; the catalog's own work is bound by the GIL either way.
THREADS = 32


def serve_options(*, listen: str, threads: int, trusted_proxy: str = "") -> dict:
    """Return waitress' options for the portal (listen "host:port"; trusted_proxy: the proxy's
    address, or "*" when only the proxy can reach the portal, whose X-Forwarded-For and
    X-Forwarded-Proto are then believed: the client's address and https)."""
    options = {
        "listen": listen,
        "threads": threads,
        "channel_timeout": CHANNEL_TIMEOUT,
        "cleanup_interval": CLEANUP_INTERVAL,
        "connection_limit": CONNECTION_LIMIT,
        "max_request_body_size": MAX_REQUEST_BODY_BYTES,
        "max_request_header_size": MAX_REQUEST_HEADER_BYTES,
        "asyncore_use_poll": True,  # select() fails past 1,024 descriptors
        "ident": "portal",  # the Server header names no version
    }
    if trusted_proxy:
        options |= {
            "trusted_proxy": trusted_proxy,
            "trusted_proxy_count": 1,
            "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
        }
    return options


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m portal.webserver", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8000", help="host:port to listen on")
    parser.add_argument("--threads", type=int, default=THREADS, help="worker threads")
    parser.add_argument("--trusted-proxy", default="", help='the reverse proxy\'s address, or "*"')
    args = parser.parse_args(argv)

    # Imported once the arguments are read: --help needs no settings.
    from django.urls import get_resolver

    from portal.wsgi import application

    # Load every view now (seconds of imports), not in the first visitor's request.
    get_resolver().resolve("/")
    waitress.serve(
        application, **serve_options(listen=args.listen, threads=args.threads, trusted_proxy=args.trusted_proxy)
    )


if __name__ == "__main__":
    main()
