"""The weekly digest on 10k, 100k and 1M cases: SQL aggregates against loading everything.

For each database (SQLite, PostgreSQL) and size, it seeds cases spread over two years (with
compensations and follow-ups), then times the digest's figures for the last complete week
(this week and the one before, as the digest computes them) and measures their peak Python
memory (tracemalloc). On the smaller sizes it also times a naive version that loads every
case, compensation and follow-up into Python and computes the same headline figures, and
prints the ratio. Both must agree on those figures; the script checks it.

    python bench/digest.py [--sizes 10000,100000,1000000] [--databases sqlite,postgres]

Target: memory flat as cases grow; the 1M-case digest under 0.5 s on both databases (each
line says whether it is). The digest's chart (12 weeks of headline figures, one grouped query
per figure, then drawn) is held to the same 0.5 s, on its own line under each size. Before
covering indexes, SQLite's statistics refreshed by Amends and the week before computed for
its headline figures only, the digest was 1.21 s on SQLite and 0.73 s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.digest_chart import draw  # noqa: E402
from bot.domain.weeks import Week  # noqa: E402
from storage import db  # noqa: E402
from storage.digest import trend, week_against_last  # noqa: E402
from storage.models import CaseRow, CompensationRow, FollowUpRow  # noqa: E402

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WEEK = Week(2026, 47)
ZONE = ZoneInfo("UTC")
PLAYBOOKS = ["late-delivery", "wrong-or-missing-item", "billing-error", "poor-service",
             "damaged-or-faulty", "outage-or-lost-booking"]
CAUSES = ["Courier delay", "Picking error", "Payment fault", "Training gap", "Packaging",
          "System outage", "Other"]
REACTIONS = ["delighted", "satisfied", "satisfied", "neutral", "still_unhappy"]
TARGET_S = 0.5  # the digest of both weeks, at any size
TYPES = ["refund", "voucher", "discount", "free_item", "goodwill"]
POSTGRES = os.environ.get("AMENDS_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def seed(engine, n: int) -> float:  # type: ignore[no-untyped-def]
    rng = random.Random(n)
    span = timedelta(weeks=104).total_seconds()
    start = NOW - timedelta(weeks=104)
    began = time.perf_counter()
    batch = 20_000
    next_id = 1
    with engine.begin() as conn:
        while next_id <= n:
            cases: list[dict[str, Any]] = []
            comps: list[dict[str, Any]] = []
            follow_ups: list[dict[str, Any]] = []
            for case_id in range(next_id, min(next_id + batch, n + 1)):
                opened = start + timedelta(seconds=rng.random() * span)
                resolved = rng.random() < 0.85
                recovery = int(rng.expovariate(1 / 5400)) + 120
                resolved_at = opened + timedelta(seconds=recovery) if resolved else None
                cases.append({
                    "id": case_id, "state": "follow_up_due" if resolved else "fixing",
                    "playbook_id": rng.choice(PLAYBOOKS), "playbook_version": "1",
                    "playbook_hash": "abcdef123456", "severity": "major",
                    "customer_name": f"Customer {case_id}", "customer_contact": None,
                    "customer_key": f"c{rng.randrange(max(n // 3, 1))}", "summary": "late",
                    "order_ref": None, "location": f"Branch {rng.randrange(20)}",
                    "purchase_minor": 4000, "currency": "USD", "opened_by": "U0STAFF1",
                    "opened_at": opened, "manager": "U0MGR001",
                    "apology_given_at": opened if rng.random() < 0.8 else None,
                    "steps_done": [], "reaction": rng.choice(REACTIONS) if resolved else None,
                    "root_cause": rng.choice(CAUSES) if resolved else None,
                    "action_taken": "fixed" if resolved else None, "resolution_notes": None,
                    "resolved_at": resolved_at, "recovery_seconds": recovery if resolved else None,
                    "closed_at": None, "channel_id": None, "message_ts": None,
                    "nudged_at": None, "origin_key": None, "version": 1})
                if rng.random() < 0.5:
                    approved = rng.random() < 0.9
                    comps.append({
                        "case_id": case_id, "number": 1, "type": rng.choice(TYPES),
                        "label": "x", "amount_minor": rng.randrange(200, 6000), "currency": "USD",
                        "option_key": None, "status": "approved" if approved else "denied",
                        "auto_approved": rng.random() < 0.7, "requested_by": "U0STAFF1",
                        "requested_at": opened, "decided_by": "U0MGR001",
                        "decided_at": opened + timedelta(minutes=10), "reason": None})
                if resolved_at is not None:
                    due = resolved_at + timedelta(hours=48)
                    done = due + timedelta(hours=rng.uniform(-40, 30))
                    finished = rng.random() < 0.8 and done < NOW
                    follow_ups.append({
                        "case_id": case_id, "number": 1, "manager": f"U0MGR00{rng.randrange(5)}",
                        "due_at": due, "snoozed_until": None,
                        "done_at": done if finished else None,
                        "done_by": "U0MGR001" if finished else None,
                        "reaction": rng.choice(REACTIONS) if finished else None, "note": None,
                        "reminded_for": None, "escalated_at": None, "channel_id": None,
                        "message_ts": None})
            conn.execute(insert(CaseRow), cases)
            if comps:
                conn.execute(insert(CompensationRow), comps)
            if follow_ups:
                conn.execute(insert(FollowUpRow), follow_ups)
            next_id += batch
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('cases_id_seq', :n)"), {"n": n})
    # Planner statistics as a running Amends has them: on SQLite its hourly refresh
    # (db.refresh_statistics), on PostgreSQL what autovacuum does after a bulk load
    # (statistics, and the visibility map that index-only scans rely on).
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        db.refresh_statistics(engine)
    return time.perf_counter() - began


def digest_figures(sessions):  # type: ignore[no-untyped-def]
    with sessions() as session:
        return week_against_last(session, WEEK.bounds(ZONE), WEEK.previous().bounds(ZONE))


CHART_WEEKS = [WEEK]
while len(CHART_WEEKS) < 12:
    CHART_WEEKS.insert(0, CHART_WEEKS[0].previous())


def chart_figures(sessions):  # type: ignore[no-untyped-def]
    """The digest chart's twelve weeks, as the digest draws them (storage.digest.trend)."""
    with sessions() as session:
        return trend(session, [w.bounds(ZONE) for w in CHART_WEEKS])


def naive_figures(sessions):  # type: ignore[no-untyped-def]
    """What the digest would be without SQL aggregation: every row into Python."""
    start, end = WEEK.bounds(ZONE)
    with sessions() as session:
        all_cases = session.scalars(select(CaseRow)).all()
        all_comps = session.scalars(select(CompensationRow)).all()
        all_follow_ups = session.scalars(select(FollowUpRow)).all()
    opened = sum(1 for c in all_cases if start <= c.opened_at < end)
    resolved = [c for c in all_cases if c.resolved_at and start <= c.resolved_at < end]
    times = sorted(c.recovery_seconds for c in resolved if c.recovery_seconds is not None)
    median = times[max(math.ceil(0.5 * len(times)) - 1, 0)] if times else None
    by_type: Counter[str] = Counter()
    for comp in all_comps:
        if comp.status == "approved" and comp.decided_at and start <= comp.decided_at < end:
            by_type[comp.type] += comp.amount_minor
    due = [f for f in all_follow_ups if start <= f.due_at < end]
    on_time = sum(1 for f in due if f.done_at and f.done_at <= f.due_at)
    return opened, len(resolved), median, sum(by_type.values()), on_time


def measure(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    runs = []
    for _ in range(3):
        began = time.perf_counter()
        result = fn(*args)
        runs.append(time.perf_counter() - began)
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, statistics.median(runs), peak / 2**20


@contextmanager
def database(kind: str, n: int, tmp: Path) -> Iterator[Engine]:
    """A new, migrated, empty database of `kind` for `n` cases, gone afterwards."""
    drop: Callable[[], None] | None = None
    if kind == "sqlite":
        engine = db.make_engine(f"sqlite:///{tmp / f'bench-{n}.db'}")
    else:
        admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
        name = f"amends_bench_{n}"
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = db.make_engine(
            make_url(POSTGRES).set(database=name).render_as_string(hide_password=False))

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    try:
        db.upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        if drop:
            drop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--naive-up-to", type=int, default=100_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="amends-digest-bench-"))
    header = (f"{'database':<10}{'cases':>9}{'seed s':>8}{'digest ms':>11}{'peak MB':>9}"
              f"{'naive ms':>10}{'naive MB':>10}{'time x':>8}{'memory x':>10}")
    print(f"digest figures for {WEEK} (this week and the one before)")
    print(header)
    ok = True
    for kind in args.databases.split(","):
        for n in sizes:
            with database(kind, n, tmp) as engine:
                seeded = seed(engine, n)
                sessions = db.make_sessions(engine)
                (this, _last), digest_s, digest_mb = measure(digest_figures, sessions)
                line = f"{kind:<10}{n:>9,}{seeded:>8.1f}{digest_s * 1000:>11.0f}{digest_mb:>9.2f}"
                if n <= args.naive_up_to:
                    naive, naive_s, naive_mb = measure(naive_figures, sessions)
                    expected = (this.opened, this.resolved, this.median_recovery_s,
                                this.compensation_minor, this.follow_ups_on_time)
                    if naive != expected:
                        ok = False
                        print(f"  MISMATCH: naive {naive} != digest {expected}")
                    line += (f"{naive_s * 1000:>10.0f}{naive_mb:>10.1f}"
                             f"{naive_s / digest_s:>7.1f}x{naive_mb / digest_mb:>9.0f}x")
                line += f"   {'within' if digest_s < TARGET_S else 'OVER'} {TARGET_S:.1f} s"
                ok = ok and digest_s < TARGET_S
                print(line, flush=True)
                points, chart_s, chart_mb = measure(chart_figures, sessions)
                png, draw_s, draw_mb = measure(partial(draw, points, currency="USD",
                                                       zone=ZONE))
                last = points[-1]
                if (last.opened, last.median_recovery_s, last.compensation_minor) != (
                        this.opened, this.median_recovery_s, this.compensation_minor):
                    ok = False
                    print(f"  MISMATCH: chart's last week {last} != the digest's {this}")
                total = chart_s + draw_s
                print(f"{'':<10}{'':>9}{'':>8}  chart: 12 weeks' figures {chart_s * 1000:.0f} ms "
                      f"(peak {chart_mb:.2f} MB), drawn in {draw_s * 1000:.0f} ms "
                      f"(peak {draw_mb:.1f} MB, {len(png) // 1024} KB PNG)   "
                      f"{'within' if total < TARGET_S else 'OVER'} {TARGET_S:.1f} s",
                      flush=True)
                ok = ok and total < TARGET_S
                if kind == "sqlite" and n == sizes[-1]:
                    opened = this.opened
                    print(f"{'':<10}(the week holds {opened:,} opened cases at this size)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
