"""What each CLI command does (parsing lives in govcast.cli)."""

from __future__ import annotations

import argparse
import sys
import time

import uvicorn

from govcast.gc_tuning import tune_for_service
from govcast.runtime import Runtime
from settings import Settings

SANDBOX_LOOPBACK = ("127.0.0.0/8", "::1/128")


def _bootstrap_tokens(runtime: Runtime) -> list[tuple[str, str]]:
    """On an empty store, create a demo department and an operator; their secrets are shown once."""
    from govcast.samples import DEMO_DEPARTMENT
    from producers.auth import new_token

    if runtime.store.count_tokens():
        return []
    dept = new_token(runtime.store, "department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"])
    oper = new_token(runtime.store, "operator", "政务公开办值班员（演示）")
    _seed_demo_businesses(runtime)
    return [(f"department token ({DEMO_DEPARTMENT['name']}, {DEMO_DEPARTMENT['publisher_code']})", dept),
            ("operator token", oper)]


def _seed_demo_businesses(runtime: Runtime) -> None:
    """Sandbox mode, first start: four demo businesses (one per push channel) so `govcast demo` shows pushes."""
    import base64
    import secrets

    from govcast.samples import demo_businesses
    from persistence.subscribers import SubscriberStore
    from processors.bus import BusUnavailable
    from processors.directory_hook import change_hook
    from schemas.subscriber import SubscriberIn

    settings = runtime.settings
    if not settings.sandboxes or "push" not in settings.channels:
        return
    store = SubscriberStore(runtime.store.engine, change_hook(settings, runtime.bus))  # Kafka: the topic too
    if store.list(1, 0)[0]:
        return
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    try:
        store.upsert_many([SubscriberIn.model_validate(row) for row in demo_businesses(settings.base_url, secret)])
    except BusUnavailable as exc:  # Kafka down at the first start: the demo simply has no businesses
        print(f"demo businesses not registered ({exc})", file=sys.stderr)


def _banner(settings: Settings, tokens: list[tuple[str, str]], mode: str) -> str:
    base = settings.base_url
    lines = [
        f"govcast is running ({mode}); data in {settings.data_dir.resolve()}",
        f"  submit API   {base}/v1/publications   (OpenAPI docs: {base}/docs)",
        f"  portal       {base}/portal/   (search {base}/portal/search, 政策文件库 {base}/portal/zcwjk/)",
        f"  console      {base}/console/   (operators and departments log in with their token)",
        f"  health       {base}/healthz   metrics {base}/metrics",
        f"  channels     {', '.join(settings.channels)}",
    ]
    if "push" in settings.channels:  # as on the portal: the sign-up is offered only where something will be pushed
        lines.insert(4, f"  subscribe    {base}/subscribe   (businesses sign up for policy push themselves)")
    if settings.api_processes > 1 and not settings.broker:
        lines.append(f"  API served by {settings.api_processes} processes (the first also runs the pipeline)")
    if settings.sandboxes:
        from adapters.channels import specs

        lines.append("  SANDBOX platforms (stand-ins, not the real platforms' services):")
        lines += [f"    {name:10} {base}/sandbox/{name}/_inspect" for spec in specs() for name in spec.sandboxes]
    if settings.webhook_allowed_networks:
        lines.append(f"  webhooks may also reach {', '.join(settings.webhook_allowed_networks)} (webhook_allowed_networks)")
    if tokens:
        lines.append("First start: these tokens are shown once, keep them (stored hashed only):")
        lines += [f"  {label}: {secret}" for label, secret in tokens]
        lines.append(f"Try it:  govcast demo --url {base} --token <the department token above>")
    return "\n".join(lines)


def _serve(settings: Settings, *, run_pipeline: bool, mode: str, bootstrap: bool) -> int:
    from govcast.api_processes import ApiProcesses, server_config
    from govcast.app import build_app
    from govcast.directory_sync import start_seeder
    from processors.embedded.log import SqliteLog

    runtime = Runtime.build(settings, with_adapters=run_pipeline)
    # Demo tokens only for the all-in-one `run`: a production `api` would print secrets into its logs.
    tokens = _bootstrap_tokens(runtime) if bootstrap else []
    app = build_app(runtime, run_pipeline=run_pipeline)
    config = server_config(app, settings)
    server = uvicorn.Server(config)
    seeder = start_seeder(runtime)  # Kafka mode: the directory topic in step with the database before serving
    extra, sockets = None, None
    if run_pipeline and settings.api_processes > 1:
        # the store is migrated (Runtime.build) before any child opens it; they all accept on one socket
        sockets = [config.bind_socket()]
        assert isinstance(runtime.bus, SqliteLog)
        extra = ApiProcesses(settings, sockets[0], runtime.bus.notify_appended).start()
    print(_banner(settings, tokens, mode), flush=True)
    tune_for_service()
    try:
        server.run(sockets=sockets)
    finally:
        if extra is not None:
            extra.stop()
        if seeder is not None:
            seeder.stop()
        runtime.close()
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    from govcast.api_processes import refusal
    from govcast.sinks import start_smtp_sink

    refused = refusal(settings)
    if refused:
        print(f"govcast run: {refused}", file=sys.stderr)
        return 2
    mode = f"distributed, broker {settings.broker}" if settings.broker else "embedded"
    if settings.sandboxes and not settings.webhook_allowed_networks:
        # the demo's webhook business posts to the bundled receiver on this very host
        settings = settings.model_copy(update={"webhook_allowed_networks": list(SANDBOX_LOOPBACK)})
    sink = start_smtp_sink(settings)  # push emails land in <data dir>/mail/ in sandbox mode
    if sink is not None:
        channel_env = {**settings.channel_env, "push": {**settings.channel_env.get("push", {}), "smtp_sink_port": sink.port}}
        settings = settings.model_copy(update={"channel_env": channel_env})
        print(f"  SMTP sink    127.0.0.1:{sink.port} (push emails saved under {settings.data_dir / 'mail'})", flush=True)
    try:
        return _serve(settings, run_pipeline=True, mode=mode, bootstrap=True)
    finally:
        if sink is not None:
            sink.stop()


def api(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.broker:
        print("govcast api: without --broker the API would accept work no pipeline processes; "
              "use `govcast run` for one process, or pass --broker kafka://HOST:PORT", file=sys.stderr)
        return 2
    if not runtime_has_tokens(settings):
        print("govcast api: no tokens yet; create them first with `govcast token create` "
              "(the API does not print secrets into service logs)", file=sys.stderr)
    return _serve(settings, run_pipeline=False, mode=f"API only, broker {settings.broker}", bootstrap=False)


def worker(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.broker:
        print("govcast worker needs --broker kafka://HOST:PORT (embedded mode runs its pipeline inside `govcast run`)",
              file=sys.stderr)
        return 2
    from govcast.worker import run_worker

    return run_worker(settings)


def runtime_has_tokens(settings: Settings) -> bool:
    runtime = Runtime.build(settings, with_adapters=False, with_bus=False)
    try:
        return runtime.store.count_tokens() > 0
    finally:
        runtime.close()


def token(settings: Settings, args: argparse.Namespace) -> int:
    """`govcast token create|list|revoke`."""
    handler = {"create": token_create, "list": token_list, "revoke": token_revoke}[args.token_command]
    runtime = Runtime.build(settings, with_adapters=False, with_bus=False)
    try:
        return handler(runtime, args)
    finally:
        runtime.close()


def token_create(runtime: Runtime, args: argparse.Namespace) -> int:
    from producers.auth import new_token, parse_expiry

    if args.kind in ("department", "business") and not args.publisher_code:
        print(f"govcast token create: --publisher-code is required for a {args.kind} token", file=sys.stderr)
        return 2
    try:
        expires_at = parse_expiry(args.expires) if args.expires else None
        print(new_token(runtime.store, args.kind, args.name, args.publisher_code, expires_at=expires_at))
    except ValueError as exc:
        print(f"govcast token create: {exc}", file=sys.stderr)
        return 2
    return 0


def token_list(runtime: Runtime, args: argparse.Namespace) -> int:
    from producers.auth import list_tokens, utcnow

    now = utcnow()
    rows = [t.public(now) for t in list_tokens(runtime.store, include_revoked=not args.active)]
    columns = ("id", "kind", "state", "publisher_code", "expires_at", "created_at", "name")
    print("\t".join(columns))
    for row in rows:
        print("\t".join(str(row[c] or "-") for c in columns))
    return 0


def token_revoke(runtime: Runtime, args: argparse.Namespace) -> int:
    from producers.auth import revoke_token

    record = revoke_token(runtime.store, args.token_id)  # the audit trail names the local user (cli:<user>)
    if record is None:
        print(f"govcast token revoke: no token {args.token_id!r} (see `govcast token list`)", file=sys.stderr)
        return 1
    print(f"revoked {record.id} ({record.kind}, {record.name}) at {record.revoked_at}")
    return 0


def audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    """`govcast audit verify`: 0 when the chain is intact (prints its head hash to keep elsewhere), 1 naming the rows."""
    from persistence.audit import verify

    runtime = Runtime.build(settings, with_adapters=False, with_bus=False)
    try:
        verdict = verify(runtime.store.engine)
    finally:
        runtime.close()
    for problem in verdict.problems:
        print(f"govcast audit verify: {problem}", file=sys.stderr)
    state = "intact" if verdict.intact else f"BROKEN ({len(verdict.problems)} problem(s))"
    print(f"{verdict.entries} entries, chain {state}; head {verdict.head}")
    return 0 if verdict.intact else 1


def config_check(settings: Settings, args: argparse.Namespace) -> int:
    """`govcast config check`: the settings (secrets masked) and, per configured channel, what it still lacks."""
    from adapters.channels import spec_of, specs
    from govcast.config_check import report

    problems: dict[str, str | None] = {}
    for channel in settings.channels:
        try:
            spec_of(channel).config(settings)
            problems[channel] = None
        except ValueError as exc:  # what the channel's config refuses names the variables to set
            problems[channel] = " ".join(str(exc).split())
    # every channel's own settings (GOVCAST_<CHANNEL>_*), configured or not: a variable set for a channel
    # that is off is not "unknown"
    channel_settings = [settings.channel_settings(spec.settings) for spec in specs() if spec.settings is not None]
    return report(settings, problems, sys.stdout, channel_settings=channel_settings)


def db(settings: Settings, args: argparse.Namespace) -> int:
    """`govcast db upgrade`: migrate the store, say from which revision to which. `govcast db status`: 1 when behind."""
    from sqlalchemy.engine import make_url

    from persistence.engine import make_engine, normalize_url
    from persistence.migrate import revisions, upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)  # the default SQLite store lives there
    where = make_url(normalize_url(settings.store)).render_as_string(hide_password=True)
    engine = make_engine(settings.store)
    try:
        state = upgrade(engine) if args.db_command == "upgrade" else revisions(engine)
    finally:
        engine.dispose()
    current = state.current or "none (empty, or made by a release before migrations)"
    if args.db_command == "status":
        print(f"status store {where}: revision {current}; this release needs {state.head}"
              + ("" if state.up_to_date else " (run `govcast db upgrade`)"))
        return 0 if state.up_to_date else 1
    if state.up_to_date:
        print(f"status store {where}: already at revision {state.head}")
    else:
        print(f"status store {where}: upgraded from revision {current} to {state.head}")
    return 0


def demo(settings: Settings, args: argparse.Namespace) -> int:
    from govcast.demo import publish_demo

    token = args.token
    if not token:
        from govcast.samples import DEMO_DEPARTMENT
        from producers.auth import new_token

        runtime = Runtime.build(settings, with_adapters=False, with_bus=False)
        try:
            token = new_token(runtime.store, "department", DEMO_DEPARTMENT["name"], DEMO_DEPARTMENT["publisher_code"])
        finally:
            runtime.close()
    started = time.monotonic()
    code = publish_demo(args.url.rstrip("/"), token)
    print(f"(took {time.monotonic() - started:.1f} s)", file=sys.stderr)
    return code


def subscribers_import(settings: Settings, args: argparse.Namespace) -> int:
    """`govcast subscribers import|publish`; with --broker (or GOVCAST_BROKER) changes go to the directory topic."""
    from govcast.directory_sync import publish
    from govcast.subscribers_import import import_csv
    from processors.directory_hook import change_hook

    if getattr(args, "subscribers_command", "import") == "publish":
        return publish(settings)
    runtime = Runtime.build(settings, with_adapters=False, with_bus=bool(settings.broker))
    # 100,000 rows build a few objects each, many alive until their batch is written: the default collector
    # thresholds made it cost 1.3 × the CPU (measured: govcast/gc_tuning.py)
    tune_for_service()
    try:
        return import_csv(runtime.store.engine, args.file, on_change=change_hook(settings, runtime.bus),
                          allowed_networks=settings.webhook_allowed_networks)
    finally:
        runtime.close()


def portal(settings: Settings, args: argparse.Namespace) -> int:
    """`govcast portal import FILE` | `govcast portal export --target DIR`."""
    from adapters.portal import PortalAdapter, PortalConfig
    from govcast.runtime import portal_config

    config = portal_config(settings)
    assert isinstance(config, PortalConfig)
    if args.portal_command == "export":
        from govcast.portal_export import export_tree

        return export_tree(config, args.target)
    from govcast.portal_import import import_archive

    runtime = Runtime.build(settings, with_adapters=False, with_bus=False)  # the status store: 索引号 reserved there
    try:
        return import_archive(PortalAdapter(config), runtime.store, args.file, workers=args.workers)
    finally:
        runtime.close()
