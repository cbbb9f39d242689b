"""``ddb-assets``: the command line.

- ``ddb-assets demo``      local AWS stack + sample table → export → typed table → summary
- ``ddb-assets local-aws`` only the local AWS stack, in the foreground
- ``ddb-assets dev``       the Dagster UI on the local AWS stack with a sample table
- ``ddb-assets refresh``   the chain for one table and partition(s), against the
                           configured environment (local stack or AWS)
- ``ddb-assets infra``     the CloudFormation template (buckets, Glue, Athena, IAM role)
- ``ddb-assets doctor``    check a configured environment before the first run
"""

import argparse
import os
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

EXAMPLES = Path(__file__).parent / "examples"


def _yesterday(tz: str) -> str:
    return (datetime.now(ZoneInfo(tz)).date() - timedelta(days=1)).isoformat()


def _instance(home: str | None):
    import dagster as dg

    if home:
        Path(home).mkdir(parents=True, exist_ok=True)
        return dg.DagsterInstance.local_temp(home)
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.local_temp(tempfile.mkdtemp(prefix="ddb-assets-dagster-"))


def demo_config(workdir: Path, export_format: str = "DYNAMODB_JSON"):
    import yaml

    from ddb_assets.config import parse_config

    data = yaml.safe_load((EXAMPLES / "demo.yaml").read_text())
    data["warehouse"] = str(workdir / "warehouse.duckdb")
    data["summaries_dir"] = str(EXAMPLES / "summaries")
    for t in data["tables"]:
        t["export_format"] = export_format
    return parse_config(data, source=str(EXAMPLES / "demo.yaml"), base_dir=EXAMPLES)


def run_demo(
    *,
    workdir: Path,
    export_format: str = "DYNAMODB_JSON",
    n_items: int = 3000,
    export_seconds: float = 3.0,
    log=print,
):
    """The demo, as a function the end-to-end test calls: (columns, summary rows, items)."""
    from ddb_assets.definitions import build_definitions
    from ddb_assets.local import LocalAWS, seed_sample_tables
    from ddb_assets.runner import run_chain

    cfg = demo_config(workdir, export_format)
    t = cfg.tables[0]
    with LocalAWS(export_seconds=export_seconds) as stack:
        saved = {k: os.environ.get(k) for k in [*stack.env(), "DDB_ASSETS_ENV"]}
        os.environ.update(stack.env())
        os.environ["DDB_ASSETS_ENV"] = "local"
        try:
            log(f"local AWS stack at {stack.endpoint}")
            items = seed_sample_tables(stack, [t], n_items=n_items, log=log)[t.name]
            ddb = stack.client("dynamodb")
            partition = _yesterday(t.schedule.timezone)
            defs = build_definitions(cfg, env="local")
            instance = _instance(str(workdir / "dagster_home"))
            run_chain(
                defs,
                cfg,
                instance,
                table=t.name,
                partitions=[partition],
                poll_seconds=0.5,
                ddb=ddb,
                log=log,
            )
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    import duckdb

    con = duckdb.connect(str(cfg.warehouse_path()), read_only=True)
    try:
        db = cfg.athena_for(t).database
        cur = con.execute(f"SELECT * FROM {_q(db)}.{_q(DEMO_SUMMARY)}")
        columns = [d[0] for d in cur.description]
        rows = cur.fetchall()
    finally:
        con.close()
    return columns, rows, items


DEMO_SUMMARY = "menu_daily_quantity"
RDS_DEMO_SUMMARY = "menu_revenue"


def rds_demo_config(workdir: Path, arns: dict[str, str] | None = None):
    """``examples/rds.yaml`` for the demo: the warehouse in ``workdir`` and (once the local
    stack made them) the export role and key."""
    import yaml

    from ddb_assets.config import parse_config

    data = yaml.safe_load((EXAMPLES / "rds.yaml").read_text())
    data["warehouse"] = str(workdir / "warehouse.duckdb")
    data["summaries_dir"] = str(EXAMPLES / "summaries_rds")
    for src in data["rds"]:
        src.update(arns or {})
    return parse_config(data, source=str(EXAMPLES / "rds.yaml"), base_dir=EXAMPLES)


def run_rds_demo(*, workdir: Path, n_items: int = 3000, export_seconds: float = 3.0, log=print):
    """``demo --source rds``: the DynamoDB sample table and the RDS sample database, both
    chains, then the summary that joins them: (columns, rows, DynamoDB items written)."""
    from ddb_assets.definitions import build_definitions
    from ddb_assets.local import LocalAWS, seed_sample_tables
    from ddb_assets.local.rds_sample import seed_sample_rds
    from ddb_assets.runner import _execute, _failure_text, run_chain
    from ddb_assets.runner_rds import run_rds_chain

    draft = rds_demo_config(workdir)
    with LocalAWS(export_seconds=export_seconds, rds=True) as stack:
        saved = {k: os.environ.get(k) for k in [*stack.env(), "DDB_ASSETS_ENV"]}
        os.environ.update(stack.env())
        os.environ["DDB_ASSETS_ENV"] = "local"
        try:
            log(f"local AWS stack at {stack.endpoint} (RDS instances on MariaDB)")
            items = seed_sample_tables(stack, draft.tables, n_items=n_items, log=log)
            arns = seed_sample_rds(stack, draft.rds[0], log=log)
            cfg = rds_demo_config(workdir, arns)
            defs = build_definitions(cfg, env="local")
            instance = _instance(str(workdir / "dagster_home"))
            t, src = cfg.tables[0], cfg.rds[0]
            run_chain(
                defs,
                cfg,
                instance,
                table=t.name,
                partitions=[_yesterday(t.schedule.timezone)],
                poll_seconds=0.5,
                summaries=False,
                log=log,
            )
            run_rds_chain(
                defs,
                cfg,
                instance,
                source=src.name,
                partitions=[_yesterday(src.schedule.timezone)],
                log=log,
            )
            keys = [k for k in defs.resolve_all_asset_keys() if k.path[0] == "summaries"]
            res = _execute(defs, instance, keys)
            if not res.success:
                raise RuntimeError(f"summaries failed: {_failure_text(res)}")
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    import duckdb

    con = duckdb.connect(str(cfg.warehouse_path()), read_only=True)
    try:
        cur = con.execute(
            f"SELECT * FROM {_q(cfg.defaults.athena.database)}.{_q(RDS_DEMO_SUMMARY)}"
        )
        return [d[0] for d in cur.description], cur.fetchall(), items[draft.tables[0].name]
    finally:
        con.close()


def format_table(columns, rows) -> str:
    """A plain text table (values as ``str()``, so decimals print exactly)."""
    cells = [[str(c) for c in columns]] + [
        ["NULL" if v is None else str(v) for v in r] for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _q(name: str) -> str:
    from ddb_assets.sql.identifiers import quote_ident

    return quote_ident(name)


def cmd_demo(args) -> int:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ddb-assets-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.source == "rds":
        columns, rows, _ = run_rds_demo(
            workdir=workdir, n_items=args.items, export_seconds=args.export_seconds
        )
        print()
        print(
            f"summaries/{RDS_DEMO_SUMMARY}: {len(rows)} rows, DynamoDB sushi_orders joined with "
            f"RDS shop.menu_items (DuckDB warehouse {workdir / 'warehouse.duckdb'}, schema sushi)"
        )
        print(format_table(columns, rows))
        return 0
    columns, rows, _ = run_demo(
        workdir=workdir,
        export_format=args.format,
        n_items=args.items,
        export_seconds=args.export_seconds,
    )
    print()
    print(
        f"summaries/{DEMO_SUMMARY}: {len(rows)} rows "
        f"(DuckDB warehouse {workdir / 'warehouse.duckdb'}, schema sushi)"
    )
    print(format_table(columns, rows))
    return 0


def cmd_local_aws(args) -> int:
    from ddb_assets.local import serve_forever

    serve_forever(port=args.port, export_seconds=args.export_seconds)
    return 0


def cmd_dev(args) -> int:
    from ddb_assets.devserver import run_dev

    return run_dev(
        port=args.port,
        export_seconds=args.export_seconds,
        sensor_interval=args.sensor_interval,
        config=args.config,
        dagster_home=args.dagster_home,
        keep_home=args.keep_home,
        items=args.items,
    )


def _day(value: str, flag: str) -> date:
    from ddb_assets.runner import ChainInputError

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ChainInputError(f"{flag} {value!r} is not a day; write YYYY-MM-DD") from None


def _partitions(args, tz: str) -> list[str]:
    from ddb_assets.runner import ChainInputError

    if args.partition and (args.start or args.end):
        raise ChainInputError("give either --partition or --from/--to, not both")
    if args.partition:
        return [_day(args.partition, "--partition").isoformat()]
    if args.start or args.end:
        if not (args.start and args.end):
            raise ChainInputError("give both --from and --to (YYYY-MM-DD), or --partition")
        a, b = _day(args.start, "--from"), _day(args.end, "--to")
        if b < a:
            raise ChainInputError(f"--to {b} is before --from {a}")
        return [(a + timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]
    return [_yesterday(tz)]


class InputError(ValueError):
    """Bad input found before anything ran (exit 2)."""


def _load_definitions(config: str | None):
    """The config and the Definitions, or :class:`InputError` naming file and line."""
    from ddb_assets.config import ConfigError, load_config
    from ddb_assets.definitions import build_definitions
    from ddb_assets.summaries import SummaryError

    try:
        cfg = load_config(config)
        return cfg, build_definitions(cfg)
    except (ConfigError, SummaryError) as exc:
        raise InputError(str(exc)) from exc


def cmd_refresh(args) -> int:
    from ddb_assets import runner
    from ddb_assets.config import ConfigError
    from ddb_assets.runner import run_chain

    if args.debug:
        runner.console_log_level = "DEBUG"

    cfg, defs = _load_definitions(args.config)
    try:
        t = cfg.table(args.table)
    except ConfigError as exc:
        raise InputError(str(exc)) from exc
    report = run_chain(
        defs,
        cfg,
        _instance(args.dagster_home),
        table=t.name,
        partitions=_partitions(args, t.schedule.timezone),
        force=args.force,
        timeout=args.timeout,
    )
    if report.already_loaded:
        print(
            f"{t.name}: {', '.join(report.already_loaded)} already loaded from the newest "
            "export (nothing to do; --force requests a new export and loads it)"
        )
    if report.loaded:
        print(
            f"loaded {t.name} for {', '.join(report.loaded)}; summaries: "
            f"{', '.join(report.summaries) or 'none'}"
        )
    return 0


def cmd_infra(args) -> int:
    """Write the CloudFormation template for the config; print the one-time steps."""
    from ddb_assets.config import ConfigError, load_config
    from ddb_assets.infra import (
        InfraError,
        InfraOptions,
        build_template,
        layout,
        one_time_steps,
        to_yaml,
    )

    try:
        cfg = load_config(args.config)
        lay = layout(cfg, kms_key_arn=args.kms_key_arn, compute_logs_uri=args.compute_logs_uri)
        opts = InfraOptions(
            export_retention_days=args.export_retention_days,
            results_retention_days=args.results_retention_days,
            bytes_scanned_cutoff=args.bytes_scanned_cutoff,
            existing_buckets=args.existing_buckets,
            existing_role=args.existing_role,
            existing_export_roles=args.existing_export_roles,
            role_name=args.role_name,
            trusted_services=tuple(args.trust_service or ["ecs-tasks.amazonaws.com"]),
        )
    except (ConfigError, InfraError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = to_yaml(build_template(lay, opts))
    if args.output == "-":
        sys.stdout.write(text)
        out = sys.stderr
    else:
        Path(args.output).write_text(text)
        out = sys.stdout
        print(f"wrote {args.output}; deploy it with:", file=out)
        print(
            f"  aws cloudformation deploy --template-file {args.output} --stack-name ddb-assets "
            "--capabilities CAPABILITY_NAMED_IAM",
            file=out,
        )
    steps = one_time_steps(lay, opts)
    if steps:
        print("One-time steps the template cannot do:", file=out)
        for i, step in enumerate(steps, 1):
            print(f"  {i}. {step}", file=out)
    print("Then check the environment: ddb-assets doctor", file=out)
    return 0


def cmd_doctor(args) -> int:
    """Check the configured environment; one line per check; non-zero if one fails."""
    import boto3

    from ddb_assets.config import ConfigError, load_config
    from ddb_assets.infra.doctor import failed, run_checks
    from ddb_assets.infra.layout import InfraError

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    session = boto3.session.Session()
    region = session.region_name
    if not region:
        print("error: no AWS region: set AWS_REGION (or a profile's region)", file=sys.stderr)
        return 2
    try:
        checks = run_checks(cfg, session.client, region, principal_arn=args.principal_arn)
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for c in checks:
        print(c.line())
    bad = failed(checks)
    print(
        f"{sum(c.status == 'FAIL' for c in checks)} of {len(checks)} check(s) failed"
        if bad
        else f"all {len(checks)} check(s) passed (or were skipped, as shown)"
    )
    return 1 if bad else 0


def _register_production(sub) -> None:
    p = sub.add_parser("infra", help="write the CloudFormation template for the config")
    p.add_argument(
        "--config", help="config file (default: $DDB_ASSETS_CONFIG or ./ddb_assets.yaml)"
    )
    p.add_argument("-o", "--output", default="ddb_assets.cfn.yaml", help="file, or - for stdout")
    p.add_argument("--export-retention-days", type=int, default=90)
    p.add_argument("--results-retention-days", type=int, default=30)
    p.add_argument("--bytes-scanned-cutoff", type=int, default=100 * 1024**3)
    p.add_argument(
        "--existing-buckets", action="store_true", help="the buckets exist: do not create them"
    )
    p.add_argument("--existing-role", help="attach the policy to this IAM role (by name)")
    p.add_argument(
        "--existing-export-roles",
        action="store_true",
        help="the RDS sources' export roles (iam_role_arn) exist: do not create them",
    )
    p.add_argument("--role-name", help="a fixed name for the new role")
    p.add_argument("--kms-key-arn", help="encrypt buckets and results with this KMS key")
    p.add_argument(
        "--compute-logs-uri",
        help="s3://bucket/prefix/ of Dagster's step logs (deploy/dagster.yaml): the role may "
        "write and read them",
    )
    p.add_argument(
        "--trust-service",
        action="append",
        help="service principal that assumes the role (default ecs-tasks.amazonaws.com)",
    )
    p.set_defaults(func=cmd_infra)

    p = sub.add_parser("doctor", help="check the configured environment before the first run")
    p.add_argument(
        "--config", help="config file (default: $DDB_ASSETS_CONFIG or ./ddb_assets.yaml)"
    )
    p.add_argument(
        "--principal-arn", help="role or user to check permissions of (default: the caller)"
    )
    p.set_defaults(func=cmd_doctor)


def _one_line(exc: BaseException) -> str:
    """The error as one line: a multi-line report (a config file's problems) joined by
    ``; ``, terminal colour codes removed."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    return "; ".join(ln.strip() for ln in text.splitlines() if ln.strip()) or type(exc).__name__


def run_command(args) -> int:
    """Run a subcommand: every error is one ``error:`` line; exit 2 for bad input (config,
    summary files, arguments) and 1 for a failed run; ``--debug`` adds the traceback."""
    from ddb_assets.runner import ChainError, ChainInputError

    err: Exception
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (InputError, ChainInputError) as exc:
        code, err = 2, exc
    except ChainError as exc:
        code, err = 1, exc
    except Exception as exc:  # noqa: BLE001 - anything else is still one line
        code, err = 1, exc
        if not getattr(args, "debug", False):
            print(
                f"error: {type(exc).__name__}: {_one_line(exc)} (run again with --debug "
                "for the traceback)",
                file=sys.stderr,
            )
            return code
    if getattr(args, "debug", False):
        import traceback

        traceback.print_exception(err)
    print(f"error: {_one_line(err)}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ddb-assets", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", help="print the traceback of an error as well"
    )

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="run the whole chain on the local AWS stack with a sample table",
    )
    p.add_argument("--format", choices=["DYNAMODB_JSON", "ION"], default="DYNAMODB_JSON")
    p.add_argument(
        "--source",
        choices=["dynamodb", "rds"],
        default="dynamodb",
        help="rds: also an RDS MySQL database (MariaDB on the local stack), and a summary "
        "that joins its table with the DynamoDB sample table",
    )
    p.add_argument("--items", type=int, default=3000)
    p.add_argument(
        "--export-seconds",
        type=float,
        default=3.0,
        help="how long the local export stays IN_PROGRESS",
    )
    p.add_argument("--workdir", help="keep the warehouse and Dagster home here")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "local-aws", parents=[common], help="start only the local AWS stack (foreground)"
    )
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--export-seconds", type=float, default=5.0)
    p.set_defaults(func=cmd_local_aws)

    p = sub.add_parser(
        "dev",
        parents=[common],
        help="the Dagster UI (dagster dev) on the local AWS stack with a sample table",
    )
    p.add_argument("--port", type=int, default=3000, help="the webserver's port (on 127.0.0.1)")
    p.add_argument(
        "--export-seconds",
        type=float,
        default=5.0,
        help="how long the local export stays IN_PROGRESS",
    )
    p.add_argument("--sensor-interval", type=int, help="export sensor interval in seconds (>= 5)")
    p.add_argument(
        "--config", help="config file (default: $DDB_ASSETS_CONFIG or ./ddb_assets.yaml)"
    )
    p.add_argument(
        "--dagster-home", help="Dagster instance folder (default: .ddb_assets/dagster_home)"
    )
    p.add_argument(
        "--keep-home",
        action="store_true",
        help="keep the instance's runs from the last session (default: start empty)",
    )
    p.add_argument("--items", type=int, default=3000, help="sample items per table")
    p.set_defaults(func=cmd_dev)

    p = sub.add_parser(
        "refresh",
        parents=[common],
        help="export, load and summarize one table's partition(s)",
        description=(
            "Request the export of each day, load it into the typed table and rebuild the "
            "summaries. A day already loaded from its newest export is reported at once; "
            "--force requests a new export and loads only that one."
        ),
    )
    p.add_argument("--table", required=True)
    p.add_argument("--partition", help="YYYY-MM-DD (default: yesterday in the table's time zone)")
    p.add_argument("--from", dest="start", help="first day of a backfill range")
    p.add_argument("--to", dest="end", help="last day of a backfill range (inclusive)")
    p.add_argument(
        "--force",
        action="store_true",
        help="request a new export even if the day has one, and load that new export",
    )
    p.add_argument(
        "--config", help="config file (default: $DDB_ASSETS_CONFIG or ./ddb_assets.yaml)"
    )
    p.add_argument(
        "--dagster-home", help="Dagster instance folder (default: $DAGSTER_HOME or a temp one)"
    )
    p.add_argument(
        "--timeout", type=float, default=3600, help="seconds to wait for exports and loads"
    )
    p.set_defaults(func=cmd_refresh)

    _register_production(sub)

    args = parser.parse_args(argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
