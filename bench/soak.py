"""Soak: two `amends serve` processes on one PostgreSQL database, a fake Slack that fails.

A bounded run of simulated staff and managers opens, walks, approves (sometimes two managers
at once, on different processes), resolves and follows up N cases, sending signed requests
to both processes in turn, while the fake Slack fails a share of its calls (429 with
Retry-After, 500, dropped connections). At the end it waits for the outboxes to settle and
checks: no case lost, every click applied (each case's apology and fix step recorded), no
duplicate compensation or decision, no duplicate message, every case card showing its case
closed (an edit skipped as "nothing new" must never leave one stale), and every outbox
delivery sent or dead-lettered with its reason. Prints throughput and the counts.

    python bench/soak.py [--cases 1000] [--users 16] [--failure-rate 0.1] [--lost-replies 0.05]
                         [--kill] [--rate REQUESTS_PER_SECOND]

--lost-replies: the share of posts and edits Slack makes but whose reply is lost (a 500 or
a dropped connection after the work): a retry must find the earlier copy, not post again.
--kill: halfway through, one process (gunicorn's master and its worker) is killed with SIGKILL
and started again two seconds later; meanwhile requests that can't reach it go to the other
(as a load balancer would). What it held waits out its lease: 15 s for its deliveries
(bot.delivery.outbox), 15 s and the next 5 s pass for its acknowledged clicks (bot.inbox).
--rate: at most this many requests per second in all (default: as fast as the users go, which
saturates any machine); a fixed load compares machines and runs.
--channels: how many channels the cases are opened in (default 20). Slack allows about one
post a second in a channel, and a 429 holds that method in that channel for its Retry-After:
at the default load each channel takes about 4.5 posts a second, so one 429 holds several
deliveries; more channels at the same load show how much of the tail that is.

A doubled message is reported with its evidence kept beside the servers' logs (the next run
drops the database): each copy with its delivery's tag and ts, and the outbox rows the tags
name, in doubled.json.

The lag a person sees: for every delivery, the time from the request that caused it (when it
reached the app; a click's work runs after its ack, or after a crash from the inbox) to
Slack's answer to the call that shows it, as p50/p99/max; the same from the change's own
transaction; and the time from the last request until every outbox has settled. Then why
the deliveries over 2 s were late, from what each recorded: how many times Slack's
Retry-After put it off (OutboxRow.rate_limited), and whether it waited for an earlier
delivery of its case that was put off. Two 429s of its own make 2 s by Slack's own rule (a
hold waits out what is left of another call's), so the deliveries over 2 s that were put off
twice are the part of the tail no delivery order can save.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import case, exists, func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.databases import fresh_postgres  # noqa: E402
from bot import effects  # noqa: E402
from bot.blocks.case_messages import CLOSED_STATUS  # noqa: E402
from bot.sandbox import slack_requests as sr  # noqa: E402
from bot.sandbox.run import free_port  # noqa: E402
from storage import db  # noqa: E402
from storage.models import CaseRow, CompensationRow, EventRow, OutboxRow  # noqa: E402
from storage.outbox import lane_of  # noqa: E402

STAFF = [f"U0STAFF{n:03d}" for n in range(20)]
MANAGERS = ["U0MGR0001", "U0MGR0002", "U0MGR0003"]
CHANNELS = [20]  # --channels


URLS: list[str] = []  # both processes, for a request whose process is down
LAST_REQUEST = [0.0]


class Pace:
    """At most `rate` requests a second across all users (none: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self.gap = 1 / rate if rate else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.gap:
            return
        with self.lock:
            now = time.perf_counter()
            slot = self.next = max(self.next + self.gap, now)
        time.sleep(max(0.0, slot - now))


PACE = Pace(None)


def post(url: str, body: str, content_type: str = "application/x-www-form-urlencoded"
         ) -> tuple[int, str]:
    """Send a signed request; if its process can't be reached (killed), send the same
    request to the other, as a load balancer would."""
    PACE.wait()
    for target in [url] + [u for u in URLS if u != url]:
        try:
            return sr.send(target, body, content_type=content_type, timeout=15)
        except (urllib.error.URLError, ConnectionError):
            continue
        finally:
            LAST_REQUEST[0] = time.perf_counter()
    raise ConnectionError("no process answered")


def state(values: dict[str, tuple[str, str]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for block, (kind, value) in values.items():
        if kind == "text":
            out[block] = {"value": {"type": "plain_text_input", "value": value}}
        elif kind == "user":
            out[block] = {"value": {"type": "users_select", "selected_user": value}}
        else:
            action = "playbook_picked" if block == "playbook" else "value"
            out[block] = {action: {"type": "static_select",
                                   "selected_option": {"value": value,
                                                       "text": {"type": "plain_text",
                                                                "text": value}}}}
    return {"values": out}


def submit(url: str, user: str, callback: str, view_id: str, meta: dict[str, object],
           values: dict[str, tuple[str, str]]) -> tuple[int, str]:
    view = {"id": view_id, "type": "modal", "callback_id": callback, "hash": "h",
            "private_metadata": json.dumps(meta), "blocks": [], "state": state(values)}
    return post(url, sr.interaction_body(sr.view_submission(user=user, view=view)))


def click(url: str, user: str, action_id: str, value: str, label: str = "x",
          channel: str = "C0SHOP00") -> tuple[int, str]:
    action = {"action_id": action_id, "block_id": "b", "type": "button", "value": value,
              "text": {"type": "plain_text", "text": label}}
    message = {"type": "message", "ts": "1.0", "blocks": []}
    return post(url, sr.interaction_body(sr.block_action(user=user, action=action,
                                                          message=message,
                                                          channel=channel)))


def walk(n: int, urls: list[str], sessions, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    a, b = urls[n % 2], urls[(n + 1) % 2]
    staff = STAFF[n % len(STAFF)]
    # A shop's cases are spread over its channels (Slack allows about one post per second
    # in each).
    channel = f"C0SHOP{n % CHANNELS[0]:03d}"
    post(a, sr.command_body(f"order {n} arrived late", user=staff, trigger=f"t{n}"))
    origin = f"VSOAK{n:06d}"
    answers = {"customer": ("text", f"Customer {n}"), "what_happened": ("text", "late"),
               "playbook": ("select", "late-delivery"),
               "severity:late-delivery": ("select", "major"), "purchase": ("text", "40")}
    submit(a, staff, "new_case", origin, {"channel": channel}, answers)
    if rng.random() < 0.2:  # a modal submitted twice, to the other process
        submit(b, staff, "new_case", origin, {"channel": channel}, answers)
    with sessions() as session:
        case_id = session.scalar(select(CaseRow.id).where(CaseRow.origin_key == origin))
    if case_id is None:
        raise RuntimeError(f"case {n} was not recorded")
    click(b, staff, "apology_given", str(case_id))
    click(a, staff, "fix_step:0", f"{case_id}:0", "Done")
    if rng.random() < 0.3:
        click(b, staff, "fix_step:0", f"{case_id}:0", "Done")  # a double click
    submit(a, staff, "custom_compensation", f"VC{n}", {"case": case_id, "option": None},
           {"comp_type": ("select", "refund"), "comp_label": ("text", "Refund"),
            "amount": ("text", "30")})
    first, second = rng.sample(MANAGERS, 2)
    if rng.random() < 0.5:  # two managers at once, on different processes
        with ThreadPoolExecutor(2) as pair:
            list(pair.map(lambda args: click(*args), [(a, first, "approve", f"{case_id}:1"),
                                                      (b, second, "approve", f"{case_id}:1")]))
    else:
        click(b, first, "approve", f"{case_id}:1")
    # A person sees the apology, the tick and the approval land before resolving: wait for
    # them (clicks are applied just after their acknowledgement). Resolving first, a click
    # still queued behind a busy moment would find the case closed and be refused: after
    # --kill the survivor's queue is long enough for that.
    # (A click acknowledged by a process killed just after is run again by the other's
    # inbox once its lease ends: within about 20 s; bot.inbox.)
    for _ in range(1800):
        with sessions() as session:
            seen = session.execute(
                select(CompensationRow.status, CaseRow.apology_given_at, CaseRow.steps_done)
                .join(CaseRow, CaseRow.id == CompensationRow.case_id)
                .where(CompensationRow.case_id == case_id)).first()
        if seen is not None and seen[0] == "approved" and seen[1] is not None and seen[2]:
            break
        time.sleep(0.05)
    submit(b, staff, "resolve_case", f"VR{n}", {"case": case_id},
           {"reaction": ("select", "satisfied"), "root_cause": ("select", "Courier delay"),
            "action_taken": ("text", "New order sent"), "manager": ("user", first)})
    submit(a, first, "record_follow_up", f"VF{n}", {"case": case_id, "number": 1},
           {"reaction": ("select", "delighted")})


def evidence(tmp: str, url: str, doubled: list[dict[str, object]]) -> None:
    """What a doubled message needs to be explained, kept beside the servers' logs: each copy
    (with its delivery's tag and ts) and the outbox rows its tags name."""
    ids = {int(str(m["delivery"]).split(".")[0][1:]) for m in doubled}
    with db.make_sessions(db.make_engine(url))() as session:
        table = OutboxRow.__table__
        rows = [dict(row._mapping) for row in session.execute(
            select(table).where(table.c.id.in_(ids)))] if ids else []
    path = Path(tmp) / "doubled.json"
    path.write_text(json.dumps({"messages": doubled, "outbox": rows}, default=str, indent=1))
    print(f"doubled messages and their outbox rows: {path}")


def late(session: Session, over: float = 2.0) -> dict[str, int]:
    """Why the deliveries that took over `over` seconds from their request were late, from
    what each row recorded: how many times Slack's Retry-After put it off (its own 429s,
    or a hold another call's 429 set on its channel and method: OutboxRow.rate_limited),
    and whether an earlier delivery of its case that it had to wait for (its lane, or the
    card and walkthrough, which go first in every lane) was put off too and went out only
    after this one was asked for. Two 429s of its own make 2 s by Slack's own rule."""
    row, earlier = OutboxRow.__table__.alias("row"), OutboxRow.__table__.alias("earlier")
    asked = func.coalesce(row.c.requested_at, row.c.created_at)
    behind = exists().where(
        earlier.c.case_id == row.c.case_id, earlier.c.id < row.c.id,
        earlier.c.rate_limited > 0, earlier.c.sent_at >= asked,
        (lane_of(earlier.c.kind, effects.LANES)
         == lane_of(row.c.kind, effects.LANES))
        | earlier.c.kind.in_(effects.BARRIERS))
    own = case((row.c.rate_limited >= 2, "2+"), (row.c.rate_limited == 1, "1"), else_="0")
    seconds = func.extract("epoch", row.c.sent_at - asked)
    found = session.execute(
        select(own, behind, func.count()).where(
            row.c.status == "sent", row.c.kind != "webhook", seconds > over)
        .group_by(own, behind)).all()
    names = {("2+", False): "two or more waits of its own",
             ("2+", True): "two or more of its own, and behind its case's",
             ("1", True): "one of its own, and behind its case's",
             ("1", False): "one of its own (and a blip, a lease or the machine)",
             ("0", True): "none of its own, behind its case's",
             # A killed process's deliveries wait out their lease (--kill).
             ("0", False): "none (a blip, a killed process's lease, or the machine)"}
    return {names[(kind, bool(waited))]: n for kind, waited, n in found}


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--failure-rate", type=float, default=0.1)
    parser.add_argument("--lost-replies", type=float, default=0.05)
    parser.add_argument("--settle", type=float, default=900, help="seconds to wait for the "
                        "outboxes to deliver everything")
    parser.add_argument("--kill", action="store_true", help="SIGKILL one process halfway "
                        "and start it again")
    parser.add_argument("--channels", type=int, default=20,
                        help="channels the cases are opened in (default 20)")
    parser.add_argument("--rate", type=float, default=None, help="at most this many "
                        "requests per second in all (default: no limit)")
    args = parser.parse_args()
    global PACE
    PACE = Pace(args.rate)
    CHANNELS[0] = max(1, args.channels)

    url = fresh_postgres("amends_soak")
    engine = db.make_engine(url)
    db.upgrade(engine)
    sessions = db.make_sessions(engine)

    fake = subprocess.Popen([sys.executable, "-m", "bot.sandbox.fake_slack",
                             str(args.failure_rate), str(args.lost_replies)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    fake_url = fake.stdout.readline().strip()  # type: ignore[union-attr]
    tmp = tempfile.mkdtemp(prefix="amends-soak-")
    ports = [free_port(), free_port()]
    env = {**os.environ, "DATABASE_URL": url, "SLACK_BOT_TOKEN": "xoxb-soak-token-000",
           "SLACK_SIGNING_SECRET": sr.SECRET, "SLACK_API_URL": fake_url, "SLACK_APP_TOKEN": "",
           "AMENDS_MANAGERS": ",".join(MANAGERS), "AMENDS_STAFF_LIMIT": "20",
           "AMENDS_RECOVERY_CHANNEL": "C0RECOVERY", "AMENDS_SCHEDULER": "off",
           "AMENDS_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}

    def serve(port: int) -> subprocess.Popen[bytes]:
        # Their logs (every failure the fake Slack makes) go to a file, not the report.
        with open(os.path.join(tmp, f"serve-{port}.log"), "ab") as log:
            # A session of its own: --kill takes gunicorn's worker with it (see below).
            return subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--host",
                                     "127.0.0.1"], env={**env, "PORT": str(port)}, cwd=tmp,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    servers = [serve(port) for port in ports]
    urls = [f"http://127.0.0.1:{port}/slack/events" for port in ports]
    URLS[:] = urls
    killed: list[float] = []
    try:
        for port in ports:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.1)
        started = time.perf_counter()
        errors: list[str] = []
        lock = threading.Lock()

        def one(n: int) -> None:
            if args.kill and n == args.cases // 2:
                # Mid-run, whatever it was doing: the whole process group. SIGKILL to gunicorn's
                # master alone leaves its worker to notice the parent gone and stop gracefully,
                # handing back what it held: not a crash.
                os.killpg(servers[0].pid, signal.SIGKILL)
                servers[0].wait()
                killed.append(time.perf_counter() - started)
                time.sleep(2)
                servers[0] = serve(ports[0])
            try:
                walk(n, urls, sessions, random.Random(n))
            except Exception as exc:
                with lock:
                    errors.append(f"case {n}: {exc}")

        with ThreadPoolExecutor(args.users) as pool:
            list(pool.map(one, range(args.cases)))
        walked = time.perf_counter() - started
        last_request = LAST_REQUEST[0]
        deadline = time.monotonic() + args.settle
        while time.monotonic() < deadline:
            with sessions() as session:
                pending = session.scalar(select(func.count()).where(
                    OutboxRow.status == "pending")) or 0
            if pending == 0:
                break
            time.sleep(0.1)
        settled_at = time.perf_counter()
        settled = settled_at - started
        with urllib.request.urlopen(fake_url + "?messages", timeout=30) as response:
            record = json.loads(response.read())
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=60)
        fake.stdin.close()  # type: ignore[union-attr]
        fake.wait(timeout=10)

    with sessions() as session:
        cases = session.scalar(select(func.count()).select_from(CaseRow)) or 0
        states = Counter(dict(session.execute(select(CaseRow.state, func.count())
                                              .group_by(CaseRow.state)).all()))
        per_case = Counter(n for (n,) in session.execute(
            select(func.count()).select_from(CompensationRow).group_by(CompensationRow.case_id)))
        decisions = Counter(n for (n,) in session.execute(
            select(func.count()).where(EventRow.kind == "compensation_approved")
            .group_by(EventRow.case_id)))
        # Every click applied: each case's apology and its first fix step recorded.
        unapplied = session.scalar(select(func.count()).where(
            CaseRow.apology_given_at.is_(None)
            | (func.json_array_length(CaseRow.steps_done) == 0))) or 0
        outbox = Counter(dict(session.execute(select(OutboxRow.status, func.count())
                                              .group_by(OutboxRow.status)).all()))
        dead_reasons = Counter(r for (r,) in session.execute(
            select(OutboxRow.last_error).where(OutboxRow.status == "dead")))
        why_late = late(session)
        # Rows put off twice or more, late or not: two 429s of their own are 2 s, a hold
        # waits out only what is left of another call's Retry-After.
        twice_limited = session.scalar(select(func.count()).where(
            OutboxRow.status == "sent", OutboxRow.rate_limited >= 2)) or 0
        timed = session.execute(
            select(OutboxRow.requested_at, OutboxRow.created_at, OutboxRow.sent_at).where(
                OutboxRow.status == "sent", OutboxRow.kind != "webhook")).all()
    # Sent rows have their sent_at.
    lags = sorted((cast(datetime, sent) - created).total_seconds() for _, created, sent in timed)
    # Every delivery in the soak has a request behind it (the scheduler is off).
    waits = sorted((cast(datetime, sent) - (asked or created)).total_seconds()
                   for asked, created, sent in timed)
    unasked = sum(1 for asked, _, _ in timed if asked is None)
    messages = record["messages"]
    # A message the outbox posted carries its delivery's tag: the same content twice from
    # deliveries, or one tag twice, is a delivery doubled. A request's own answer (a form
    # Slack wouldn't open: "try again") is posted once per request, never retried, and
    # carries no tag: two alike are two requests, so those are counted apart.
    delivered = [m for m in messages if m.get("delivery")]
    answers = len(messages) - len(delivered)
    seen = Counter((m["channel"], m["thread_ts"], m["text"], json.dumps(m["blocks"]))
                   for m in delivered)
    tags = Counter(m["delivery"] for m in delivered)
    duplicates = sum(n - 1 for n in seen.values() if n > 1) + \
        sum(n - 1 for n in tags.values() if n > 1)
    doubled = [f"{channel}/{thread or '-'}: {text[:60]!r}"
               for (channel, thread, text, _), n in seen.items() if n > 1]
    case_cards = [m for m in messages if m["thread_ts"] is None
                  and m["channel"].startswith("C0SHOP") and m["text"].startswith("C-")]
    per_card = Counter(m["text"].split(" ", 1)[0] for m in case_cards)
    cards = sum(per_card.values())
    twice = sorted(case for case, n in per_card.items() if n > 1)
    # Every case ends closed, so every card's last edit shows it: a card that doesn't is an
    # edit skipped or lost (bot.delivery.handlers skips one that would show nothing new).
    stale = sorted(m["text"].split(" ", 1)[0] for m in case_cards
                   if CLOSED_STATUS not in json.dumps(m["blocks"]))

    print(f"soak: {args.cases} cases in {CHANNELS[0]} channels, {args.users} simulated users, "
          f"2 processes on one "
          f"PostgreSQL, fake Slack failing {args.failure_rate:.0%} of calls and losing "
          f"{args.lost_replies:.0%} of its replies to posts and edits")
    print(f"walked in {walked:.1f}s ({args.cases / walked:.1f} cases/s, about "
          f"{args.cases * 9 / walked:.0f} requests/s"
          f"{f', paced at {args.rate:g}/s' if args.rate else ''}); outboxes settled after "
          f"{settled:.1f}s")
    if killed:
        print(f"process 1 killed with SIGKILL {killed[0]:.1f}s in, started again 2s later")
    print(f"lag from request to Slack over {len(waits)} deliveries: p50 "
          f"{percentile(waits, 0.5):.2f}s, p99 {percentile(waits, 0.99):.2f}s, max "
          f"{waits[-1] if waits else 0:.2f}s ({unasked} without a request, counted from "
          f"their change); outboxes settled {max(settled_at - last_request, 0):.1f}s after "
          f"the last request")
    print(f"lag from change to Slack: p50 {percentile(lags, 0.5):.2f}s, p99 "
          f"{percentile(lags, 0.99):.2f}s, max {lags[-1] if lags else 0:.2f}s")
    over = sum(why_late.values())
    print(f"over 2 s: {over} deliveries (a p99 within 2 s allows {len(waits) // 100}); by the "
          "waits Slack's Retry-After asked of each (its own 429s, and holds another call's "
          "429 set) and of its case's earlier deliveries it waited for: " + ", ".join(
              f"{name} {n}" for name, n in sorted(why_late.items(), key=lambda kv: -kv[1]))
          + f"; deliveries put off twice or more, late or not: {twice_limited}")
    print(f"cases recorded {cases}; states {dict(states)}; request errors {len(errors)}; "
          f"cases missing a click's change (apology or fix step) {unapplied}")
    print(f"compensations per case {dict(per_case)}; decisions per case {dict(decisions)}")
    print(f"Slack calls {record['calls']}; messages {len(messages)} ({answers} a request's own "
          f"answer, untagged); case cards {cards} ({len(stale)} not showing their case "
          f"closed); "
          f"duplicate messages {duplicates}; invalid payloads {record['invalid']}")
    methods = sorted(record["methods"].items(), key=lambda kv: -kv[1])
    print("Slack calls by method: " + ", ".join(f"{m} {n}" for m, n in methods)
          + f"; edits that changed nothing {record['unchanged_edits']}; connections opened "
          f"{record['connections']}")
    print(f"outbox {dict(outbox)}; dead-letter reasons {dict(dead_reasons) or '-'}")
    if duplicates:
        evidence(tmp, url, [m for m in delivered
                            if seen[(m["channel"], m["thread_ts"], m["text"],
                                     json.dumps(m["blocks"]))] > 1
                            or tags[m["delivery"]] > 1])
    problems = []
    if cases != args.cases or errors:
        problems.append(f"lost cases ({cases} of {args.cases}; {errors[:3]})")
    if unapplied:
        problems.append(f"{unapplied} cases missing a click's change")
    if set(per_case) != {1} or set(decisions) != {1}:
        problems.append("duplicate compensation or decision")
    if duplicates or cards != args.cases:
        problems.append(f"messages: {duplicates} duplicates ({'; '.join(doubled[:5])}), "
                        f"{cards} cards (more than one "
                        f"for {', '.join(twice[:10]) or '-'}; logs in {tmp})")
    if stale:
        problems.append(f"{len(stale)} cards not showing their case closed "
                        f"({', '.join(stale[:10])})")
    if states.get("closed") != args.cases:
        problems.append(f"cases not closed: {dict(states)}")
    if outbox.get("pending") or (outbox.get("dead") and not all(dead_reasons)):
        problems.append("outbox not settled")
    print("RESULT: " + ("nothing lost, nothing doubled" if not problems else
                        "PROBLEMS: " + "; ".join(problems)))
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
