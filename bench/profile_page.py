"""Profile one page of the benchmark in-process, to see where its time goes.

    .venv/bin/python bench/profile_page.py "deviation board" [--n 30] [--sort cumulative]

Runs against the plant ``bench/pages.py`` built (database ``--db``, default ``mes_bench``),
with the benchmark settings, through Django's test client as the page's user. Prints the
mean time per request of the page and of the floor, then the cProfile statistics of the page's
requests (the first, warming, request is not profiled).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", help="a page name from bench/pages.py PAGES")
    parser.add_argument("--db", default="mes_bench")
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--lines", type=int, default=45)
    args = parser.parse_args(argv)

    pg = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    os.environ.update({"DATABASE_URL": f"{pg}/{args.db}",
                       "DJANGO_SETTINGS_MODULE": "bench.settings",
                       "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
                       "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost"})
    import django

    django.setup()
    from django.test import Client
    from django.urls import reverse

    from bench.pages import FLOOR, PAGES, find_targets
    from mes.models import User

    page = next(p for p in PAGES if p.name == args.page)
    kwargs = find_targets()[page.target] if page.target else {}
    url = reverse(page.url_name, kwargs=kwargs) + (f"?{page.query}" if page.query else "")
    client = Client(HTTP_ACCEPT="application/json" if page.api else "text/html")
    client.force_login(User.objects.get(username=page.user))

    def timed(path: str, n: int) -> str:
        """Wall and CPU (this process) ms per request, the best of three rounds: CPU time is
        what rendering costs even when other processes share the machine."""
        best_wall = best_cpu = float("inf")
        for _ in range(3):
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                response = client.get(path)
                assert response.status_code == 200, (path, response.status_code)
            best_wall = min(best_wall, (time.perf_counter() - wall) / n * 1000)
            best_cpu = min(best_cpu, (time.process_time() - cpu) / n * 1000)
        return f"{best_wall:6.1f} ms (cpu {best_cpu:5.1f})"

    floor = reverse(FLOOR)
    timed(url, 2)
    timed(floor, 2)
    print(f"page {timed(url, args.n)}   floor {timed(floor, args.n)}   {url}")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.n):
        client.get(url)
    profiler.disable()
    pstats.Stats(profiler).strip_dirs().sort_stats(args.sort).print_stats(args.lines)


if __name__ == "__main__":
    main()
