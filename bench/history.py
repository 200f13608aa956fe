"""A customer's earlier cases (the card's history) on 100k and 1M cases.

Seeds cases as bench/digest.py does (customers with several cases each, compensations and
follow-ups), then looks up the history of 1,000 random cases, each as a delivery does when
it draws a card, and beside it, in the same run, the cheapest read there is: the same case
by its primary key. Prints p50/p99 of both and the ratio.

    python bench/history.py [--sizes 100000,1000000] [--databases sqlite,postgres]

Target: p99 under 5 ms at every size (the lookup must not grow with the table).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select

from bench.digest import database, seed
from storage import db
from storage.history import for_key
from storage.models import CaseRow

LOOKUPS = 1000
TARGET_MS = 5.0


def percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def run(sessions, n: int) -> tuple[list[float], list[float], float]:  # type: ignore[no-untyped-def]
    rng = random.Random(1)
    ids = [rng.randrange(1, n + 1) for _ in range(LOOKUPS)]
    lookups, baseline, shown = [], [], 0
    with sessions() as session:
        for case_id in ids:
            began = time.perf_counter()
            key, opened_at = session.execute(select(CaseRow.customer_key, CaseRow.opened_at)
                                             .where(CaseRow.id == case_id)).one()
            baseline.append(time.perf_counter() - began)
            began = time.perf_counter()
            history = for_key(session, key, case_id, opened_at)
            lookups.append(time.perf_counter() - began)
            shown += history.count
            session.rollback()  # a fresh transaction each time, as a delivery has
    return lookups, baseline, shown / LOOKUPS


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="amends-history-bench-"))
    print(f"customer history: {LOOKUPS} lookups of random cases; baseline = the same case "
          "read by primary key")
    print(f"{'database':<10}{'cases':>10}{'p50 ms':>8}{'p99 ms':>8}{'base p50':>10}"
          f"{'base p99':>10}{'x p50':>7}{'earlier':>9}")
    ok = True
    for kind in args.databases.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            with database(kind, n, tmp) as engine:
                seed(engine, n)
                lookups, baseline, earlier = run(db.make_sessions(engine), n)
                p50, p99 = (percentile(lookups, p) * 1000 for p in (50, 99))
                b50, b99 = (percentile(baseline, p) * 1000 for p in (50, 99))
                within = p99 < TARGET_MS
                ok = ok and within
                print(f"{kind:<10}{n:>10,}{p50:>8.2f}{p99:>8.2f}{b50:>10.2f}{b99:>10.2f}"
                      f"{statistics.median(lookups) / statistics.median(baseline):>6.1f}x"
                      f"{earlier:>9.1f}   {'within' if within else 'OVER'} {TARGET_MS:.0f} ms",
                      flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
