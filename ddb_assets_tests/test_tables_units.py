"""Pure functions of ddb_assets.tables: number shapes, naming, type grammar, checks, codecs."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest

from ddb_assets.tables.checks import check_row_count, check_schema_drift
from ddb_assets.tables.codec import ion_lines_to_dynamodb_json, item_to_ion_line, plain_json
from ddb_assets.tables.naming import assign_column_names, safe_name
from ddb_assets.tables.plan import ColumnInfo
from ddb_assets.tables.types import (
    InvalidTypeError,
    choose_scale,
    fits_decimal,
    number_shape,
    parse_type,
)


@pytest.mark.parametrize(
    "text,shape",
    [
        ("123.4500", (3, 2)),
        ("1E-130", (0, 130)),
        ("-0", (0, 0)),
        ("1500", (4, 0)),
        ("9.9E+125", (126, 0)),
        ("0.05", (0, 2)),
    ],
)
def test_number_shape(text, shape):
    assert number_shape(text) == shape


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_number_shape_refuses_what_is_not_a_finite_number(text):
    with pytest.raises(ValueError, match="not a finite number"):
        number_shape(text)


def test_choose_scale_prefers_integer_digits_when_38_is_exceeded():
    assert choose_scale(5, 2) == 2
    assert choose_scale(38, 2) == 0
    assert fits_decimal("12345678901234567890123456789012345678", 0)
    assert not fits_decimal("3.5", 0)


def test_naming_rule():
    assert safe_name("Order Total ($)") == "order_total"
    assert safe_name("café") == "cafe"
    assert safe_name("snapshot_date") == "snapshot_date_"
    assert safe_name("a__b") == "a_b"
    names = assign_column_names(["Name", "name", "name_2"])
    assert names == {"name": "name", "name_2": "name_2", "Name": "name_3"}
    assert assign_column_names(["Name", "name"], history={"Name": "name"}) == {
        "Name": "name",
        "name": "name_2",
    }
    assert assign_column_names(["x"], renames={"x": "y"}) == {"x": "y"}
    with pytest.raises(ValueError):
        assign_column_names(["x"], renames={"x": "Bad Name"})


def test_type_grammar():
    t = parse_type("struct<a:string,b:array<decimal(10,2)>>")
    assert t.duckdb() == 'STRUCT("a" VARCHAR, "b" DECIMAL(10,2)[])'
    assert t.athena() == 'row("a" varchar, "b" array(decimal(10,2)))'
    assert t.glue() == "struct<a:string,b:array<decimal(10,2)>>"
    assert parse_type("TIMESTAMP").canonical() == "timestamp"
    for bad in ("decimal(40,2)", "map<string,string>", "string; drop table x", ""):
        with pytest.raises(InvalidTypeError):
            parse_type(bad)


def test_checks():
    assert check_row_count(10, 10).passed
    out = check_row_count(9, 10)
    assert not out.passed and "-1" in out.description
    old = [ColumnInfo("a", "decimal(38,0)", "a", ("N",)), ColumnInfo("b", "string", "b", ("S",))]
    new = [ColumnInfo("a", "string", "a", ("N", "S")), ColumnInfo("c", "boolean", "c", ("BOOL",))]
    res = check_schema_drift(old, new)
    assert not res.passed
    kinds = {(c["kind"], c["column"]) for c in res.metadata["changes"]}
    assert kinds == {("added", "c"), ("removed", "b"), ("type_changed", "a")}
    assert check_schema_drift(old[:1], old).passed


def test_codecs_round_trip_exactly():
    item = {
        "n": {"N": "1E-130"},
        "b": {"B": "AAH/"},
        "s": {"SS": ["é"]},
        "ns": {"NS": ["1.50"]},
        "m": {"M": {"x": {"L": [{"NULL": True}, {"BOOL": False}]}}},
    }
    line = item_to_ion_line(item)
    back = json.loads(next(ion_lines_to_dynamodb_json(io.BytesIO(line.encode()))))["Item"]
    # Numbers come back in DynamoDB's canonical spelling (plain digits, trailing zeros
    # trimmed), as its DYNAMODB_JSON export writes them; everything else byte for byte.
    canonical = {"n": {"N": "0." + "0" * 129 + "1"}, "ns": {"NS": ["1.5"]}}
    assert back == {**item, **canonical}
    assert Decimal(back["n"]["N"]) == Decimal("1E-130")
    assert json.loads(
        plain_json('{"M":{"a":{"N":"12345678901234567890123456789012345678"}}}'), parse_int=Decimal
    ) == {"a": Decimal("12345678901234567890123456789012345678")}
