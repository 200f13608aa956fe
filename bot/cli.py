"""The `amends` command."""

from __future__ import annotations

import argparse
import logging
import sys
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
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return int(args.run(args, settings) or 0)


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

    serve = commands.add_parser("serve", help="run the Slack bot (Socket Mode when "
                                "SLACK_APP_TOKEN is set, else HTTP on PORT)")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (HTTP mode)")
    serve.add_argument("--threads", type=int, default=16,
                       help="request threads per worker (HTTP mode; workers: WEB_CONCURRENCY)")
    serve.set_defaults(run=_serve)

    db = commands.add_parser("db", help="database schema")
    dbc = db.add_subparsers(title="database commands", metavar="ACTION", required=True)
    dbc.add_parser("upgrade", help="create or migrate the schema to this version").set_defaults(
        run=_db_upgrade)
    dbc.add_parser("status", help="show the schema's revision").set_defaults(run=_db_status)
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
    if result.errors:
        print(f"\n{len(result.errors)} problem(s) in {directory}", file=sys.stderr)
        return 1
    print(f"{len(result.playbooks)} playbook(s) in {directory}: all valid")
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
    from bot.server import serve

    return serve(settings, host=args.host, threads=args.threads)


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from storage import db

    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    print(f"Database is at revision {db.current_revision(engine)} (latest).")
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
