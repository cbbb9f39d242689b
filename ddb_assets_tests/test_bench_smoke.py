"""Smoke test of the benchmark harness (``python -m bench``): the generated exports are
valid (manifests match files, both formats hold the same items) and the machinery runs on
a tiny N. No timing is asserted: benchmarks report, they do not assert."""

import base64
import gzip
import json
from decimal import Decimal

import pytest

from bench import gen

N = 600


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return gen.generate(
        N, seed=3, files=3, cache=tmp_path_factory.mktemp("bench_cache"), processes=1
    )


def test_both_formats_match_their_manifests(exports):
    from ddb_assets.dynamodb.manifest import parse_manifest_files, parse_manifest_summary

    for fmt, e in exports.items():
        assert gen.verify(e) == [], fmt
        summary = parse_manifest_summary(e.manifest_summary.read_text())
        files = parse_manifest_files(e.manifest_files.read_text())
        assert summary.item_count == N and summary.output_format == fmt
        assert summary.s3_prefix is None and summary.manifest_files_key.startswith(
            f"AWSDynamoDB/{e.export_id}/"
        )
        assert len(files) == 3 and all(f.etag.endswith("-1") for f in files)
        ext = ".ion.gz" if fmt == "ION" else ".json.gz"
        assert all(f.key.startswith(summary.data_prefix) and f.key.endswith(ext) for f in files)
        assert all(len(f.key.rsplit("/", 1)[1]) == 26 + len(ext) for f in files)


def _norm(value):
    """A DynamoDB value with numbers compared by value and binaries by bytes."""
    ((tag, v),) = value.items()
    if tag == "N":
        return ("N", Decimal(v))
    if tag == "NS":
        return ("NS", frozenset(Decimal(x) for x in v))
    if tag == "B":
        return ("B", base64.b64decode(v))
    if tag == "M":
        return ("M", {k: _norm(x) for k, x in v.items()})
    if tag == "L":
        return ("L", [_norm(x) for x in v])
    if tag == "SS":
        return ("SS", frozenset(v))
    return (tag, v)


def test_ion_holds_the_same_items_as_json(exports):
    from ddb_assets.tables.codec import ion_lines_to_dynamodb_json

    js = exports["DYNAMODB_JSON"].data_files()
    ions = exports["ION"].data_files()
    types = set()
    for j, i in zip(js, ions):
        with gzip.open(j, "rt", encoding="utf-8") as fj, gzip.open(i, "rb") as fi:
            left = [json.loads(line)["Item"] for line in fj]
            right = [json.loads(line)["Item"] for line in ion_lines_to_dynamodb_json(fi)]
        assert len(left) == len(right)
        assert [_norm({"M": a}) for a in left] == [_norm({"M": b}) for b in right]
        for a in left:
            types.update(t for v in a.values() for t in v)
        with gzip.open(i, "rt", encoding="utf-8") as fi:
            assert fi.readline().startswith("$ion_1_0 {Item:{")
    assert types == {"S", "N", "BOOL", "NULL", "SS", "NS", "L", "M", "B"}


def test_generation_is_seeded_and_cached(exports, tmp_path):
    again = gen.generate(N, seed=3, files=3, cache=tmp_path, processes=1)
    for fmt in gen.FORMATS:
        a = [p.read_bytes() for p in exports[fmt].data_files()]
        b = [p.read_bytes() for p in again[fmt].data_files()]
        assert a == b
    mtime = again["ION"].manifest_files.stat().st_mtime_ns
    gen.generate(N, seed=3, files=3, cache=tmp_path, processes=1)  # cached: not rewritten
    assert again["ION"].manifest_files.stat().st_mtime_ns == mtime


def test_quick_machinery_runs_on_a_tiny_export(tmp_path, monkeypatch, capsys):
    from bench.__main__ import main
    from bench.stack import fixed_wait_latency

    monkeypatch.setenv("DDB_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "raw.json"
    assert (
        main(
            [
                "--quick",
                "--items",
                "1200",
                "--small-items",
                "300",
                "--only",
                "convert,sensor",
                "--tables",
                "2",
                "--history",
                "4",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    raw = json.loads(out.read_text())
    conv = raw["conversion"]
    for name in ("parse", "load", "baseline", "ion"):
        assert conv[name][0]["rows"] == 1200
    assert conv["small_load"]["rows"] == 300 and conv["small_ion"]["rows"] == 300
    assert [q["columns"] for q in conv["load"][0]["parquet"]["queries"]][0] == [
        "category",
        "quantity",
    ]
    s = raw["sensor"]
    assert s["history_exports"] == 4 and s["pending"] == 2
    assert s["normal"][-1]["counted"] == 2 and s["naive"][-1]["counted"] >= 6
    text = capsys.readouterr().out
    assert "ratio" in text and "1 convert JSON" in text and "4 sensor normal tick" in text
    assert "1 convert ION" in text and "1 peak RSS of the ION load" in text
    assert fixed_wait_latency(100, 180) == 80 and fixed_wait_latency(200, 180) == 40
