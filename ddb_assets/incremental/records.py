"""Decoding export data files into change records and staging files (no Dagster).

An incremental export line (DYNAMODB_JSON) is
``{"Metadata":{"WriteTimestampMicros":{"N":"…"}},"Keys":{…},"NewImage":{…},"OldImage":{…}}``;
in ION the same fields with Ion values (WriteTimestampMicros an Ion decimal). The operation
follows from the images present: no NewImage -> REMOVE; NewImage and OldImage -> MODIFY;
NewImage alone -> INSERT (with the NEW_IMAGE view, where OldImage never appears, INSERT vs
MODIFY is decided later against the current table).

Staging files are gzip JSON lines the DuckDB loader reads with explicit JSON pointers:
``images`` (``{"Item": image}`` for every key set, new and old image: the input of the
full-pass discovery) and ``records`` (``{"k","ts","Keys","New","Old"}``, an absent image left out). Item JSON is
written canonically (sorted keys) so a stored image compares by text.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from io import BufferedIOBase
from typing import IO, overload

INSERT, MODIFY, REMOVE = "INSERT", "MODIFY", "REMOVE"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


@overload
def canonical(image: dict) -> str: ...
@overload
def canonical(image: None) -> None: ...
def canonical(image: dict | None) -> str | None:
    """Canonical JSON text of a DynamoDB-typed image (sorted keys; sets as given)."""
    return None if image is None else _dumps(image)


def key_text(keys: dict) -> str:
    return _dumps(keys)


@dataclass(frozen=True)
class ChangeRecord:
    keys: dict
    write_micros: int
    new: dict | None
    old: dict | None

    @property
    def key(self) -> str:
        return key_text(self.keys)

    @property
    def operation(self) -> str:
        if self.new is None:
            return REMOVE
        return MODIFY if self.old is not None else INSERT


def parse_json_record(line: str) -> ChangeRecord:
    d = json.loads(line)
    meta = d.get("Metadata") or {}
    ts = meta.get("WriteTimestampMicros")
    ts = ts.get("N") if isinstance(ts, dict) else ts
    if ts is None or "Keys" not in d:
        raise ValueError(f"not an incremental export record: {line[:200]}")
    return ChangeRecord(d["Keys"], int(ts), d.get("NewImage"), d.get("OldImage"))


def _ion_records(fp: IO[bytes] | BufferedIOBase) -> Iterator[ChangeRecord]:
    from amazon.ion import simpleion

    from ddb_assets.tables.codec import _ion_value

    def image(x):
        return None if x is None else {k: _ion_value(v) for k, v in x.items()}

    for top in simpleion.load(fp, single_value=False, parse_eagerly=False):
        meta = top.get("Metadata") or {}
        ts = meta.get("WriteTimestampMicros")
        if ts is None:
            raise ValueError(f"not an incremental export record (no WriteTimestampMicros): {top}")
        yield ChangeRecord(
            image(top["Keys"]), int(ts), image(top.get("NewImage")), image(top.get("OldImage"))
        )


def read_records(path: str, export_format: str = "DYNAMODB_JSON") -> Iterator[ChangeRecord]:
    """Records of one gzip data file of an incremental export."""
    if export_format == "ION":
        with gzip.open(path, "rb") as fp:
            yield from _ion_records(fp)
        return
    with gzip.open(path, "rt", encoding="utf-8") as fp:
        for line in fp:
            if line.strip():
                yield parse_json_record(line)


def read_items(path: str, export_format: str = "DYNAMODB_JSON") -> Iterator[dict]:
    """Items of one gzip data file of a full export (DynamoDB-typed images)."""
    if export_format == "ION":
        from ddb_assets.tables.codec import ion_lines_to_dynamodb_json

        with gzip.open(path, "rb") as fp:
            for line in ion_lines_to_dynamodb_json(fp):
                yield json.loads(line)["Item"]
        return
    with gzip.open(path, "rt", encoding="utf-8") as fp:
        for line in fp:
            if line.strip():
                yield json.loads(line)["Item"]


def write_staging(records: Iterable[ChangeRecord], images_path: str, records_path: str) -> int:
    """Write the two staging files; returns the number of records."""
    n = 0
    with (
        gzip.open(images_path, "wt", encoding="utf-8", compresslevel=1) as fi,
        gzip.open(records_path, "wt", encoding="utf-8", compresslevel=1) as fr,
    ):
        for r in records:
            n += 1
            fi.write('{"Item":' + _dumps(r.keys) + "}\n")
            for img in (r.new, r.old):
                if img is not None:
                    fi.write('{"Item":' + _dumps(img) + "}\n")
            rec = {"k": r.key, "ts": r.write_micros, "Keys": r.keys}
            if r.new is not None:  # absent, not null: the loader reads a missing image as NULL
                rec["New"] = r.new
            if r.old is not None:
                rec["Old"] = r.old
            fr.write(_dumps(rec) + "\n")
    return n


def key_of(image: dict, key_attributes: Iterable[str]) -> dict:
    missing = [a for a in key_attributes if a not in image]
    if missing:
        raise ValueError(f"item lacks key attribute(s) {missing}: {_dumps(image)[:200]}")
    return {a: image[a] for a in key_attributes}
