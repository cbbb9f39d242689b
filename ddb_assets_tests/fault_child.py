"""A load in a child process, for the fault-injection tests (killed with SIGKILL from outside
or at a seam through ``DDB_ASSETS_FAULT_AT``).

``python -m ddb_assets_tests.fault_child '<json>'`` with ``warehouse``, ``schema``, ``table``,
``day`` (YYYY-MM-DD), ``files`` and ``expect`` ({export, item_count, files: [[name, count,
path]], keys}). Prints ``START`` when the load begins and ``DONE <rows>`` when it returned.
"""

from __future__ import annotations

import datetime as dt
import json
import sys


def main(argv: list[str]) -> int:
    args = json.loads(argv[0])
    from ddb_assets.resources import WarehouseResource
    from ddb_assets.tables.checks import Expectation, ExpectedFile
    from ddb_assets.tables.duckdb import load_snapshot_duckdb

    e = args.get("expect")
    expect = (
        Expectation(
            export=e["export"],
            item_count=e["item_count"],
            files=tuple(ExpectedFile(n, c, p) for n, c, p in e["files"]),
            key_attributes=tuple(e["keys"]),
        )
        if e
        else None
    )
    con = WarehouseResource(path=args["warehouse"], lock_timeout_seconds=120).connect()
    try:
        print("START", flush=True)
        res = load_snapshot_duckdb(
            con,
            schema=args["schema"],
            table=args["table"],
            snapshot_date=dt.date.fromisoformat(args["day"]),
            data_files=args["files"],
            expect=expect,
        )
        print(f"DONE {res.row_count}", flush=True)
    finally:
        con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
