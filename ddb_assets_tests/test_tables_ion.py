"""The DuckDB load's ION reader (``ddb_ion``: Amazon's ion-rs in a Rust extension) against
the amazon.ion reference (:func:`codec.ion_lines_to_dynamodb_json`): the same DYNAMODB_JSON
bytes for every line, on generated items (our two Ion writers, amazon.ion's own text and
binary) and on the hard cases by hand; the same refusals; the same table after a load."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import json
import random
import sys
import time
from decimal import Decimal

import duckdb
import pytest

from ddb_assets.local import ion_text
from ddb_assets.tables import ExportReadError, codec, load_snapshot_duckdb
from ddb_assets.tables.duckdb import ion as duckdb_ion
from ddb_assets_tests.ddb_tables import create_pitr_table
from ddb_assets_tests.exports import minified_export
from ddb_assets_tests.test_tables_fastpaths import NUMBERS, STRINGS, random_items

pytestmark = pytest.mark.unit

ddb_ion = duckdb_ion.reader()


def reference(data: bytes) -> str:
    """What amazon.ion reads, as the DYNAMODB_JSON text of every value."""
    return "".join(codec.ion_lines_to_dynamodb_json(io.BytesIO(data)))


def compiled(data: bytes) -> str:
    return ddb_ion.transcode_bytes(data)


def same(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    want = reference(data)
    assert compiled(data) == want, data
    return want


def to_ion_value(v: dict):
    """The Python value amazon.ion writes for a DynamoDB value (for its own text / binary)."""
    from amazon.ion.core import IonType
    from amazon.ion.simple_types import IonPyList, IonPyNull

    ((tag, x),) = v.items()
    if tag in ("S", "BOOL"):
        return x
    if tag == "N":
        return Decimal(x)
    if tag == "NULL":
        return IonPyNull()
    if tag == "B":
        return base64.b64decode(x)
    if tag in ("SS", "NS", "BS"):
        conv = {"SS": str, "NS": Decimal, "BS": base64.b64decode}[tag]
        return IonPyList.from_value(
            IonType.LIST, [conv(e) for e in x], annotations=("$dynamodb_" + tag,)
        )
    if tag == "M":
        return {k: to_ion_value(e) for k, e in x.items()}
    return [to_ion_value(e) for e in x]


# --- generated items (property style) ---------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_bytes_as_amazon_ion_on_generated_items(seed):
    items = random_items(300, seed=seed)
    ours = "\n".join(codec.item_to_ion_line(it) for it in items)
    local = "\n".join(ion_text.ion_line({"Item": it}) for it in items)
    for text in (ours, local):
        out = same(text)
        assert len(out.split("\n")[:-1]) == len(items)
    # and the items come back: the same values, numbers with the same value and sign
    back = [json.loads(line)["Item"] for line in same(ours).split("\n")[:-1]]
    assert [normal({"M": b}) for b in back] == [normal({"M": it}) for it in items]


def test_the_same_bytes_on_amazon_ions_own_text_and_binary():
    from amazon.ion import simpleion

    for item in random_items(150, seed=4):
        value = {"Item": to_ion_value({"M": item})}
        same(simpleion.dumps(value, binary=False))
        same(simpleion.dumps(value, binary=True))


def normal(v):
    """A DynamoDB value with numbers as (value, sign) pairs: what must survive a round trip."""
    ((tag, x),) = v.items()
    num = lambda n: (Decimal(n), bool(Decimal(n)) and Decimal(n).is_signed())  # noqa: E731
    if tag == "N":
        return ("N", num(x))
    if tag == "NS":
        return ("NS", [num(n) for n in x])
    if tag == "M":
        return ("M", {k: normal(e) for k, e in x.items()})
    if tag == "L":
        return ("L", [normal(e) for e in x])
    return (tag, x)


# --- the hard cases, by hand ------------------------------------------------------------

CASES = {
    "38-digit decimals": "{Item:{a:12345678901234567890123456789012345678.,"
    "b:-1.234567890123456789012345678901234567,c:0.00000000000000000000000000000000000001,"
    "d:99999999999999999999999999999999999999d87,e:$dynamodb_NS::[1234567890123456789012345678901234567.8]}}",
    "negative zero": "{Item:{a:-0.,b:-0.00,c:-0d5,d:-0,e:0d-3,f:$dynamodb_NS::[-0.,0.]}}",
    "exponents": "{Item:{a:6d2,b:1d-130,c:9.9d125,d:1.5e0,e:1e16,f:1e-5,g:0.0001,h:123d-2,"
    "i:1D+3,j:0.000001,k:0.0000001,l:-2.5e-7,m:1_000.000_1,n:1.5e15,o:1e22}}",
    "empty strings and sets": '{Item:{\'\':"",a:"",b:$dynamodb_SS::[],c:$dynamodb_NS::[],'
    'd:$dynamodb_BS::[],e:$dynamodb_SS::[""],f:[],g:{},h:{{}}}}',
    "nested annotated sets in lists and maps": '{Item:{l:[$dynamodb_SS::["a","b"],'
    "[$dynamodb_NS::[1.,2.50]],{m:$dynamodb_BS::[{{AP8=}},{{YQ==}}]}],"
    "m:{inner:{deeper:[[$dynamodb_SS::[x,'y z']]]}}}}",
    "binary": '{Item:{a:{{AP8=}},b:{{ aGVs bG8= }},c:{{"clob text"}},d:{{}},e:{{/////w==}}}}',
    "NULL and BOOL": "{Item:{a:null,b:null.string,c:null.null,d:true,e:false,f:[null,true],"
    "g:null.list}}",
    "strings": "{Item:{a:\"\\x41\\u00e9\\U0001F600\\0\\a\\b\\f\\v\\t\\n\\r\\\\\\\"\\/\",b:'''long'''"
    " '''string''',c:sym,'d e':'quoted symbol',f:\"∑ line\\u2028sep \\x7f\\x1f\"}}",
    "sexp and symbols": "{Item:{a:(x y 1.),b:$dynamodb_SS::(p q),c:'$dynamodb_SS'::[\"s\"]}}",
    "ints": "{Item:{a:42,b:-7,c:0x1F,d:0b101,e:123456789012345678901234567890123456789}}",
    "other annotations": '{Item:{a:other::[1.],b:other::$dynamodb_SS::["x"],c:tag::"t"}}',
    "field order and odd names": "{Item:{z:1.,a:2.,'数':3.,'x\\'y':4.,\"q\\\"\":5.,M:{S:\"s\"}}}",
    "several values, other top-level fields, no version marker": "{Item:{a:1.}} "
    '$ion_1_0 {Item:{b:"x"},Metadata:{x:1.}}\n{Keys:{k:1.},Item:{c:true}}',
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_the_same_bytes_as_amazon_ion_on_the_hard_cases(text):
    out = same(text)
    assert out.endswith("}\n") and all(json.loads(line) for line in out.split("\n")[:-1])


def test_the_hard_cases_keep_every_digit_in_dynamodbs_canonical_spelling():
    out = json.loads(same(CASES["38-digit decimals"]))["Item"]
    assert out["a"] == {"N": "12345678901234567890123456789012345678"}
    assert out["b"] == {"N": "-1.234567890123456789012345678901234567"}
    assert out["c"] == {"N": "0.00000000000000000000000000000000000001"}
    assert out["d"] == {"N": "99999999999999999999999999999999999999" + "0" * 87}
    assert out["e"] == {"NS": ["1234567890123456789012345678901234567.8"]}
    zero = json.loads(same(CASES["negative zero"]))["Item"]
    assert [zero[k]["N"] for k in "abcde"] == ["0", "0", "0", "0", "0"]
    assert zero["f"] == {"NS": ["0", "0"]}
    exp = json.loads(same(CASES["exponents"]))["Item"]
    assert [exp[k]["N"] for k in "abcdefghijklmno"] == [
        "600",
        "0." + "0" * 129 + "1",
        "99" + "0" * 124,
        "1.5",
        "10000000000000000",  # Ion floats: the value of their shortest digits
        "0.00001",
        "0.0001",
        "1.23",
        "1000",
        "0.000001",
        "0.0000001",
        "-0.00000025",
        "1000.0001",
        "1500000000000000",
        "1" + "0" * 22,
    ]
    empty = json.loads(same(CASES["empty strings and sets"]))["Item"]
    assert empty[""] == {"S": ""} and empty["b"] == {"SS": []} and empty["h"] == {"B": ""}


# DynamoDB's canonical text of a number: plain digits, no exponent, leading and trailing
# zeros trimmed, zero unsigned (Developer Guide, "Number" data type).
CANONICAL = {
    "6d2": "600",
    "1.50d0": "1.5",
    "0d-5": "0",
    "-0.": "0",
    "-0d-3": "0",
    "0.000": "0",
    "1d-130": "0." + "0" * 129 + "1",
    "-1d-130": "-0." + "0" * 129 + "1",
    "9.9999d125": "99999" + "0" * 121,
    "-9.9999999999999999999999999999999999999d125": "-" + "9" * 38 + "0" * 88,
    "12345678901234567890123456789012345678.": "12345678901234567890123456789012345678",
    "0.12345678901234567890123456789012345678": "0.12345678901234567890123456789012345678",
    "1234567890123456789012345678901234567.800": "1234567890123456789012345678901234567.8",
    "100.": "100",
    "100.00": "100",
    "1200d-1": "120",
    "1200d-3": "1.2",
    "1200d-5": "0.012",
    "0.0010": "0.001",
    "-7.0": "-7",
    "42": "42",
    "1_000d1": "10000",
}


@pytest.mark.parametrize("ion,text", CANONICAL.items(), ids=CANONICAL.keys())
def test_numbers_are_spelt_as_dynamodbs_json_export_spells_them(ion, text):
    out = json.loads(same(f"{{Item:{{n:{ion},s:$dynamodb_NS::[{ion}]}}}}"))["Item"]
    assert out == {"n": {"N": text}, "s": {"NS": [text]}}
    # the same text the local stack's DYNAMODB_JSON export writes for the same value
    assert ion_text.dynamodb_number(ion.replace("d", "E").replace("_", "")) == text
    assert ion_text.dynamodb_number("-0042.10") == "-42.1"


def test_every_string_and_number_of_the_generators_alone():
    for s in STRINGS:
        same(codec.item_to_ion_line({"s": {"S": s}, s: {"SS": [s]}}))
    for n in NUMBERS:
        same(codec.item_to_ion_line({"n": {"N": n}, "ns": {"NS": [n]}}))
        same(ion_text.ion_line({"Item": {"n": {"N": n}}}))


def test_random_bytes_and_blobs():
    rng = random.Random(5)
    for _ in range(200):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        b = base64.b64encode(raw).decode()
        same(codec.item_to_ion_line({"b": {"B": b}, "bs": {"BS": [b]}}))


# --- refusals ---------------------------------------------------------------------------

REFUSED = {
    "timestamp": "{Item:{a:2024-01-01T00:00Z}}",
    "a string set holding a number": "{Item:{a:$dynamodb_SS::[1.]}}",
    "a number set holding a string": '{Item:{a:$dynamodb_NS::["1"]}}',
    "a binary set holding a string": '{Item:{a:$dynamodb_BS::["x"]}}',
    "a value cut short": '{Item:{a:"x"}',
    "no Item": "{Keys:{a:1.}}",
    "an Item that is not a struct": '{Item:"x"}',
    "a top-level value that is not a struct": "[1.]",
    "a repeated field": "{Item:{a:1.,a:2.}}",
    "a repeated field in a map": "{Item:{m:{a:1.,a:2.}}}",
    "not Ion": '{"Item": {"a": }}',
    "a float that is not a number": "{Item:{a:nan}}",
}


@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
def test_what_no_dynamodb_type_holds_is_refused(text):
    with pytest.raises(ValueError):
        compiled(text.encode())


def test_the_refusals_that_amazon_ion_also_makes():
    # amazon.ion keeps the last of two fields of one name; the compiled reader refuses them
    # (no DynamoDB item or map holds two, and JSON readers differ on which one wins).
    for name in REFUSED.keys() - {"a repeated field", "a repeated field in a map"}:
        with pytest.raises(Exception):  # noqa: B017 (amazon.ion raises several kinds)
            reference(REFUSED[name].encode())


# --- files: threads, gzip, errors naming the file ----------------------------------------


def ion_files(tmp_path, chunks: list[list[str]]) -> list[str]:
    paths = []
    for i, lines in enumerate(chunks):
        p = tmp_path / f"part{i}.ion.gz"
        with gzip.open(p, "wt", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
        paths.append(str(p))
    return paths


def test_files_over_threads_each_match_the_reference(tmp_path):
    items = random_items(400, seed=6)
    chunks = [[codec.item_to_ion_line(it) for it in items[i::5]] for i in range(5)]
    srcs = ion_files(tmp_path, chunks)
    out = tmp_path / "out"
    out.mkdir()
    dsts = duckdb_ion.ion_to_json_files(srcs, str(out), threads=2)
    for src, dst in zip(srcs, dsts):
        with gzip.open(src, "rb") as f:
            want = reference(f.read())
        with gzip.open(dst, "rt", encoding="utf-8") as f:
            assert f.read() == want
    # a plain (not gzip) Ion file is read too
    plain = tmp_path / "plain.ion"
    plain.write_text("\n".join(chunks[0]) + "\n", encoding="utf-8")
    (d,) = duckdb_ion.ion_to_json_files([str(plain)], str(out))
    with gzip.open(d, "rt", encoding="utf-8") as f:
        assert f.read() == reference(plain.read_bytes())


def test_a_bad_file_is_named_with_the_value_and_the_first_of_several_wins(tmp_path):
    good = [codec.item_to_ion_line({"pk": {"S": str(i)}}) for i in range(3000)]
    srcs = ion_files(tmp_path, [good, good + ["{Item:{a:2024-01-01T00:00Z}}"], good, ["{Item:{a:"]])
    (tmp_path / "out").mkdir()
    with pytest.raises(ExportReadError) as e:
        duckdb_ion.ion_to_json_files(srcs, str(tmp_path / "out"), threads=2)
    msg = str(e.value)
    assert msg.startswith(f"cannot read {srcs[1]} as an ION export: value 3001: ")
    assert "timestamp" in msg and "\n" not in msg


def test_a_missing_reader_fails_with_one_line_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ddb_ion", None)  # import ddb_ion -> ImportError
    paths = ion_files(tmp_path, [[codec.item_to_ion_line({"pk": {"S": "a"}})]])
    with pytest.raises(duckdb_ion.IonReaderMissing) as e:
        load_snapshot_duckdb(
            duckdb.connect(),
            schema="wh",
            table="t",
            snapshot_date=dt.date(2024, 1, 1),
            data_files=paths,
            export_format="ION",
        )
    assert "uv sync --locked" in str(e.value) and "\n" not in str(e.value)


def numbers(raw: str) -> list:
    """A raw number column's text (one number, or a JSON array of number strings) as
    (value, sign) pairs."""
    texts = json.loads(raw) if raw.startswith("[") else [raw]
    return [(Decimal(t), Decimal(t).is_signed()) for t in texts]


# --- the load: ION and JSON exports of the hard cases give the same table ---------------

EDGE_ITEMS = [
    {
        "pk": {"S": "a"},
        "n": {"N": "12345678901234567890123456789012345678"},
        "d": {"N": "-0.000000000000000000000000000000000000001"},
        "z": {"N": "-0"},
        "e": {"N": "9.9E+125"},
        "s": {"S": ""},
        "ss": {"SS": ["", "x"]},
        "ns": {"NS": ["1E-130", "-0", "1.50"]},
        "b": {"B": base64.b64encode(b"\x00\xff").decode()},
        "bs": {"BS": [base64.b64encode(b"\x01").decode()]},
        "l": {"L": [{"SS": ["p", "q"]}, {"NS": ["2"]}, {"L": [{"BS": ["AA=="]}]}, {"NULL": True}]},
        "m": {"M": {"inner": {"NS": ["0.5"]}, "t": {"BOOL": True}, "u": {"NULL": True}}},
        "t": {"BOOL": False},
        "u": {"NULL": True},
    },
    {
        "pk": {"S": "b"},
        "n": {"N": "-98765432109876543210987654321098765.43"},
        "d": {"N": "0.001"},
        "z": {"N": "0"},
        "e": {"N": "6E+2"},
        "s": {"S": 'é ✓ 😀 "q" \\ \n'},
        "ss": {"SS": ["y"]},
        "ns": {"NS": ["100"]},
        "b": {"B": ""},
        "l": {"L": []},
        "m": {"M": {}},
        "t": {"BOOL": True},
    },
]


def load_both(tmp_path, ion: list[str], js: list[str]) -> tuple[list[str], list[tuple]]:
    """The snapshot table loaded from each export; asserts they are the same, cell for cell
    (``__raw`` and M / L text included), and returns it."""
    tables = []
    for fmt, paths in (("ION", ion), ("DYNAMODB_JSON", js)):
        con = duckdb.connect()
        load_snapshot_duckdb(
            con,
            schema="wh",
            table="t",
            snapshot_date=dt.date(2024, 1, 1),
            data_files=paths,
            export_format=fmt,
        )
        cur = con.execute("SELECT * FROM wh.t ORDER BY pk")
        cols = [c[0] for c in cur.description]
        tables.append((cols, cur.fetchall()))
    assert tables[0][0] == tables[1][0]
    cols = tables[0][0]
    assert len(tables[0][1]) == len(tables[1][1])
    for a, b in zip(tables[0][1], tables[1][1], strict=True):
        for c, x, y in zip(cols, a, b):
            assert (x, type(x)) == (y, type(y)), c
    return tables[0]


def test_the_hard_cases_load_to_the_same_table_from_ion_and_json(tmp_path):
    # item_to_ion_line keeps every digit (ion_text normalises numbers as DynamoDB stores them);
    # the JSON export holds the numbers as DynamoDB returns them (canonical digits)
    ion = ion_files(tmp_path, [[codec.item_to_ion_line(it) for it in EDGE_ITEMS]])
    canonical = [ion_text.dynamodb_numbers({"Item": it})["Item"] for it in EDGE_ITEMS]
    js = minified_export(tmp_path, "json", canonical)
    cols, rows = load_both(tmp_path, ion, js)
    row = dict(zip(cols, rows[0]))
    assert str(row["n"]) == "12345678901234567890123456789012345678"
    raw = {c: v for c, v in row.items() if c.endswith("__raw") and v is not None}
    assert "1E" not in json.dumps(raw) and "E+" not in json.dumps(raw), raw


def test_the_local_stacks_json_and_ion_exports_of_the_same_items_load_alike(tmp_path):
    """The same items, written through the API as a client might spell their numbers, exported
    by the local stack as DYNAMODB_JSON and as ION: identical tables on DuckDB."""
    from ddb_assets.local import LocalAWS

    wire = [
        {
            "pk": {"S": "a"},
            "n38": {"N": "12345678901234567890123456789012345678"},
            "tiny": {"N": "1E-130"},
            "huge": {"N": "9.9999E+125"},
            "negz": {"N": "-0"},
            "six": {"N": "6E2"},
            "frac": {"N": "1.50"},
            "zero": {"N": "0E-5"},
            "lead": {"N": "007.250"},
            "ns": {"NS": ["1E-130", "-0.5", "1.50", "6E+2"]},
            "l": {"L": [{"N": "6E2"}, {"NS": ["2.50"]}, {"M": {"x": {"N": "-1.0E-39"}}}]},
            "m": {"M": {"a": {"N": "1.50"}, "b": {"L": [{"N": "-0"}, {"S": "s"}]}}},
        },
        {
            "pk": {"S": "b"},
            "n38": {"N": "-0.1234567890123456789012345678901234567"},
            "tiny": {"N": "0.001"},
            "huge": {"N": "100"},
            "negz": {"N": "3"},
            "six": {"N": "600"},
            "frac": {"N": "2"},
            "zero": {"N": "0"},
            "lead": {"N": "1.2E-3"},
            "ns": {"NS": ["1"]},
            "l": {"L": []},
            "m": {"M": {"a": {"N": "1E+3"}}},
        },
    ]
    files: dict[str, list[str]] = {}
    with LocalAWS(export_seconds=0.1) as stack:
        ddb, s3 = stack.client("dynamodb"), stack.client("s3")
        s3.create_bucket(Bucket="exports")
        create_pitr_table(ddb, "nums")
        for item in wire:
            ddb.put_item(TableName="nums", Item=item)
        arn = ddb.describe_table(TableName="nums")["Table"]["TableArn"]
        for fmt in ("DYNAMODB_JSON", "ION"):
            export_arn = ddb.export_table_to_point_in_time(
                TableArn=arn, S3Bucket="exports", S3Prefix=fmt, ExportFormat=fmt
            )["ExportDescription"]["ExportArn"]
            for _ in range(600):
                desc = ddb.describe_export(ExportArn=export_arn)["ExportDescription"]
                if desc["ExportStatus"] != "IN_PROGRESS":
                    break
                time.sleep(0.05)
            assert desc["ExportStatus"] == "COMPLETED", desc
            summary = json.loads(
                s3.get_object(Bucket="exports", Key=desc["ExportManifest"])["Body"].read()
            )
            manifest = s3.get_object(Bucket="exports", Key=summary["manifestFilesS3Key"])
            for n, line in enumerate(manifest["Body"].read().decode().splitlines()):
                key = json.loads(line)["dataFileS3Key"]
                path = tmp_path / f"{fmt}{n}{key[key.index('.') :]}"
                path.write_bytes(s3.get_object(Bucket="exports", Key=key)["Body"].read())
                files.setdefault(fmt, []).append(str(path))
    json_text = "".join(
        gzip.decompress(open(p, "rb").read()).decode() for p in files["DYNAMODB_JSON"]
    )
    assert '"six":{"N":"600"}' in json_text and '"frac":{"N":"1.5"}' in json_text
    cols, rows = load_both(tmp_path, files["ION"], files["DYNAMODB_JSON"])
    row = dict(zip(cols, rows[0]))
    assert row["l"] == '[600,[2.5],{"x":-0.000000000000000000000000000000000000001}]'
    assert row["m"] == '{"a":1.5,"b":[0,"s"]}'
    tiny = "0." + "0" * 129 + "1"
    assert row["tiny__raw"] == tiny and row["huge__raw"] == "99999" + "0" * 121, row
    assert json.loads(row["ns__raw"]) == [tiny, "-0.5", "1.5", "600"], row["ns__raw"]
