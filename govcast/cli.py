"""`govcast` command line: run, api, worker, token, audit verify, config check, db upgrade|status, demo, schema, bench."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from settings import Settings, explain, get_settings

EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT): 128 + 2, as shells report it


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, help="data directory (default ./govcast-data; env GOVCAST_DATA_DIR)")
    p.add_argument("--store", dest="store_url", help="status store SQLAlchemy URL (default SQLite in the data dir)")
    p.add_argument("--broker", help="kafka://HOST:PORT for distributed mode (default: embedded SQLite log)")


def _public_url(p: argparse.ArgumentParser) -> None:
    p.add_argument("--public-url", help="external base URL used in links, e.g. portal URLs (default http://HOST:PORT)")


def _server(p: argparse.ArgumentParser) -> None:
    _common(p)
    _public_url(p)
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (default 8000)")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="govcast", description="Publish once, reach every channel.")
    sub = root.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="API + pipeline + portal in one process (embedded by default)")
    _server(run)
    run.add_argument("--api-processes", type=int, help="processes serving the HTTP API on the port, sharing the "
                     "embedded store (default 1; env GOVCAST_API_PROCESSES); the first also runs the pipeline")
    _server(sub.add_parser("api", help="the submit API alone (use with --broker and separate workers)"))
    worker = sub.add_parser("worker", help="one pipeline worker on Kafka (needs --broker)")
    _common(worker)
    _public_url(worker)  # workers write the portal, whose links must name the public address
    token = sub.add_parser("token", help="manage API tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="create a token and print it alone on stdout")
    _common(create)
    create.add_argument("--kind", choices=["department", "operator", "business"], required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--publisher-code", "--credit-code", dest="publisher_code",
                        help="unified social credit code of the department or business (not for operators)")
    create.add_argument("--expires", help="expiry: 90d, 12h, 30m from now, a date (valid through that day, Beijing) "
                        "or a datetime; default: valid until revoked")
    listing = token.add_parser("list", help="list tokens (id, kind, name, code, created, expires, state; never secrets)")
    _common(listing)
    listing.add_argument("--active", action="store_true", help="only tokens that are not revoked")
    revoke = token.add_parser("revoke", help="revoke a token by id: refused from the next request on, on every node")
    _common(revoke)
    revoke.add_argument("token_id", metavar="ID", help="the token's id (prn_…), from `govcast token list`")
    config = sub.add_parser("config", help="the configuration").add_subparsers(dest="config_command", required=True)
    _server(config.add_parser("check", help="print every setting (set or default; secrets masked) and what a "
                                            "configured channel still lacks; exit 1 when one lacks something"))
    db = sub.add_parser("db", help="the status store's schema").add_subparsers(dest="db_command", required=True)
    _common(db.add_parser("upgrade", help="migrate the store to this release's schema (also done at start unless "
                                          "GOVCAST_DB_AUTO_UPGRADE=false)"))
    _common(db.add_parser("status", help="the store's schema revision and this release's; exit 1 when it is behind"))
    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(dest="audit_command", required=True)
    _common(audit.add_parser("verify", help="check the hash chain; names every edited row and every broken link"))
    subs = sub.add_parser("subscribers", help="the push directory").add_subparsers(dest="subscribers_command",
                                                                                  required=True)
    imp = subs.add_parser("import", help="bulk-load businesses from CSV (progress on stderr; bad rows reported)")
    _common(imp)
    imp.add_argument("file", type=Path, help="CSV with header " + "credit_code,name,region,industry,…,daily_cap")
    _common(subs.add_parser("publish", help="Kafka mode: reseed the directory topic from the database (needs --broker)"))
    portal = sub.add_parser("portal", help="the portal's archive and copies").add_subparsers(dest="portal_command",
                                                                                         required=True)
    archive = portal.add_parser("import", help="load an earlier portal's archive (JSON lines) into the portal only; "
                                               "resumable; bad lines reported")
    _common(archive)
    _public_url(archive)
    archive.add_argument("file", type=Path, help="one publication per line, with its original index_no and publish_date")
    archive.add_argument("--workers", type=int, default=0,
                         help="processes parsing lines and rendering pages (default: one per available core)")
    export = portal.add_parser("export", help="copy the static tree to a web server's directory (changed files only)")
    _common(export)
    export.add_argument("--target", type=Path, required=True, help="directory a web server publishes")
    demo = sub.add_parser("demo", help="publish a sample policy and its interpretation into a running instance")
    _common(demo)
    demo.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of the running instance")
    demo.add_argument("--token", help="department token (default: create one in --data-dir)")
    schema = sub.add_parser("schema", help="export JSON Schema of the shared models")
    schema.add_argument("out_dir", type=Path)
    bench = sub.add_parser("bench", help="run every tests/bench scenario against its baseline; write docs/benchmarks.md "
                                         "and a JSON file (source checkout only)")
    bench.add_argument("--quick", action="store_true", help="small sizes, a few minutes (default: full sizes)")
    bench.add_argument("--only", action="append", default=[], metavar="NAME",
                       help="run only scenarios whose name starts with NAME (repeatable)")
    bench.add_argument("--markdown", type=Path, help="where the tables go (default docs/benchmarks.md)")
    bench.add_argument("--json", type=Path, help="where every figure goes (default docs/benchmarks[-quick].json)")
    return root


def settings_from(args: argparse.Namespace) -> Settings:
    keys = ("data_dir", "store_url", "broker", "host", "port", "public_url", "api_processes")
    overrides: dict[str, Any] = {k: getattr(args, k, None) for k in keys}
    return get_settings(**{k: v for k, v in overrides.items() if v is not None})


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started by a non-interactive shell in the background, which ignores SIGINT for its children: uvicorn
        # installs its own handler and stops on SIGINT anyway, then re-raises it into the ignored handler and
        # the process would exit 0. Python's own handler makes every stop by SIGINT end the same way (130).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd (the sandbox SMTP sink): one line per connection
    logging.getLogger("alembic").setLevel(logging.WARNING)  # persistence.migrate logs what an upgrade changed, once
    if args.command == "schema":
        from schemas.export import export

        for path in export(args.out_dir):
            print(path)
        return 0
    if args.command == "bench":
        from govcast import bench

        return bench.main(args.quick, args.only, args.markdown, args.json)
    try:
        settings = settings_from(args)
    except ValidationError as exc:
        print(f"govcast: bad setting: {explain(exc)}", file=sys.stderr)
        return 2
    from govcast import commands
    from persistence.migrate import SchemaBehind

    handler = {"run": commands.run, "api": commands.api, "worker": commands.worker,
               "token": commands.token, "audit": commands.audit_verify, "db": commands.db,
               "config": commands.config_check, "demo": commands.demo,
               "subscribers": commands.subscribers_import, "portal": commands.portal}[args.command]
    try:
        return handler(settings, args)
    except KeyboardInterrupt:
        # Ctrl-C: uvicorn has already shut down gracefully (in-flight requests answered, the pipeline stopped,
        # the stores closed by the handlers' `finally`) and re-raises the signal; what remains is the exit.
        # 130 (128 + SIGINT) as shells report an interrupted command, so scripts can tell it from success.
        print(f"govcast {args.command}: stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SchemaBehind as exc:
        print(f"govcast {args.command}: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # a channel's own settings (GOVCAST_<CHANNEL>_*), read when the channel is built
        print(f"govcast {args.command}: bad setting: {explain(exc)}", file=sys.stderr)
        return 2
    except ValueError as exc:  # configuration the command cannot use (bad store URL, unknown channel, …)
        if type(exc) is not ValueError:  # subclasses (pydantic's ValidationError) are bugs here: show them
            raise
        print(f"govcast {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
