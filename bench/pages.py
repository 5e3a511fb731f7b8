"""Page benchmark: every page of issue 10 under gunicorn on PostgreSQL, against the floor.

One command::

    .venv/bin/python bench/pages.py --scale 0.05 --out var/bench/pages.json

creates (or reuses) the PostgreSQL database ``--db`` (default ``mes_bench``), migrates it,
builds the busy plant (bench/plant.py) if it is not there yet, starts gunicorn (two sync
workers) on loopback with the benchmark settings (bench/settings.py, which add the floor
view), logs each page's user in through the login form, and measures every page in PAGES at
1 and at 8 concurrent clients. Each client alternates the page with the floor, so both see the
same machine state. Then it measures ingestion through the API. It prints a table and writes
the same numbers as JSON.

Adding a page: add a row to PAGES (and, if its URL needs a record, a key to TARGETS and to
``find_targets``). This module imports nothing from Django at import time, so the table can
be checked by tests/test_bench_harness.py without a server.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "bench-floor"


@dataclass(frozen=True)
class Page:
    name: str
    url_name: str
    user: str  # the demo username who opens it (their role's view of the page)
    target: str = ""  # key of TARGETS: which record the URL points at
    query: str = ""  # appended as ?query
    api: bool = False  # ask for JSON
    terminal: bool = False  # from the busy batch's suite terminal (its cookie)


ROLE_HOMES = [("Administrator", "admin"), ("Operator", "operator"), ("Supervisor", "supervisor"),
              ("QA Reviewer", "qa"), ("Qualified Person", "qp"), ("Planner", "planner"),
              ("Trainer", "trainer")]

PAGES: list[Page] = [
    Page("certification matrix", "training:matrix", "trainer"),
    Page("deviation board", "deviations:board", "qa"),
    Page("lot list", "reagents:lot-list", "qa"),
    Page("batch list", "batchrecords:batch-list", "qa"),
    Page("lot page (busy lot)", "reagents:lot-detail", "qa", target="lot"),
    Page("lot genealogy (busy lot)", "reagents:lot-genealogy", "qa", target="lot"),
    Page("shipment page (busy shipment)", "custody:shipment-detail", "operator",
         target="shipment"),
    Page("shipment chart (busy shipment)", "custody:shipment-chart", "operator",
         target="shipment"),
    Page("audit trail (busy lot)", "audit-trail", "qa", target="lot_audit"),
    Page("patient page", "custody:patient-detail", "operator", target="patient"),
    Page("chain-of-custody report", "custody:chain-report", "operator", target="patient"),
    Page("batch step page (terminal)", "batchrecords:terminal-step", "operator",
         target="batch_step", terminal=True),
    Page("batch overview", "batchrecords:batch-detail", "qa", target="batch"),
    Page("OpenAPI schema", "api-schema", "admin", api=True),
    *[Page(f"home ({role})", "home", username) for role, username in ROLE_HOMES],
    Page("API deviations", "api-deviation-list", "qa", api=True),
    Page("API lots", "api-reagents-lot-list", "qa", api=True),
    Page("API patients", "api-custody-patient-list", "operator", api=True),
    Page("API custody events", "api-custody-event-list", "operator", api=True),
    Page("API shipments", "api-custody-shipment-list", "operator", api=True),
    Page("API certifications", "api-certification-list", "trainer", api=True),
    Page("API training records", "api-training-record-list", "trainer", api=True),
    Page("API users", "api-user-list", "admin", api=True),
    Page("API batches", "api-batchrecords-batch-list", "qa", api=True),
]

# The URL kwargs of each target, with example values (the real ones come from find_targets).
TARGETS: dict[str, dict] = {
    "lot": {"pk": 1},
    "shipment": {"pk": 1},
    "patient": {"pk": 1},
    "lot_audit": {"app_label": "reagents", "model_name": "reagentlot", "pk": 1},
    "batch": {"pk": 1},
    "batch_step": {"pk": 1, "run_pk": 1},
}


def find_targets() -> dict[str, dict]:
    """The busy records of the built plant (run in a configured Django process)."""
    from django.db.models import Count

    from bench import batch_records
    from bench.plant import BUSY_LOT, busy_shipment
    from custody.models import Patient
    from reagents.models import ReagentLot

    lot = ReagentLot.objects.get(supplier_lot=BUSY_LOT)
    patient = Patient.objects.annotate(n=Count("custody_events")).order_by("-n", "pk").first()
    return {"lot": {"pk": lot.pk}, "shipment": {"pk": busy_shipment().pk},
            "patient": {"pk": patient.pk},
            "lot_audit": {"app_label": "reagents", "model_name": "reagentlot", "pk": lot.pk},
            **batch_records.targets()}


# --- the database --------------------------------------------------------------------------

def ensure_database(url: str, *, rebuild: bool) -> bool:
    """Create the database if missing (drop it first with ``rebuild``); True if created."""
    import psycopg
    from psycopg import sql

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if rebuild:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return not exists


def prepare(args) -> dict:
    """Migrate, build the plant if absent, and return what the run needs."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import get_hashers, get_hashers_by_algorithm
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    marker = Path(args.marker)
    built = json.loads(marker.read_text()) if marker.exists() else None
    if built and (built["scale"] != args.scale or (
            args.batches is not None and built["size"]["batches"] != args.batches)):
        sys.exit(f"{args.db} holds a plant at scale {built['scale']}; run with --rebuild "
                 f"(or another --db) for scale {args.scale}.")
    if not built:
        from bench import plant
        from mes.models import User

        if User.objects.filter(username="admin").exists():
            sys.exit(f"{args.db} holds data but no finished plant (an interrupted build?); "
                     "run with --rebuild.")

        # The build signs thousands of records: a fast hasher keeps it to minutes. The login
        # through gunicorn upgrades each user's hash to the project's first hasher.
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher",
                                     *settings.PASSWORD_HASHERS]
        get_hashers.cache_clear()
        get_hashers_by_algorithm.cache_clear()
        size = plant.build(args.scale)
        if args.batches is not None:
            size = replace(size, batches=args.batches)
        from bench import batch_records

        batches = batch_records.grow_batches(size.batches, rng=random.Random(plant.SEED),
                                             say=plant.Progress())
        built = {"scale": args.scale, "size": asdict(size), "batches": batches}
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(built))
    built["targets"] = find_targets()
    built["counts"] = plant_counts()
    return built


def plant_counts() -> dict:
    from custody.models import CustodyEvent, Patient, TemperatureReading
    from deviations.models import Deviation
    from mes.models import User
    from reagents.models import StockEntry
    from training.models import Certification, Qualification

    return {"people": User.objects.count(), "qualifications": Qualification.objects.count(),
            "certifications": Certification.objects.count(),
            "deviations": Deviation.objects.count(), "patients": Patient.objects.count(),
            "custody_events": CustodyEvent.objects.count(),
            "readings": TemperatureReading.objects.count(),
            "stock_entries": StockEntry.objects.count()}


def page_url(page: Page, targets: dict) -> str:
    from django.urls import reverse

    url = reverse(page.url_name, kwargs=targets.get(page.target, {}) if page.target else {},
                  urlconf="bench.urls")
    return f"{url}?{page.query}" if page.query else url


# --- the server and clients ----------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, env: dict, log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "mes.wsgi:application", "--workers", "2",
         "--worker-class", "sync", "--bind", f"127.0.0.1:{port}", "--timeout", "300",
         "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    import requests

    for _ in range(120):
        try:
            # /login/, not /health/: health also wants a Celery worker, which the bench has not.
            if requests.get(f"http://127.0.0.1:{port}/login/", timeout=10).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited; see {log}")
        time.sleep(0.5)
    proc.terminate()
    sys.exit(f"gunicorn did not answer; see {log}")


def log_in(base: str, username: str, password: str) -> dict:
    """A session through the real login form (CSRF token, axes, session row)."""
    import requests

    s = requests.Session()
    s.get(f"{base}/login/", timeout=30)
    r = s.post(f"{base}/login/", data={
        "username": username, "password": password,
        "csrfmiddlewaretoken": s.cookies.get("csrftoken", "")},
        headers={"Referer": f"{base}/login/"}, allow_redirects=False, timeout=60)
    if "sessionid" not in s.cookies:
        sys.exit(f"login of {username} failed (HTTP {r.status_code})")
    return s.cookies.get_dict()


def percentile(sorted_ms: list[float], q: float) -> float:
    if len(sorted_ms) == 1:
        return sorted_ms[0]
    rank = q / 100 * (len(sorted_ms) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(sorted_ms) - 1)
    return sorted_ms[low] + (sorted_ms[high] - sorted_ms[low]) * (rank - low)


def burst(base: str, url: str, cookies: dict, *, clients: int, rounds: int, api: bool):
    """``clients`` threads, each ``rounds`` times: the page and the floor, in alternating
    order. Returns page timings, floor timings, statuses and the page's size."""
    import requests

    page_ms, floor_ms, statuses, sizes = [], [], set(), []
    lock = threading.Lock()
    start = threading.Barrier(clients)
    floor_url = f"{base}/bench/floor/"

    def client(n: int) -> None:
        s = requests.Session()
        s.cookies.update(cookies)
        headers = {"Accept": "application/json"} if api else {}
        start.wait()
        for r in range(rounds):
            order = [(url, headers, True), (floor_url, {}, False)]
            for target, hdrs, is_page in (order if (n + r) % 2 == 0 else order[::-1]):
                t0 = time.perf_counter()
                resp = s.get(base + target if is_page else target, headers=hdrs,
                             allow_redirects=False, timeout=300)
                body = resp.content
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    if is_page:
                        page_ms.append(ms)
                        statuses.add(resp.status_code)
                        sizes.append(len(body))
                    else:
                        floor_ms.append(ms)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return page_ms, floor_ms, statuses, max(sizes)


def summarise(ms: list[float], clients: int) -> dict:
    ordered = sorted(ms)
    # Closed system (each client waits for its answer): throughput = clients / mean latency.
    return {"n": len(ordered), "p50_ms": round(percentile(ordered, 50), 1),
            "p95_ms": round(percentile(ordered, 95), 1),
            "p99_ms": round(percentile(ordered, 99), 1),
            "rps": round(clients / (statistics.fmean(ordered) / 1000), 1)}


# --- ingestion -----------------------------------------------------------------------------

def fresh_shipment() -> tuple[int, str, object]:
    """A new shipment in transit (collected, packed, shipped ten days ago), and the API token
    of the clinic operator who ships it."""
    import datetime as dt

    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from custody.demo import _journey
    from custody.models import ContainerType, Product
    from custody.services import coldchain, orders
    from custody.services.events import Handoff, record_custody_event
    from mes.demo import DEMO_PASSWORD
    from mes.models import Site, User

    people = {u.username: u for u in User.objects.filter(
        username__in=["planner", "operator", "operator2", "qp"])}
    lei, umcu = Site.objects.get(code="LEI"), Site.objects.get(code="UMCU")
    stamp = timezone.now().strftime("%m%d%H%M%S")
    order = orders.place_order(actor=people["planner"], request=orders.OrderRequest(
        product=Product.objects.get(code="CART-19"), manufacturing_site=lei,
        ordering_site=umcu, initials="IN", date_of_birth=dt.date(1970, 1, 1),
        full_name=f"Ingestion Patient {stamp}", hospital_record_number=f"ING-{stamp}",
        planned_collection_date=timezone.localdate(), external_reference=f"INGEST-{stamp}"))
    _journey(order, "collected", people, lei, umcu, days_ago=12)
    patient, clinic = order.patient, people["operator2"]
    shipped_at = timezone.now() - dt.timedelta(days=10)
    shipment = coldchain.create_shipment(
        actor=clinic, patient=patient, origin=umcu, destination=lei,
        container_type=ContainerType.objects.get(code="LN2-DRY"),
        container_id=f"DS-I{patient.coi[-4:]}", carrier="Cryoport")
    for kind, when, ship in (("packed", shipped_at - dt.timedelta(hours=1), None),
                             ("shipped", shipped_at, shipment)):
        record_custody_event(actor=clinic, password=DEMO_PASSWORD, handoff=Handoff(
            patient=patient, site=umcu, kind=kind, occurred_at=when,
            container_id="BAG-" + patient.coi[-6:], label_scan=patient.isbt.barcode_data,
            shipment=ship))
    token, _ = Token.objects.get_or_create(user=clinic)
    return shipment.pk, token.key, shipped_at


def measure_ingestion(base: str, shipment_pk: int, token: str, shipped_at, *,
                      batch: int = 500, total: int = 6000) -> dict:
    """Post ``total`` readings in batches to the fresh shipment, after warming the workers;
    readings/s of the first 1,000 and of the 1,000 after 5,000."""
    import datetime as dt

    import requests

    url = f"{base}/api/v1/custody/shipments/{shipment_pk}/readings/"
    headers = {"Authorization": f"Token {token}"}
    # Warm both workers on this path first (their first request imports and compiles what
    # ingestion uses): four one-reading batches timed before the measured ones, not counted.
    for n in range(4):
        warm = [{"recorded_at": (shipped_at + dt.timedelta(seconds=n + 1)).isoformat(),
                 "celsius": "-185", "logger_id": "TL-WARM"}]
        requests.post(url, json={"readings": warm}, headers=headers, timeout=60)
    rates = []
    for n in range(total // batch):
        readings = [{"recorded_at": (shipped_at + dt.timedelta(seconds=30 * (n * batch + i + 1))
                                     ).isoformat(),
                     "celsius": str(-185 + (n * batch + i) % 9), "logger_id": "TL-ING"}
                    for i in range(batch)]
        t0 = time.perf_counter()
        r = requests.post(url, json={"readings": readings}, headers=headers, timeout=300)
        seconds = time.perf_counter() - t0
        if r.status_code != 201:
            return {"error": f"HTTP {r.status_code}: {r.text[:300]}"}
        rates.append((n * batch, batch / seconds))

    def rate(start: int) -> float:
        window = [r for at, r in rates if start <= at < start + 1000]
        return round(len(window) / sum(1 / r for r in window), 0)  # harmonic: time-weighted

    return {"batch": batch, "start_readings_per_s": rate(0),
            "after_5000_readings_per_s": rate(5000),
            "per_batch": [{"at": at, "readings_per_s": round(r)} for at, r in rates]}


# --- the run -------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--db", default="mes_bench")
    parser.add_argument("--rebuild", action="store_true", help="drop and rebuild the plant")
    parser.add_argument("--samples", type=int, default=30,
                        help="page requests per page and client count (split over clients)")
    parser.add_argument("--clients", default="1,8")
    parser.add_argument("--only", default="", help="measure only pages whose name has this")
    parser.add_argument("--batches", type=int, default=None,
                        help="patients' batches of 40 steps to build (default: 200 × scale)")
    parser.add_argument("--no-ingestion", action="store_true")
    parser.add_argument("--no-perform", action="store_true",
                        help="skip performing batch steps through the API")
    parser.add_argument("--out", default="var/bench/pages.json")
    args = parser.parse_args(argv)

    pg = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    url = f"{pg}/{args.db}"
    args.marker = str(ROOT / "var" / "bench" / f"{args.db}.built.json")
    if ensure_database(url, rebuild=args.rebuild) and Path(args.marker).exists():
        Path(args.marker).unlink()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "bench.settings",
           "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
           "DEBUG": "0", "PYTHONPATH": str(ROOT)}
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    built = prepare(args)
    print(f"plant: scale {args.scale}, {built['counts']}", flush=True)
    ingest = None if args.no_ingestion else fresh_shipment()
    from bench import batch_records

    perform = None if args.no_perform else batch_records.perform_requests(33)
    secrets = built["batches"]["terminal_secrets"]
    terminal_cookie = {"mes_terminal": secrets[str(built["targets"]["batch_suite"])]}

    from django.db import connections

    from mes.demo import DEMO_PASSWORD

    pages = [p for p in PAGES if args.only.lower() in p.name.lower()]
    urls = {p.name: page_url(p, built["targets"]) for p in pages}
    connections.close_all()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_gunicorn(port, env, ROOT / "var" / "bench" / "gunicorn.log")
    try:
        cookies = {u: log_in(base, u, DEMO_PASSWORD) for u in sorted({p.user for p in pages})}
        results = []
        for page in pages:
            if page.terminal:
                cookies[page.user] = {**cookies[page.user], **terminal_cookie}
            burst(base, urls[page.name], cookies[page.user], clients=1, rounds=1, api=page.api)
            for clients in [int(c) for c in args.clients.split(",")]:
                rounds = max(2, math.ceil(args.samples / clients))
                page_ms, floor_ms, statuses, size = burst(
                    base, urls[page.name], cookies[page.user], clients=clients, rounds=rounds,
                    api=page.api)
                results.append({"page": page.name, "url": urls[page.name], "user": page.user,
                                "clients": clients, "status": sorted(statuses), "bytes": size,
                                **summarise(page_ms, clients),
                                "floor": summarise(floor_ms, clients)})
            print(f"  measured {page.name}", flush=True)
        ingestion = measure_ingestion(base, *ingest) if ingest else None
        performed = (batch_records.measure_perform(base, perform[0], perform[1], secrets)
                     if perform else None)
    finally:
        server.terminate()
        server.wait(timeout=30)
    report = build_report(args, built, results, ingestion)
    report["perform_step"] = performed
    print(format_table(report))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwritten: {out}")


def build_report(args, built, results, ingestion) -> dict:
    floors = {}
    for clients in {r["clients"] for r in results}:
        samples = [r["floor"]["p50_ms"] for r in results if r["clients"] == clients]
        floors[clients] = round(statistics.median(samples), 1)
    for r in results:
        r["x_floor"] = round(r["p50_ms"] / floors[r["clients"]], 1)
    return {"scale": args.scale, "size": built["size"], "counts": built["counts"],
            "server": "gunicorn, 2 sync workers, PostgreSQL, loopback",
            "floor_p50_ms": floors, "pages": results, "ingestion": ingestion,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def format_table(report: dict) -> str:
    lines = [f"floor p50 (ms) by clients: {report['floor_p50_ms']}",
             f"{'page':<34} {'cl':>2} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7} "
             f"{'×floor':>7} {'KB':>6} status"]
    for r in report["pages"]:
        lines.append(f"{r['page'][:34]:<34} {r['clients']:>2} {r['p50_ms']:>8.1f} "
                     f"{r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['rps']:>7.1f} "
                     f"{r['x_floor']:>7.1f} {r['bytes'] / 1024:>6.0f} "
                     f"{','.join(map(str, r['status']))}")
    ing = report.get("ingestion")
    if ing:
        lines.append(f"ingestion (batches of {ing.get('batch')}): "
                     f"{ing.get('start_readings_per_s')} readings/s at the start, "
                     f"{ing.get('after_5000_readings_per_s')} readings/s after 5,000"
                     if "error" not in ing else f"ingestion failed: {ing['error']}")
    perform = report.get("perform_step")
    if perform:
        lines.append(f"perform step through the API (1 client, signature included): p50 "
                     f"{perform.get('p50_ms')} ms, p95 {perform.get('p95_ms')} ms over "
                     f"{perform.get('n')} steps" if "error" not in perform
                     else f"perform step failed: {perform['error']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
