"""A change-history seed step in a child process, for the fault tests (it kills itself at a
seam through ``DDB_ASSETS_FAULT_AT``, e.g. ``after_download``, or is killed from outside).

``python -m ddb_assets_tests.fault_chain_child '<json>'`` with ``warehouse``, ``table``
(the DynamoDB table), ``bucket``, ``manifest_key``, ``arn`` and ``export_time`` (ISO); the
local stack's endpoint and credentials come from the environment. Prints ``START`` before
the step and ``DONE <rows>`` after it.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from types import SimpleNamespace


def main(argv: list[str]) -> int:
    args = json.loads(argv[0])
    import boto3
    import duckdb

    from ddb_assets.incremental.chain import ChainSpec
    from ddb_assets.incremental.duckdb_warehouse import DuckDBChain

    ddb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    spec = ChainSpec(
        table_name=args["table"],
        sql_name="orders",
        schema="shop",
        s3_bucket=args["bucket"],
        base_prefix="chain",
    )
    seed = SimpleNamespace(
        s3_bucket=args["bucket"],
        manifest_key=args["manifest_key"],
        arn=args["arn"],
        export_time=datetime.fromisoformat(args["export_time"]),
    )
    con = duckdb.connect(args["warehouse"])
    try:
        print("START", flush=True)
        res = DuckDBChain(con, "shop", "orders").seed_step(ddb, s3, spec, seed, 0, None)
        print(f"DONE {res.row_count}", flush=True)
    finally:
        con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
