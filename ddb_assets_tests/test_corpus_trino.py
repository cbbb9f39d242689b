"""The DuckDB engine's Athena dialect, proven against Trino: the differential corpus.

One export (``ddb_assets_tests/corpus/sample.py``) becomes the Athena engine's tables on the
session's real Trino (``load_snapshot_athena``: Glue registration and CTAS, its statements
run by Trino over the local stack's Glue and S3) and the DuckDB engine's tables
(``load_snapshot_duckdb``). Every query of ``corpus/queries.sql`` runs on both; results are
compared value by value and column type by column type (``corpus/compare.py``). A query
agrees, or the DuckDB engine refuses it naming the function and the reason: nothing may
differ. The count is printed and recorded in README.md.
"""

from __future__ import annotations

import gzip
import json
import pathlib
import re

import boto3
import duckdb
import pytest
from moto import mock_aws

from ddb_assets.athena.client import QueryResult
from ddb_assets.sql.transpile import prepare_duckdb_connection
from ddb_assets.tables import load_snapshot_athena, load_snapshot_duckdb
from ddb_assets_tests.corpus import sample
from ddb_assets_tests.corpus.compare import duckdb_type, trino_type
from ddb_assets_tests.corpus.run import load_queries, run_corpus

pytestmark = [pytest.mark.trino, pytest.mark.duckdb, pytest.mark.timeout(900)]

DB = "corpus"
BUCKET = "corpus-exports"
TABLES = list(sample.TABLES)


class TrinoRunner:
    """What the Athena engine's ``SqlRunner`` needs, on the session's Trino.

    Athena's CTAS property ``write_compression`` is Trino's Hive session property
    ``compression_codec`` (the one documented rename); everything else runs as written."""

    def __init__(self, server):
        self.server = server

    def execute(self, sql: str) -> QueryResult:
        props = {}
        m = re.search(r"write_compression = '([A-Z]+)', ", sql)
        if m:
            sql = sql.replace(m.group(0), "")
            props["awsdatacatalog.compression_codec"] = m.group(1)
        res = self.server.query(sql, schema=DB, session_properties=props)
        return QueryResult(
            query_id=res.query_id,
            columns=res.columns,
            rows=res.rows,
            bytes_scanned=res.physical_input_bytes,
        )


def _export_lines(items) -> bytes:
    text = "".join(
        json.dumps({"Item": it}, ensure_ascii=False, separators=(",", ":")) + "\n" for it in items
    )
    return gzip.compress(text.encode("utf-8"))


@pytest.fixture(scope="module")
def engines(trino_server, tmp_path_factory):
    """(trino query function, DuckDB connection) over the same export of both tables."""
    tmp = tmp_path_factory.mktemp("corpus")
    con = prepare_duckdb_connection(duckdb.connect(str(tmp / "warehouse.duckdb")))
    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        glue.create_database(DatabaseInput={"Name": DB})
        runner = TrinoRunner(trino_server)
        for name, make in sample.TABLES.items():
            body = _export_lines(make())
            prefix = f"exports/{name}/AWSDynamoDB/01700000000000-corpus"
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}/data/part-0.json.gz", Body=body)
            local = tmp / f"{name}.json.gz"
            local.write_bytes(body)
            load_snapshot_athena(
                runner,
                glue,
                database=DB,
                table=name,
                snapshot_date=sample.SNAPSHOT_DATE,
                data_s3_uri=f"s3://{BUCKET}/{prefix}/data/",
                typed_s3_uri=f"s3://{BUCKET}/typed/{name}/",
                run_id="corpus1",
            )
            load_snapshot_duckdb(
                con,
                schema=DB,
                table=name,
                snapshot_date=sample.SNAPSHOT_DATE,
                data_files=[local],
            )

        def trino_query(sql: str):
            res = trino_server.query(sql, schema=DB)
            return res.columns, res.types, res.rows

        yield trino_query, con
    con.close()


def test_both_engines_typed_the_export_alike(engines):
    trino_query, con = engines
    for name in TABLES:
        cols, types, _ = trino_query(f'SELECT * FROM "{name}" LIMIT 0')
        duck = con.execute(f'SELECT * FROM "{DB}"."{name}" LIMIT 0').description
        assert cols == [d[0] for d in duck]
        got = {c: (trino_type(t), duckdb_type(str(d[1]))) for c, t, d in zip(cols, types, duck)}
        # M / L: JSON text on Athena (varchar, DynamoDB-typed) and JSON on DuckDB (README)
        json_cols = {c for c, (_, d) in got.items() if d == "json"}
        assert json_cols == ({"address", "lines"} if name == "orders" else set())
        assert all(got[c][0] == "varchar" for c in json_cols)
        assert {c: t for c, (t, d) in got.items() if c not in json_cols} == {
            c: d for c, (t, d) in got.items() if c not in json_cols
        }


def test_corpus_queries_agree_or_are_refused(engines, capsys):
    trino_query, con = engines
    queries = load_queries()
    assert len(queries) >= 150
    report = run_corpus(queries, trino_query, con, DB, TABLES)
    with capsys.disabled():
        print("\n" + "\n".join(report.lines()))
    invalid = [o for o in report.outcomes if o.status == "invalid"]
    differs = [o for o in report.outcomes if o.status == "differs"]
    assert not invalid, "corpus queries Trino refused:\n" + "\n".join(
        f"{o.query.name}: {o.detail}" for o in invalid
    )
    assert not differs, "queries whose results differ:\n" + "\n".join(
        f"{o.query.name}: {o.detail}" for o in differs
    )
    for o in report.outcomes:
        if o.status == "refused":  # the message names the function and the reason
            assert re.search(r"Trino's meaning: [^:]+: .{10,}", o.detail), o.detail
    # README.md records the count; it must be this run's
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"{report.count('agrees')} of {len(report.outcomes)} queries agree" in readme
