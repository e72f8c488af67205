"""Catalog throughput under gunicorn with 1,000 workshops in PostgreSQL, against a trivial view.

Last line: catalog_rps=... search_rps=... detail_rps=... ceiling_rps=... catalog_ratio=...
search_ratio=... detail_ratio=... p99_ms=...
"""

from __future__ import annotations

import argparse
import re
import subprocess
from statistics import median

from _common import django_setup, fresh_database, gunicorn

WORKSHOPS = 1000


def populate(count: int) -> None:
    """Insert count realistic workshops with three notebooks each."""
    from django.utils import timezone

    from catalog.models import Notebook, Workshop
    from catalog.sync import _refresh_search_vectors

    products = ["iLO", "Redfish", "OneView", "GreenLake", "PowerShell", "Python"]
    levels = ["beginner", "intermediate", "advanced"]
    now = timezone.now()
    workshops = Workshop.objects.bulk_create(
        Workshop(
            slug=f"workshop-{i:04d}",
            folder=f"workshop-{i:04d}",
            title=f"{products[i % 6]} API workshop {i}",
            summary=f"Hands-on {products[i % 6]} REST calls, sessions and automation, part {i}.",
            description="## What you learn\n\nSessions, pagination, tasks.\n" * 5,
            description_html="<h2>What you learn</h2><p>Sessions, pagination, tasks.</p>" * 5,
            tags=["rest", "automation", f"topic{i % 17}"],
            products=[products[i % 6], products[(i + 1) % 6]],
            kernels=["python3"] if i % 5 else ["powershell"],
            level=levels[i % 3],
            duration_minutes=30 + (i % 8) * 15,
            featured=i % 50 == 0,
            published=True,
            commit_sha="a" * 40,
            content_updated_at=now,
            search_text=f"redfish sessions tokens pagination {products[i % 6]} workshop {i} systems chassis",
        )
        for i in range(count)
    )
    Notebook.objects.bulk_create(
        Notebook(workshop=w, path=f"{n}-Part{n}.ipynb", position=n, title=f"Part {n}",
                 headings=[{"level": 2, "text": f"Step {k}", "anchor": f"Step-{k}"} for k in range(6)],
                 kernel="python3", preview_html="<p>preview</p>" * 200, size=20000)
        for w in workshops for n in range(3)
    )  # fmt: skip
    _refresh_search_vectors([w.pk for w in workshops])


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float]:
    """Load url with wrk; return (requests per second, p99 latency in ms)."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    if "Non-2xx" in out:
        raise RuntimeError(f"errors while loading {url}:\n{out}")
    return rps, p99


def main() -> None:
    """Populate, serve, load each page and the ceiling, print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    env = {"DATABASE_URL": fresh_database("bench_catalog"), "DEBUG": "false", "SECRET_KEY": "bench-only-key",
           "PORTAL_IGNORE_DOTENV": "1", "LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "127.0.0.1"}  # fmt: skip
    django_setup(env)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    populate(WORKSHOPS)
    pages = {
        "ceiling": "/healthz",
        "catalog": "/workshops/",
        "search": "/workshops/?q=redfish+sessions&level=beginner",
        "detail": "/workshops/workshop-0042/",
    }
    with gunicorn(env) as base:
        for path in pages.values():  # warm up: connections, caches, compiled templates
            wrk(base + path, 2, args.connections)
        # Interleaved rounds, median per page: a busy machine slows every page alike.
        rounds = [{name: wrk(base + path, args.seconds, args.connections) for name, path in pages.items()}
                  for _ in range(args.rounds)]  # fmt: skip
        results = {name: (median(r[name][0] for r in rounds), median(r[name][1] for r in rounds)) for name in pages}
    ceiling = results["ceiling"][0]
    for name, (rps, p99) in results.items():
        print(f"{name:8} {rps:8.0f} req/s  p99 {p99:6.1f} ms  ({base}{pages[name]})")
    p99 = max(p for name, (_, p) in results.items() if name != "ceiling")
    print(
        f"catalog_rps={results['catalog'][0]:.0f} search_rps={results['search'][0]:.0f} "
        f"detail_rps={results['detail'][0]:.0f} ceiling_rps={ceiling:.0f} "
        f"catalog_ratio={results['catalog'][0] / ceiling:.2f} search_ratio={results['search'][0] / ceiling:.2f} "
        f"detail_ratio={results['detail'][0] / ceiling:.2f} p99_ms={p99:.1f}"
    )


if __name__ == "__main__":
    main()
