"""The local RDS stack's MariaDB servers: started on loopback in a temporary folder, stopped by
PID with the stack, and a clear one-line error when Debian's mariadb-server is missing."""

from __future__ import annotations

import os

import pytest

from ddb_assets.local import LocalAWS
from ddb_assets.local.rds import server as rds_server
from ddb_assets.local.rds.setup import create_instance

pytestmark = [pytest.mark.integration, pytest.mark.mariadb]


def test_server_starts_and_stops_leaving_nothing():
    with rds_server.MariaDBServer(name="lifecycle") as srv:
        pid, folder, port = srv.pid, srv.folder, srv.port
        assert pid is not None and folder is not None and port is not None
        os.kill(pid, 0)  # alive
        assert os.path.exists(srv.socket_path)
        with srv.admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT @@bind_address, @@port")
            assert cur.fetchone() == ("127.0.0.1", port)
    assert not os.path.exists(folder)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not srv.running


def test_stack_stop_ends_every_instance_server():
    with LocalAWS(export_seconds=0.1) as aws:
        assert aws._rds_state is not None and aws._rds_state.servers == []  # none until asked
        create_instance(aws.client("rds"), "one-db")
        create_instance(aws.client("rds"), "two-db", engine="mysql", db_name=None)
        servers = [aws.rds.server("one-db"), aws.rds.server("two-db")]
        seen = [(s.pid, s.folder) for s in servers]
        assert len({s.port for s in servers}) == 2
        with aws.rds.connect("two-db") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    for pid, folder in seen:
        assert pid is not None and folder is not None
        assert not os.path.exists(folder)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_dynamodb_stack_works_without_mariadb(monkeypatch):
    monkeypatch.setattr(rds_server, "_find", lambda name, extra_dirs=(): None)
    with LocalAWS(export_seconds=0.1) as aws:
        ddb = aws.client("dynamodb")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName="t", Item={"pk": {"S": "a"}})
        rds = aws.client("rds")
        with pytest.raises(rds.exceptions.ClientError) as err:
            create_instance(rds, "no-server-db")
        assert "apt-get install -y mariadb-server" in str(err.value)
        assert rds.describe_db_instances()["DBInstances"] == []


def test_missing_mariadb_is_one_line_naming_the_package(monkeypatch):
    monkeypatch.setattr(rds_server, "_find", lambda name, extra_dirs=(): None)
    with pytest.raises(rds_server.MariaDBNotInstalled) as err:
        rds_server.binaries()
    msg = str(err.value)
    assert "\n" not in msg and "apt-get install -y mariadb-server" in msg
    with pytest.raises(rds_server.MariaDBNotInstalled):
        LocalAWS(rds=True).start()
