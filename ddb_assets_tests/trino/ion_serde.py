"""Tables in Athena's Ion SerDe, for the test front: the rows come from Amazon's Ion reader,
Trino runs the query.

Trino 476's Hive connector has no Ion reader (its ``HiveStorageFormat`` lists ORC, PARQUET,
AVRO, RCBINARY, RCTEXT, SEQUENCEFILE, JSON, OPENX_JSON, TEXTFILE, CSV and REGEX), and Maven
Central serves no ``ion-hive3-serde`` jar. So, for a statement that reads a Glue table whose
SerDe is ``com.amazon.ionhiveserde.IonHiveSerDe``, :func:`shadow_table` deserializes each of
its partitions' files with ``IonSerDeRows.java`` (beside this file: ion-java reads the Ion,
the SerDe's path extraction and object inspectors for STRING and MAP<STRING,STRING> are
followed from its source, with the table's own SerDe properties), writes the rows as JSON
lines at the same object keys in a bucket of its own, and registers them as
``<table>__serde_rows`` with the same columns and Hive types and the same partitions. The
front then runs the statement on Trino over that table: ``"$path"`` keeps the export's
object key, and every value a query sees was decided by ion-java, never by our code.
"""

from __future__ import annotations

import gzip
import subprocess
import tempfile
import threading
from pathlib import Path

from ddb_assets_tests.trino import fetch

ION_SERDE = "com.amazon.ionhiveserde.IonHiveSerDe"
JSON_SERDE = "org.apache.hive.hcatalog.data.JsonSerDe"
TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
ROWS_BUCKET = "ddb-assets-ion-serde-rows"
SUFFIX = "__serde_rows"
_SOURCE = Path(__file__).with_name("IonSerDeRows.java")
_LOCK = threading.Lock()
_DONE: dict[tuple, tuple] = {}  # (db, table, partition values) -> (location, objects)


def is_ion(glue_table: dict) -> bool:
    sd = glue_table.get("StorageDescriptor") or {}
    return (sd.get("SerdeInfo") or {}).get("SerializationLibrary") == ION_SERDE


def _classpath() -> str:
    jars = fetch.ensure_ion()
    jdk = fetch.java_home()
    classes = jars / "classes"
    compiled = classes / "IonSerDeRows.class"
    cp = ":".join(str(p) for p in sorted(jars.glob("*.jar")))
    if not compiled.exists() or compiled.stat().st_mtime < _SOURCE.stat().st_mtime:
        classes.mkdir(exist_ok=True)
        proc = subprocess.run(
            [str(jdk / "bin" / "javac"), "-nowarn", "-cp", cp, "-d", str(classes), str(_SOURCE)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise fetch.EngineUnavailable(f"javac IonSerDeRows.java failed: {proc.stderr}")
    return f"{cp}:{classes}"


def deserialize(sd: dict, files: list[tuple[str, str]]) -> None:
    """Rows (JSON lines, gzip) of each ``(source, dest)`` Ion file, as the SerDe described by
    the Glue storage descriptor ``sd`` deserializes them."""
    params = (sd.get("SerdeInfo") or {}).get("Parameters") or {}
    case = params.get("ion.path_extractor.case_sensitive", "false").lower() == "true"
    lines = [f"case_sensitive\t{'true' if case else 'false'}"]
    for col in sd["Columns"]:
        name = col["Name"]
        # Without a path extractor the SerDe reads the top-level field of the column's name.
        path = params.get(f"ion.{name}.path_extractor", f"({name})")
        lines.append(f"column\t{name}\t{col['Type']}\t{path}")
    lines += [f"file\t{src}\t{dst}" for src, dst in files]
    with tempfile.NamedTemporaryFile("w", suffix=".spec", delete=False) as spec:
        spec.write("\n".join(lines) + "\n")
    java = fetch.java_home() / "bin" / "java"
    proc = subprocess.run(
        [str(java), "-Xmx512m", "-XX:+UseSerialGC", "-cp", _classpath(), "IonSerDeRows", spec.name],
        capture_output=True,
        text=True,
    )
    Path(spec.name).unlink()
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()
        raise RuntimeError(
            "HIVE_CURSOR_ERROR: the Ion SerDe cannot read the data: "
            + (tail[0] if tail else str(proc.returncode))
        )


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    return bucket, key


def _objects(s3, location: str) -> list[tuple[str, str]]:
    bucket, prefix = _split(location)
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [(o["Key"], o["ETag"]) for o in page.get("Contents", [])]
    return sorted(out)


def _rows_location(location: str) -> str:
    return f"s3://{ROWS_BUCKET}/{_split(location)[1]}"


def _materialize(s3, sd: dict, location: str, objects) -> None:
    bucket, _ = _split(location)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, (key, _etag) in enumerate(objects):
            src = Path(tmp) / f"{i}-{Path(key).name}"
            s3.download_file(bucket, key, str(src))
            files.append((str(src), str(Path(tmp) / f"{i}.rows.gz"), key))
        deserialize(sd, [(src, dst) for src, dst, _ in files])
        for _src, dst, key in files:
            # The export's own object key: Trino's "$path" names the same file. Trino reads
            # the gzip by the key's ".gz" ending.
            body = (
                Path(dst).read_bytes()
                if key.endswith(".gz")
                else gzip.decompress(Path(dst).read_bytes())
            )
            s3.put_object(Bucket=ROWS_BUCKET, Key=key, Body=body)


def _shadow_sd(sd: dict, location: str) -> dict:
    return {
        "Columns": [{"Name": c["Name"], "Type": c["Type"].replace(" ", "")} for c in sd["Columns"]],
        "Location": _rows_location(location),
        "InputFormat": TEXT_INPUT,
        "OutputFormat": TEXT_OUTPUT,
        "SerdeInfo": {"SerializationLibrary": JSON_SERDE, "Parameters": {}},
    }


def _still_there(glue, s3, database, name, values, objects) -> bool:
    """Whether the rows made earlier still exist (moto's backends may have been reset)."""
    try:
        glue.get_partition(DatabaseName=database, TableName=name, PartitionValues=values)
        for key, _ in objects:
            s3.head_object(Bucket=ROWS_BUCKET, Key=key)
    except Exception:
        return False
    return True


def shadow_table(glue, s3, database: str, table: dict) -> str:
    """Name of the Trino-readable table holding ``table``'s SerDe rows (made or refreshed)."""
    name = table["Name"] + SUFFIX
    with _LOCK:
        try:
            s3.head_bucket(Bucket=ROWS_BUCKET)
        except Exception:
            s3.create_bucket(Bucket=ROWS_BUCKET)
        sd = table["StorageDescriptor"]
        table_input = {
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"EXTERNAL": "TRUE"},
            "PartitionKeys": table.get("PartitionKeys", []),
            "StorageDescriptor": _shadow_sd(sd, sd["Location"]),
        }
        try:
            glue.get_table(DatabaseName=database, Name=name)
            glue.update_table(DatabaseName=database, TableInput=table_input)
        except glue.exceptions.EntityNotFoundException:
            glue.create_table(DatabaseName=database, TableInput=table_input)
        parts = []
        for page in glue.get_paginator("get_partitions").paginate(
            DatabaseName=database, TableName=table["Name"]
        ):
            parts += page["Partitions"]
        for part in parts:
            psd = part["StorageDescriptor"]
            objects = _objects(s3, psd["Location"])
            key = (database, table["Name"], tuple(part["Values"]))
            if _DONE.get(key) == (psd["Location"], objects, repr(psd)) and _still_there(
                glue, s3, database, name, part["Values"], objects
            ):
                continue
            _materialize(s3, psd, psd["Location"], objects)
            pin = {"Values": part["Values"], "StorageDescriptor": _shadow_sd(psd, psd["Location"])}
            try:
                glue.get_partition(
                    DatabaseName=database, TableName=name, PartitionValues=part["Values"]
                )
                glue.update_partition(
                    DatabaseName=database,
                    TableName=name,
                    PartitionValueList=part["Values"],
                    PartitionInput=pin,
                )
            except glue.exceptions.EntityNotFoundException:
                glue.create_partition(DatabaseName=database, TableName=name, PartitionInput=pin)
            _DONE[key] = (psd["Location"], objects, repr(psd))
    return name
