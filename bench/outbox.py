"""The outbox against this machine's floor: how fast Amends tells Slack, beside how fast
Slack can be told at all, measured in the same run against the same fake Slack.

1. The floor: a plain loop of `slack_sdk` `WebClient.chat_postMessage` calls from 8 threads
   against the fake Slack Web API (a process of its own): the most calls per second this
   machine can make.
2. A backlog: N cases are opened at once (each a case card with its apology, fix and
   compensation messages, then three clicks' refreshes and a hotspot check), as a burst of
   people would leave them; one outbox worker (the real one, with the real handlers and
   database) drains them. Printed: effects settled per second, Slack calls per second and
   that as a share of the floor, with no faults and with `--failure-rate` of Slack's calls
   failing (429 with Retry-After, 500, dropped connections).
   The worker runs in `--processes` processes of its own (default 2 on PostgreSQL, as
   `WEB_CONCURRENCY=2` runs `amends serve` on a 2-core machine; SQLite is one process), each
   the real worker with its real handlers, claiming from the same database.
3. The lag a person sees while the backlog drains: each effect's time from being queued to
   being sent (p50/p99/max), and how long a case card queued *behind* the backlog waits.
4. Where the CPU goes: the workers', the fake Slack's and (PostgreSQL) the database
   server's, per effect; and the work behind it, the same on any machine: the SQL
   statements the workers sent and the Slack calls they made, per effect.

    python bench/outbox.py [--cases 300] [--database postgres|sqlite] [--failure-rate 0.1]
                           [--processes N]

Target: without faults, the outbox's calls per second at least half the floor's with the
same messages; a card queued behind the backlog reaches Slack within 2 s.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from slack_sdk import WebClient  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402

from bench.databases import fresh_postgres  # noqa: E402
from bot import effects as fx  # noqa: E402
from bot.app import assemble  # noqa: E402
from bot.delivery.outbox import DELIVERY_THREADS  # noqa: E402
from bot.domain.lifecycle import Customer  # noqa: E402
from bot.domain.playbook_library import PlaybookLibrary  # noqa: E402
from bot.ids import Message as Part  # noqa: E402
from bot.messaging import make_client  # noqa: E402
from bot.sandbox import slack_requests as sr  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from storage import db  # noqa: E402
from storage.models import OutboxRow  # noqa: E402

FLOOR_THREADS = 8
FLOOR_CALLS = 3000


class FakeProcess:
    """The fake Slack Web API in a process of its own, as the soak runs it."""

    def __init__(self, failure_rate: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.sandbox.fake_slack", str(failure_rate), "0"], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.process.stdout.readline().strip()  # type: ignore[union-attr]

    def calls(self) -> int:
        with urllib.request.urlopen(self.url, timeout=60) as response:
            return int(json.loads(response.read())["calls"])

    def messages(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url + "?messages", timeout=60) as response:
            return list(json.loads(response.read())["messages"])

    def cpu(self) -> float:
        """CPU seconds the fake has used (user + system, from /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait(timeout=10)


def cpu_of(pids: list[int]) -> float:
    """CPU seconds (user + system) the given processes have used, from /proc."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of each of the PostgreSQL server's processes on this machine (its
    backends do the queries; the workers' connections start new ones)."""
    used = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    used[int(entry.name)] = cpu_of([int(entry.name)])
            except OSError:
                continue
    return used


def settings_for(url: str, fake_url: str) -> Any:
    return load_settings({"SLACK_BOT_TOKEN": "xoxb-bench-token-000",
                          "SLACK_SIGNING_SECRET": sr.SECRET, "SLACK_API_URL": fake_url,
                          "AMENDS_MANAGERS": "U0MGR0001", "DATABASE_URL": url,
                          "AMENDS_RECOVERY_CHANNEL": "C0RECOVERY"}, dotenv_path=None)


def assembled(url: str, fake_url: str) -> tuple[Any, Any, Any]:
    """Amends' parts on `url` against the fake Slack at `fake_url`: (parts, engine,
    sessions)."""
    engine = db.make_engine(url)
    sessions = db.make_sessions(engine)
    parts = assemble(settings_for(url, fake_url),
                     client=make_client(token="xoxb-bench-token-000", base_url=fake_url),
                     sessions=sessions, library=PlaybookLibrary.load(ROOT / "playbooks"))
    return parts, engine, sessions


def serve_outbox(url: str, fake_url: str) -> int:
    """One worker process (`--serve-outbox`): assembled, it says "ready"; on "go" it starts
    its outbox worker; when its stdin closes it stops and prints its CPU seconds."""
    logging.getLogger("amends").setLevel(logging.ERROR)
    parts, engine, _ = assembled(url, fake_url)
    print("ready", flush=True)
    sys.stdin.readline()
    # Statements sent to the database (an executemany counts once): what the CPU figures
    # cost in work, the same on any machine. next() on a count is atomic under the GIL.
    statements = itertools.count()
    # Its deliveries' own connections too (on PostgreSQL a pool of their own).
    for counted in {engine, db.delivery_engine(engine, DELIVERY_THREADS)}:
        event.listen(counted, "before_cursor_execute", lambda *_: next(statements))
    started = time.process_time()
    parts.outbox.start()
    sys.stdin.read()  # until the bench closes it
    parts.outbox.stop()
    print(json.dumps({"cpu": time.process_time() - started,
                      "statements": next(statements)}), flush=True)
    engine.dispose()
    return 0


class Workers:
    """`n` worker processes on one database, started together."""

    def __init__(self, n: int, url: str, fake_url: str) -> None:
        self.processes = [subprocess.Popen(
            [sys.executable, __file__, "--serve-outbox", url, fake_url], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(n)]
        for process in self.processes:
            if process.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
                raise RuntimeError("an outbox worker process did not start")

    def start(self) -> None:
        for process in self.processes:
            process.stdin.write("go\n")  # type: ignore[union-attr]
            process.stdin.flush()  # type: ignore[union-attr]

    def cpu(self) -> float:
        return cpu_of([process.pid for process in self.processes])

    def stop(self) -> tuple[float, int]:
        """Stop them all; the CPU seconds their workers used, and the statements they sent."""
        for process in self.processes:
            if process.stdin and not process.stdin.closed:
                process.stdin.close()
        used, statements = 0.0, 0
        for process in self.processes:
            out = process.stdout.read() if process.stdout else ""
            process.wait(timeout=60)
            if out.strip():
                report = json.loads(out.strip().splitlines()[-1])
                used += report["cpu"]
                statements += report["statements"]
        return used, statements


def floor(messages: list[dict[str, Any]]) -> float:
    """Plain chat.postMessage calls from a few threads: calls per second. With `messages`
    (text and blocks), those messages in turn; without, one line of text each."""
    fake = FakeProcess(0.0)
    try:
        client = WebClient(token="xoxb-bench-token-000", base_url=fake.url, timeout=10)
        per_thread = FLOOR_CALLS // FLOOR_THREADS

        def loop(n: int) -> None:
            for i in range(per_thread):
                if messages:
                    m = messages[(n * per_thread + i) % len(messages)]
                    client.chat_postMessage(channel=f"C0FLOOR{n}", text=m["text"],
                                            blocks=m["blocks"] or None)
                else:
                    client.chat_postMessage(channel=f"C0FLOOR{n}", text=f"message {i}")

        started = time.perf_counter()
        with ThreadPoolExecutor(FLOOR_THREADS) as pool:
            list(pool.map(loop, range(FLOOR_THREADS)))
        return per_thread * FLOOR_THREADS / (time.perf_counter() - started)
    finally:
        fake.close()


def database(kind: str) -> str:
    if kind == "sqlite":
        return "sqlite:///" + os.path.join(tempfile.mkdtemp(prefix="amends-bench-"), "a.db")
    return fresh_postgres("amends_bench_outbox")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def backlog(kind: str, cases: int, failure_rate: float, processes: int) -> dict[str, Any]:
    """Open `cases` cases at once, then time `processes` workers draining what they
    queued."""
    fake = FakeProcess(failure_rate)
    url = database(kind)
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    # This process opens the cases (its own worker never started); the workers deliver.
    parts, engine, sessions = assembled(url, fake.url)
    service = parts.deps.service
    workers: Workers | None = None
    try:
        def open_one(n: int) -> int:
            with sessions() as session:
                case, _ = service.open_case(
                    session, origin_key=f"V{n}", playbook_id="late-delivery",
                    severity="major", customer=Customer(name=f"Customer {n}"),
                    summary="late", opened_by="U0STAFF001", currency="USD",
                    location=f"Shop {n % 20}",  # what the new-case form queues for it:
                    effects=lambda c: fx.case_opened(c, f"C0SHOP{n % 20:02d}", "U0STAFF001"))
                with session.begin():
                    for part in (Part.APOLOGY, Part.FIX, Part.COMPENSATION):
                        fx.queue(session, fx.Refresh(case.id or 0, (part,)),
                                 now=datetime.now(UTC))
                return case.id or 0

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(open_one, range(cases)))
        with sessions() as session:
            effects = session.scalar(select(func.count()).select_from(OutboxRow)) or 0
        workers = Workers(processes, url, fake.url)
        db_before = postgres_cpu() if kind == "postgres" else {}
        calls_before, fake_cpu = fake.calls(), fake.cpu()
        late: dict[str, float] = {}

        def pending() -> int:
            with sessions() as session:
                return session.scalar(select(func.count()).where(
                    OutboxRow.status == "pending")) or 0

        def watch() -> None:
            # Halfway through the drain, a new case: how long until its card is in Slack?
            # (Polled every 20 ms: this process's queries take CPU from what is measured.)
            while pending() > effects // 2:
                time.sleep(0.02)
            queued = time.perf_counter()
            case_id = open_one(cases + 1)
            while True:
                with sessions() as session:
                    done = session.scalar(select(func.count()).where(
                        OutboxRow.case_id == case_id, OutboxRow.kind == "start_thread",
                        OutboxRow.status == "sent"))
                if done:
                    late["card"] = time.perf_counter() - queued
                    return
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        started = time.perf_counter()
        workers.start()
        watcher.start()
        while pending() or watcher.is_alive():
            time.sleep(0.05)
        took = time.perf_counter() - started
        calls = fake.calls() - calls_before
        fake_cpu = fake.cpu() - fake_cpu
        db_cpu = sum(used - db_before.get(pid, 0.0) for pid, used in postgres_cpu().items()
                     ) if kind == "postgres" else 0.0
        own_cpu, statements = workers.stop()
        workers = None
        with sessions() as session:
            rows = session.execute(select(OutboxRow.created_at, OutboxRow.sent_at).where(
                OutboxRow.status == "sent")).all()
            dead = session.scalar(select(func.count()).where(OutboxRow.status == "dead")) or 0
        lags = [(sent - created).total_seconds() for created, sent in rows if sent]
        return {"effects": effects, "seconds": took, "calls": calls,
                "effects_per_s": effects / took, "calls_per_s": calls / took,
                "lag_p50": percentile(lags, 0.5), "lag_p99": percentile(lags, 0.99),
                "lag_max": max(lags), "card_behind": late.get("card", float("nan")),
                "dead": dead, "cpu_per_effect": own_cpu / effects,
                "statements_per_effect": statements / effects, "calls_per_effect": calls / effects,
                "db_cpu_per_effect": db_cpu / effects,
                "fake_cpu_per_call": fake_cpu / max(calls, 1),
                "busy": (own_cpu + fake_cpu + db_cpu) / took, "messages": fake.messages()}
    finally:
        if workers is not None:
            workers.stop()
        engine.dispose()
        fake.close()


def main() -> int:
    logging.getLogger("amends").setLevel(logging.ERROR)  # retries are expected here
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--failure-rate", type=float, default=0.1)
    parser.add_argument("--processes", type=int, default=None,
                        help="worker processes (default: 2 on PostgreSQL, 1 on SQLite)")
    parser.add_argument("--serve-outbox", nargs=2, metavar=("URL", "FAKE"),
                        help=argparse.SUPPRESS)  # one worker process, started by the bench
    args = parser.parse_args()
    if args.serve_outbox:
        return serve_outbox(*args.serve_outbox)
    processes = args.processes or (2 if args.database == "postgres" else 1)

    runs = [(rate, backlog(args.database, args.cases, rate, processes))
            for rate in (0.0, args.failure_rate)]
    plain = floor([])
    same = floor(runs[0][1]["messages"])
    print(f"floor: {FLOOR_THREADS} threads of plain WebClient.chat_postMessage against the fake "
          f"Slack: {plain:.0f} calls/s with a line of text; {same:.0f} calls/s with the "
          "outbox's own messages (its cards and walkthroughs, blocks and all)")
    print(f"backlog: {args.cases} cases opened at once ({args.database}), {processes} worker "
          f"process(es) of {DELIVERY_THREADS} delivery threads each drain what they queued")
    print("| Slack faults | effects | drained in | effects/s | Slack calls/s | share of floor "
          "(same messages) | lag p50 | lag p99 | lag max | a new card behind the backlog "
          "| dead | per effect: SQL statements, Slack calls | worker CPU per effect "
          "| database CPU per effect | fake Slack CPU per call | cores busy |")
    print("| --- " * 16 + "|")
    worst_card = 0.0
    for rate, r in runs:
        share = r["calls_per_s"] / same
        worst_card = max(worst_card, r["card_behind"])
        print(f"| {rate:.0%} | {r['effects']:.0f} | {r['seconds']:.1f} s | "
              f"{r['effects_per_s']:.0f} | {r['calls_per_s']:.0f} | {share:.0%} "
              f"({r['calls_per_s'] / plain:.0%} of text-only) | "
              f"{r['lag_p50']:.2f} s | {r['lag_p99']:.2f} s | {r['lag_max']:.2f} s | "
              f"{r['card_behind']:.2f} s | {r['dead']:.0f} | "
              f"{r['statements_per_effect']:.2f}, {r['calls_per_effect']:.2f} | "
              f"{r['cpu_per_effect'] * 1000:.1f} ms | {r['db_cpu_per_effect'] * 1000:.1f} ms | "
              f"{r['fake_cpu_per_call'] * 1000:.1f} ms | "
              f"{r['busy']:.2f} |")
    # The floor meets no faults, so the share is held where the outbox meets none either;
    # with faults, a 429 holds its channel for Slack's Retry-After, which the floor's loop
    # never honours: that run's share is shown, and its lag is the soak's to judge.
    share = runs[0][1]["calls_per_s"] / same
    ok = share >= 0.5 and worst_card <= 2.0
    print(f"target: without faults, calls/s at least half the floor with the same messages "
          f"({share:.0%}); a new card within 2 s behind the backlog (worst {worst_card:.2f} s): "
          + ("met" if ok else "NOT met"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
