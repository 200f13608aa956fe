"""The `amends` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import timedelta
from pathlib import Path

from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("amends")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    from bot import logs

    logs.configure(level=settings.log_level, json_lines=settings.log_json,
                   secrets=settings.secrets())
    from sqlalchemy.exc import InterfaceError, OperationalError

    from bot.domain.playbook_library import PlaybooksInvalid
    from storage.db import SchemaOutOfDate

    try:
        return int(args.run(args, settings) or 0)
    except (SchemaOutOfDate, PlaybooksInvalid) as exc:
        print(exc, file=sys.stderr)
        return 2
    except (OperationalError, InterfaceError) as exc:  # the database can't be reached
        from storage.db import unreachable

        print(unreachable(settings.database_url, exc), file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amends", description="Amends: a Slack assistant for service recovery.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    playbooks = commands.add_parser("playbooks", help="check, list and preview playbooks")
    pb = playbooks.add_subparsers(title="playbook commands", metavar="ACTION", required=True)
    check = pb.add_parser("check", help="validate playbooks; exit 1 on any error")
    check.add_argument("directory", nargs="?", type=Path,
                       help="a directory of *.yaml playbooks (default: AMENDS_PLAYBOOKS_DIR or "
                            "the shipped ones)")
    check.set_defaults(run=_playbooks_check)
    listing = pb.add_parser("list", help="list the playbooks")
    listing.add_argument("--dir", type=Path, dest="directory")
    listing.set_defaults(run=_playbooks_list)
    show = pb.add_parser("show", help="print one playbook as readable text with sample values")
    show.add_argument("id")
    show.add_argument("--dir", type=Path, dest="directory")
    show.add_argument("--purchase", default="40.00",
                      help="a sample purchase value for the compensation amounts (default 40.00)")
    show.set_defaults(run=_playbooks_show)
    schema = pb.add_parser("schema", help="write the playbook format as a JSON Schema, for "
                           "editors to complete keys and flag mistakes")
    schema.add_argument("--output", "-o", type=Path,
                        help="a file (default: standard output)")
    schema.set_defaults(run=_playbooks_schema)
    new = pb.add_parser("new", help="write a commented starting playbook that passes the check")
    new.add_argument("id", help="its id, like gift-card-problem (the file is ID.yaml)")
    new.add_argument("--dir", type=Path, dest="directory",
                     help="where to write it (default: AMENDS_PLAYBOOKS_DIR, else here)")
    new.set_defaults(run=_playbooks_new)

    serve = commands.add_parser("serve", help="run the Slack bot (Socket Mode when "
                                "SLACK_APP_TOKEN is set, else HTTP on PORT)")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (HTTP mode)")
    serve.add_argument("--port", type=int, help="port to listen on (default: PORT, else 3000; "
                       "in Socket Mode, for the health check)")
    serve.add_argument("--threads", type=int, default=16,
                       help="request threads per worker (HTTP mode; workers: WEB_CONCURRENCY)")
    serve.set_defaults(run=_serve)

    start = commands.add_parser("start", help="serve Slack when its credentials are set, "
                                "else start the sandbox (the quick start's command)")
    start.add_argument("--port", type=int,
                       help="port to listen on: the sandbox page's (default 8700), or with "
                            "Slack credentials the bot's (default: PORT, else 3000)")
    start.set_defaults(run=_start, bot_port=0, database=None, host="0.0.0.0", threads=16)

    sandbox = commands.add_parser("sandbox", help="try Amends without Slack: the real bot and "
                                  "a local Slack-like workspace in your browser")
    sandbox.add_argument("--port", type=int, default=8700,
                         help="the page's port on 127.0.0.1 (default 8700; 0 for any free one)")
    sandbox.add_argument("--bot-port", type=int, default=0,
                         help="the bot's port on 127.0.0.1 (default: any free one)")
    sandbox.add_argument("--database", help="where the sandbox keeps cases (default: "
                         "sqlite:///amends-sandbox.db, apart from your real data)")
    sandbox.set_defaults(run=_sandbox)

    reminders = commands.add_parser("reminders", help="follow-up reminders and escalations")
    rem = reminders.add_subparsers(title="reminder commands", metavar="ACTION", required=True)
    rem.add_parser("run", help="send every reminder, escalation and nudge that is due now "
                   "(for cron; each goes out once)").set_defaults(run=_reminders_run)

    digest = commands.add_parser("digest", help="the weekly leadership digest")
    dig = digest.add_subparsers(title="digest commands", metavar="ACTION", required=True)
    preview = dig.add_parser("preview", help="print a week's digest in the terminal")
    preview.add_argument("--week", help="an ISO week like 2026-W47 (default: the last "
                         "complete week)")
    preview.add_argument("--chart", metavar="FILE.png", type=Path,
                         help="also write the digest's chart (the 12 weeks to that week) "
                         "as a PNG image")
    preview.set_defaults(run=_digest_preview)
    send = dig.add_parser("send", help="post a week's digest to AMENDS_LEADERSHIP_CHANNEL now "
                          "(once per week and channel)")
    send.add_argument("--week", help="an ISO week like 2026-W47 (default: the latest due)")
    send.set_defaults(run=_digest_send)

    box = commands.add_parser("outbox", help="messages waiting to be delivered to Slack")
    boxc = box.add_subparsers(title="outbox commands", metavar="ACTION", required=True)
    boxc.add_parser("status", help="counts, and the dead-lettered deliveries with their "
                    "reasons").set_defaults(run=_outbox_status)
    again = boxc.add_parser("retry", help="queue dead-lettered deliveries again")
    again.add_argument("ids", nargs="*", type=int, help="which (default: all of them)")
    again.set_defaults(run=_outbox_retry)
    boxc.add_parser("run", help="deliver what is due now (when no `amends serve` runs)"
                    ).set_defaults(run=_outbox_run)

    case = commands.add_parser("case", help="print a case's history: who did what and when")
    case.add_argument("reference", help="the case, as Slack shows it (C-0042) or its number")
    case.add_argument("--json", action="store_true", help="the case and its events as JSON, "
                      "for scripts")
    case.set_defaults(run=_case)

    export = commands.add_parser("export", help="write cases as CSV for spreadsheets")
    export.add_argument("--since", required=True, help="first day, YYYY-MM-DD (in "
                        "AMENDS_TIMEZONE)")
    export.add_argument("--until", help="day after the last, YYYY-MM-DD (default: now)")
    export.add_argument("--output", "-o", type=Path, help="a file (default: standard output)")
    export.set_defaults(run=_export)

    purge = commands.add_parser("purge", help="anonymise customers of old finished cases "
                                "(the figures stay)")
    purge.add_argument("--older-than", required=True, dest="older_than",
                       help="age of the cases to anonymise, like 365d")
    purge.add_argument("--dry-run", action="store_true", help="only say how many")
    purge.set_defaults(run=_purge)

    db = commands.add_parser("db", help="database schema")
    dbc = db.add_subparsers(title="database commands", metavar="ACTION", required=True)
    dbc.add_parser("upgrade", help="create or migrate the schema to this version").set_defaults(
        run=_db_upgrade)
    dbc.add_parser("status", help="show the schema's revision").set_defaults(run=_db_status)
    dbc.add_parser("analyze", help="refresh SQLite's query-planner statistics (the scheduler "
                   "does it hourly; with AMENDS_SCHEDULER=off, schedule this)").set_defaults(
        run=_db_analyze)
    return parser


def _directory(args: argparse.Namespace, settings: Settings) -> Path:
    from bot.domain.playbook_library import shipped_directory

    return args.directory or settings.playbooks_dir or shipped_directory()


def _playbooks_check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.domain.playbook_loader import load_directory

    directory = _directory(args, settings)
    result = load_directory(directory)
    for error in result.errors:
        print(error)
    for warning in result.warnings:
        print(f"{warning} (warning)")
    if result.errors:
        print(f"\n{len(result.errors)} problem(s) in {directory}", file=sys.stderr)
        return 1
    print(f"{len(result.playbooks)} playbook(s) in {directory}: all valid")
    return 0


def _schema_text() -> str:
    from bot.domain.playbook_schema import schema

    return json.dumps(schema(), indent=2) + "\n"


def _playbooks_schema(args: argparse.Namespace, settings: Settings) -> int:
    if args.output is None:
        sys.stdout.write(_schema_text())
        return 0
    args.output.write_text(_schema_text(), encoding="utf-8")
    print(f"Wrote the playbook schema to {args.output}")
    return 0


def _playbooks_new(args: argparse.Namespace, settings: Settings) -> int:
    from bot.domain.playbook_starter import SCHEMA_FILE, starter

    directory = args.directory or settings.playbooks_dir or Path.cwd()
    try:
        text = starter(args.id)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    target = directory / f"{args.id}.yaml"
    if target.exists():
        print(f"{target} already exists; pick another id or edit that file", file=sys.stderr)
        return 1
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"Wrote {target}")
    schema_file = directory / SCHEMA_FILE
    if not schema_file.exists():  # what its first line points editors at
        schema_file.write_text(_schema_text(), encoding="utf-8")
        print(f"Wrote {schema_file} (for editors: completion and mistakes while typing)")
    print(f"Check it with: amends playbooks check {directory}")
    return 0


def _load_library(args: argparse.Namespace, settings: Settings):  # type: ignore[no-untyped-def]
    from bot.domain.playbook_library import PlaybookLibrary, PlaybooksInvalid

    try:
        return PlaybookLibrary.load(_directory(args, settings))
    except PlaybooksInvalid as exc:
        print(exc, file=sys.stderr)
        print("Run `amends playbooks check` for the full list.", file=sys.stderr)
        return None


def _playbooks_list(args: argparse.Namespace, settings: Settings) -> int:
    library = _load_library(args, settings)
    if library is None:
        return 1
    width = max(len(p.id) for p in library.all())
    for playbook in library.all():
        print(f"{playbook.id:<{width}}  v{playbook.version:<4} {playbook.title}")
    return 0


def _playbooks_show(args: argparse.Namespace, settings: Settings) -> int:
    from bot import playbook_text
    from bot.domain import money

    library = _load_library(args, settings)
    if library is None:
        return 1
    playbook = library.get(args.id)
    if playbook is None:
        known = ", ".join(p.id for p in library.all())
        print(f"No playbook '{args.id}'. Known: {known}", file=sys.stderr)
        return 1
    try:
        purchase = money.parse_amount(args.purchase, settings.currency)
    except ValueError as exc:
        print(f"--purchase: {exc}", file=sys.stderr)
        return 2
    print(playbook_text.render(playbook, currency=settings.currency, purchase_minor=purchase))
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from bot.server import serve

    if getattr(args, "port", None):
        settings = replace(settings, port=args.port)
    return serve(settings, host=args.host, threads=args.threads)


def _assembly(settings: Settings):  # type: ignore[no-untyped-def]
    """The app's parts for a one-off command: follow-through jobs and the outbox worker."""
    from bot.app import assemble
    from bot.domain.playbook_library import PlaybookLibrary
    from bot.messaging import make_client
    from storage import db

    engine = db.make_engine(settings.database_url)
    db.check_schema(engine)
    sessions = db.make_sessions(engine)
    client = make_client(token=settings.slack_bot_token or "", base_url=settings.slack_api_url)
    return assemble(settings, client=client, sessions=sessions,
                    library=PlaybookLibrary.load(settings.playbooks_dir))


def _jobs(settings: Settings):  # type: ignore[no-untyped-def]
    """The follow-through jobs alone, for commands that read (no Slack connection needed)."""
    from bot.app import make_jobs
    from bot.domain.playbook_library import PlaybookLibrary
    from bot.managers import ManagerDirectory
    from bot.messaging import make_client
    from storage import db

    engine = db.make_engine(settings.database_url)
    db.check_schema(engine)
    client = make_client(token=settings.slack_bot_token or "", base_url=settings.slack_api_url)
    return make_jobs(
        settings, sessions=db.make_sessions(engine),
        library=PlaybookLibrary.load(settings.playbooks_dir),
        managers=ManagerDirectory(managers=settings.managers, group=None, client=client,
                                  ladder=settings.approval_ladder))


def _needs_slack(settings: Settings) -> bool:
    if not settings.slack_bot_token:
        print("SLACK_BOT_TOKEN is not set: Amends needs it to send messages.", file=sys.stderr)
        return False
    return True


def _start(args: argparse.Namespace, settings: Settings) -> int:
    if settings.missing_for_slack() and not settings.slack_app_token:
        print("No Slack credentials are set, so Amends starts its sandbox: the real bot with "
              "a local Slack-like workspace in your browser.\nTo connect a real workspace, "
              "see 'Connecting to Slack' in the README.", flush=True)
        return _sandbox(args, settings)
    return _serve(args, settings)


def _sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from bot.sandbox.run import run

    return run(port=8700 if args.port is None else args.port, bot_port=args.bot_port,
               database_url=args.database)


def _reminders_run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.recovery import utc_now

    if not _needs_slack(settings):
        return 2
    parts = _assembly(settings)
    from bot.jobs import run_reminders

    report = run_reminders(parts.jobs, utc_now())
    parts.outbox.drain()
    print(f"Sent {report}.")
    return _outbox_outcome(parts)


def _outbox_outcome(parts) -> int:  # type: ignore[no-untyped-def]
    from storage import outbox

    with parts.outbox.sessions() as session:
        counts = outbox.counts(session)
    if counts.get("pending") or counts.get("dead"):
        print(f"The outbox still holds {counts.get('pending', 0)} message(s) to retry and "
              f"{counts.get('dead', 0)} dead-lettered: see `amends outbox status`.",
              file=sys.stderr)
        return 1
    return 0


def _week(args: argparse.Namespace, jobs, now):  # type: ignore[no-untyped-def]
    from bot.domain.weeks import Week
    from bot.jobs import digest

    if args.week:
        return Week.parse(args.week)
    return digest.due_week(jobs, now)[0]


def _digest_preview(args: argparse.Namespace, settings: Settings) -> int:
    from bot.jobs import digest
    from bot.recovery import utc_now

    jobs = _jobs(settings)
    try:
        week = _week(args, jobs, utc_now())
    except ValueError as exc:
        print(f"--week: {exc}", file=sys.stderr)
        return 2
    with jobs.sessions() as session:
        print(digest.compose(jobs, session, week, plain=True, names=_names(settings)).text)
        if args.chart is not None:
            try:
                args.chart.write_bytes(digest.chart(jobs, session, week).png)
            except OSError as exc:
                print(f"--chart: can't write {args.chart}: {exc.strerror or exc}",
                      file=sys.stderr)
                return 1
            print(f"The chart is in {args.chart}.")
    return 0


def _digest_send(args: argparse.Namespace, settings: Settings) -> int:
    from bot.recovery import utc_now

    if not _needs_slack(settings):
        return 2
    from bot.jobs import digest

    parts, now = _assembly(settings), utc_now()
    jobs = parts.jobs
    try:
        week = _week(args, jobs, now)
        outcome = digest.send(jobs, week, now)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if outcome:
        parts.outbox.drain()
        print(f"Sent the digest for {week} to {settings.leadership_channel}.")
        return _outbox_outcome(parts)
    print(f"The digest for {week} was already sent to {settings.leadership_channel}; "
          "it goes out once per week and channel.")
    return 0


def _outbox_status(args: argparse.Namespace, settings: Settings) -> int:
    from bot.delivery.outbox import status
    from bot.domain.lifecycle import case_reference
    from bot.recovery import utc_now
    from storage import db

    engine = db.make_engine(settings.database_url)
    db.check_schema(engine)
    now = utc_now()
    report = status(db.make_sessions(engine), now)
    counts = report["counts"]
    print("Outbox: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("pending", "sent", "dead")))
    backlog = report["backlog"]
    if backlog.oldest is not None:
        # How far behind what people see in Slack is: the oldest change still to go out.
        print(f"  pending: {backlog.due} due now, {backlog.waiting} waiting to retry (a "
              f"back-off or Slack's Retry-After); the oldest was asked for "
              f"{_ago(now - backlog.oldest)} ago")
    for job_id, kind, case_id, attempts, error in report["dead"]:
        case = case_reference(case_id) if case_id else "-"
        print(f"  dead #{job_id} {kind} (case {case}, {attempts} attempt(s)): {error}")
    if report["dead"]:
        print("Fix the cause, then `amends outbox retry` to deliver them again.")
    return 0


def _ago(elapsed: timedelta) -> str:
    seconds = max(elapsed.total_seconds(), 0.0)
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _outbox_retry(args: argparse.Namespace, settings: Settings) -> int:
    from bot.recovery import utc_now
    from storage import db, outbox

    engine = db.make_engine(settings.database_url)
    db.check_schema(engine)
    with db.make_sessions(engine).begin() as session:
        count = outbox.retry(session, utc_now(), args.ids or None)
    print(f"Queued {count} dead-lettered deliver{'y' if count == 1 else 'ies'} again; "
          "`amends serve` (or `amends outbox run`) delivers them.")
    return 0


def _outbox_run(args: argparse.Namespace, settings: Settings) -> int:
    if not _needs_slack(settings):
        return 2
    parts = _assembly(settings)
    parts.outbox.drain()
    return _outbox_outcome(parts)


def _names(settings: Settings):  # type: ignore[no-untyped-def]
    """People's names from Slack (users.info, once per person) when a bot token is set;
    without one, names stay empty and the ids are still there."""
    if not settings.slack_bot_token:
        return lambda _user: ""
    from bot.messaging import Slack, make_client

    client = make_client(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    return Slack(client, recovery_channel=None).name


def _case(args: argparse.Namespace, settings: Settings) -> int:
    import re

    from storage import cases, db
    from storage.cases import CaseNotFound
    from storage.timeline import page

    found = re.fullmatch(r"(?:[Cc]-?)?0*(\d{1,12})", args.reference.strip())
    if found is None:
        print(f"'{args.reference}' is not a case reference like C-0042.", file=sys.stderr)
        return 2
    engine = db.make_engine(settings.database_url)
    db.check_schema(engine)
    try:
        with db.make_sessions(engine).begin() as session:
            case = cases.read(session, int(found.group(1)))[0]
            total, _first, entries = page(session, case, None)
    except CaseNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.json:
        json.dump({"case": case.reference, "id": case.id, "customer": case.customer.name,
                   "playbook": case.playbook_id, "state": case.state.value,
                   "opened_at": case.opened_at.isoformat(), "events": [
                       {"number": e.number, "kind": e.kind, "actor": e.actor,
                        "at": e.at.isoformat(), "what": e.what, "detail": e.detail,
                        "data": dict(e.data)} for e in entries]},
                  sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    names = _names(settings)
    print(f"{case.reference} · {case.customer.name} · {case.playbook_id} · {case.state.label}")
    for e in entries:
        name = names(e.actor)
        who = f"{name} ({e.actor})" if name else e.actor
        when = e.at.astimezone(settings.timezone).strftime("%Y-%m-%d %H:%M %Z")
        print(f"{when}  {who} {e.what}")
        for line in e.detail.splitlines():
            print(f"    > {line}")
    print(f"{total} event{'s' if total != 1 else ''}.")
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    import csv
    from datetime import date, datetime, time

    from storage import db
    from storage.export import COLUMNS, rows, spreadsheet_safe

    def day(text: str, flag: str) -> datetime:
        try:
            return datetime.combine(date.fromisoformat(text), time(0), tzinfo=settings.timezone)
        except ValueError:
            raise SystemExit(f"{flag}: '{text}' is not a date like 2026-11-01") from None

    since = day(args.since, "--since")
    until = day(args.until, "--until") if args.until else None
    if until is not None and until <= since:
        print(f"--since {args.since} is not before --until {args.until}: --until is the day "
              "after the last one exported.", file=sys.stderr)
        return 2
    engine = db.make_engine(settings.database_url)
    db.check_schema(engine)
    names = _names(settings)
    out = args.output.open("w", newline="", encoding="utf-8") if args.output else sys.stdout
    written = 0
    try:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        with db.make_sessions(engine)() as session:
            for row in rows(session, since, until, names):
                writer.writerow(spreadsheet_safe(row))
                written += 1
    finally:
        if args.output:
            out.close()
    print(f"{written} case(s) exported.", file=sys.stderr)
    return 0


def _purge(args: argparse.Namespace, settings: Settings) -> int:
    from bot.domain.durations import parse_duration
    from bot.recovery import utc_now
    from storage import db, purge, request_keys

    try:
        before = utc_now() - parse_duration(args.older_than)
    except ValueError as exc:
        print(f"--older-than: {exc}", file=sys.stderr)
        return 2
    engine = db.make_engine(settings.database_url)
    db.check_schema(engine)
    with db.make_sessions(engine).begin() as session:
        if args.dry_run:
            print(f"{purge.count(session, before)} finished case(s) opened before "
                  f"{before:%Y-%m-%d} would be anonymised.")
            return 0
        done = purge.purge(session, before)
        # Slack never redelivers a request after minutes: a day-old key protects nothing.
        keys = request_keys.forget_before(session, utc_now() - timedelta(days=1))
    print(f"Anonymised {done} finished case(s) opened before {before:%Y-%m-%d}; "
          "their figures are kept.")
    print(f"Forgot {keys} request key(s) older than a day.")
    return 0


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from storage import db

    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    print(f"Database is at revision {db.current_revision(engine)} (latest).")
    return 0


def _db_analyze(args: argparse.Namespace, settings: Settings) -> int:
    from storage import db

    if db.refresh_statistics(db.make_engine(settings.database_url)):
        print("Refreshed SQLite's query-planner statistics.")
    else:
        print("Nothing to do: PostgreSQL's autovacuum keeps its statistics.")
    return 0


def _db_status(args: argparse.Namespace, settings: Settings) -> int:
    from storage import db

    engine = db.make_engine(settings.database_url)
    try:
        db.check_schema(engine)
    except db.SchemaOutOfDate as exc:
        print(exc)
        return 1
    print(f"Database is at revision {db.current_revision(engine)} (latest).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
