"""A seeded, cached generator of DynamoDB full exports (DYNAMODB_JSON and ION).

The layout is AWS's (see ``ddb_assets_tests/fixtures/aws-export-manifest/``)::

    <root>/AWSDynamoDB/<ExportId>/manifest-summary.json   one JSON object
    <root>/AWSDynamoDB/<ExportId>/manifest-files.json     JSON lines (itemCount, md5Checksum, etag, dataFileS3Key)
    <root>/AWSDynamoDB/<ExportId>/data/<26 base32>.json.gz  (ION: .ion.gz)

``md5Checksum`` is the base64 MD5 of each gzip object and ``etag`` the one-part multipart
ETag (``md5(md5(body))-1``), as DynamoDB uploads them.

Items (about 14 attributes, sparse): ``pk`` / ``sk`` (S keys), ``category`` (S, 12
values), ``quantity`` (N integer), ``amount`` (N decimal, 2 places), ``active`` (BOOL),
``deleted_at`` (NULL), ``tags`` (SS), ``scores`` (NS decimals), ``history`` (L of mixed
values), ``address`` (M, nested), ``avatar`` (B), ``note`` (high-cardinality S),
``created_at`` (S ISO time), and ``promo_code`` (S) that first appears after 60 % of the
items — past any sampling window, the trap DESIGN.md describes.

Both formats are written in one pass from the same items (so they hold the same data),
one worker process per data file, and cached under :func:`cache_root` keyed by
generator version, seed and N. A ``.complete`` marker is written last, so an interrupted
generation is redone, never half-used.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import multiprocessing as mp
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

GENERATOR_VERSION = 1
FORMATS = ("DYNAMODB_JSON", "ION")
CATEGORIES = [
    "maguro",
    "salmon",
    "hamachi",
    "ebi",
    "ika",
    "tamago",
    "uni",
    "ikura",
    "anago",
    "kappa_maki",
    "tekka_maki",
    "inari",
]
TAGS = ["new", "vip", "gift", "promo", "repeat", "mobile", "web", "kiosk"]
CITIES = ["Tokyo", "Osaka", "Kyoto", "Sapporo", "Fukuoka", "Nagoya", "Sendai", "Kobe"]
WORDS = [
    "no",
    "wasabi",
    "extra",
    "ginger",
    "please",
    "small",
    "large",
    "rice",
    "fresh",
    "today",
    "アレルギー",
    "えび",
    'say "hi"',
    "line\nbreak",
    "café",
    "∑",
]
TABLE_NAME = "bench_orders"
ACCOUNT = "123456789012"
REGION = "us-east-1"


def cache_root() -> Path:
    return Path(os.environ.get("DDB_BENCH_CACHE") or "/tmp/ddb_assets_bench_cache")


def default_files(n_items: int) -> int:
    """Data files for N items: 4 at least, about 62,500 items each, 16 at most."""
    return max(4, min(16, -(-n_items // 62_500)))


# --- items ------------------------------------------------------------------------------


def make_item(i: int, n_items: int, rng: random.Random) -> dict:
    """Item ``i`` in DynamoDB JSON (wire) form. Deterministic given ``rng``'s state."""
    r = rng.random
    item: dict = {
        "pk": {"S": f"user#{i:09d}"},
        "sk": {"S": f"order#{rng.randrange(10**8):08d}"},
        "category": {"S": CATEGORIES[int(r() ** 1.5 * len(CATEGORIES))]},
        "quantity": {"N": str(rng.randrange(1, 40))},
        "created_at": {
            "S": f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T"
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"
        },
    }
    if r() < 0.9:
        cents = rng.randrange(1, 10**7)
        item["amount"] = {"N": f"{cents // 100}.{cents % 100:02d}"}
    if r() < 0.7:
        item["active"] = {"BOOL": r() < 0.5}
    if r() < 0.05:
        item["deleted_at"] = {"NULL": True}
    if r() < 0.4:
        item["tags"] = {"SS": rng.sample(TAGS, rng.randrange(1, 4))}
    if r() < 0.2:
        item["scores"] = {
            "NS": sorted(
                {f"{rng.randrange(1000)}.{rng.randrange(10)}" for _ in range(rng.randrange(1, 4))}
            )
        }
    if r() < 0.3:
        item["history"] = {
            "L": [{"S": rng.choice(TAGS)}, {"N": str(rng.randrange(100))}, {"BOOL": r() < 0.5}][
                : rng.randrange(1, 4)
            ]
        }
    if r() < 0.6:
        addr = {"city": {"S": rng.choice(CITIES)}, "zip": {"S": f"{rng.randrange(10**7):07d}"}}
        if r() < 0.5:
            addr["geo"] = {
                "M": {
                    "lat": {"N": f"35.{rng.randrange(10**4):04d}"},
                    "lon": {"N": f"139.{rng.randrange(10**4):04d}"},
                }
            }
        item["address"] = {"M": addr}
    if r() < 0.1:
        item["avatar"] = {
            "B": base64.b64encode(rng.randbytes(rng.randrange(4, 24))).decode("ascii")
        }
    if r() < 0.5:
        item["note"] = {
            "S": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(2, 7)))
            + f" #{rng.randrange(10**6)}"
        }
    if i >= n_items * 0.6 and r() < 0.5:
        item["promo_code"] = {"S": f"P{rng.randrange(10**5):05d}"}
    return item


# --- layout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    """One generated export on disk."""

    root: Path  # the folder that holds AWSDynamoDB/
    export_id: str
    export_format: str
    n_items: int
    seed: int

    @property
    def base(self) -> Path:
        return self.root / "AWSDynamoDB" / self.export_id

    @property
    def manifest_summary(self) -> Path:
        return self.base / "manifest-summary.json"

    @property
    def manifest_files(self) -> Path:
        return self.base / "manifest-files.json"

    def data_files(self) -> list[Path]:
        """The data files, in manifest order (read from manifest-files.json)."""
        lines = self.manifest_files.read_text().splitlines()
        return [self.root / json.loads(line)["dataFileS3Key"] for line in lines if line.strip()]

    def gz_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.data_files())


def _export_id(seed: int, n_items: int) -> str:
    ms = 1_767_225_600_000 + (seed % 1000) * 1000  # 2026-01-01T00:00:00Z + seed seconds
    return f"{ms:014d}-{hashlib.sha256(f'{seed}:{n_items}'.encode()).hexdigest()[:8]}"


def _file_name(seed: int, n_items: int, index: int) -> str:
    digest = hashlib.sha256(f"{seed}:{n_items}:{index}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:26]


def _item_size(item: dict) -> int:
    from ddb_assets.local.fidelity import item_size

    return item_size(item)


def _write_file(args) -> dict:
    """Worker: items [lo, hi) of one data file, in both formats. Returns per-format facts."""
    from ddb_assets.local.ion_text import ion_line

    seed, n_items, index, lo, hi, paths = args
    rng = random.Random(seed * 1_000_003 + index)
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    json_lines: list[str] = []
    ion_lines: list[str] = []
    billed = 0
    for i in range(lo, hi):
        item = make_item(i, n_items, rng)
        json_lines.append('{"Item":' + dumps(item) + "}\n")
        ion_lines.append(ion_line({"Item": item}) + "\n")
        billed += _item_size(item)
    out = {}
    for fmt, lines in (("DYNAMODB_JSON", json_lines), ("ION", ion_lines)):
        text = "".join(lines).encode("utf-8")
        body = gzip.compress(text, compresslevel=6, mtime=0)
        Path(paths[fmt]).parent.mkdir(parents=True, exist_ok=True)
        Path(paths[fmt]).write_bytes(body)
        md5 = hashlib.md5(body).digest()
        out[fmt] = {
            "itemCount": hi - lo,
            "md5Checksum": base64.b64encode(md5).decode("ascii"),
            "etag": hashlib.md5(md5).hexdigest() + "-1",
            "raw_bytes": len(text),
            "billed": billed,
        }
    return out


def _iso_ms(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def generate(
    n_items: int,
    seed: int = 7,
    *,
    files: int | None = None,
    cache: Path | None = None,
    processes: int | None = None,
    log=lambda s: None,
) -> dict[str, Export]:
    """Both formats of the seeded export of ``n_items`` items (cached); ``{format: Export}``."""
    files = files or default_files(n_items)
    cache = Path(cache or cache_root())
    key = f"v{GENERATOR_VERSION}-s{seed}-n{n_items}-f{files}"
    top = cache / key
    export_id = _export_id(seed, n_items)
    exports = {fmt: Export(top / fmt.lower(), export_id, fmt, n_items, seed) for fmt in FORMATS}
    if (top / ".complete").exists():
        return exports
    if top.exists():
        shutil.rmtree(top)
    log(f"generating {n_items:,} items x 2 formats in {files} files under {top} ...")
    per = -(-n_items // files) if n_items else 0
    jobs = []
    for f in range(files):
        lo, hi = min(n_items, f * per), min(n_items, (f + 1) * per)
        name = _file_name(seed, n_items, f)
        paths = {
            fmt: str(
                exports[fmt].base / "data" / (name + (".ion.gz" if fmt == "ION" else ".json.gz"))
            )
            for fmt in FORMATS
        }
        jobs.append((seed, n_items, f, lo, hi, paths))
    procs = processes or min(os.cpu_count() or 1, files)
    if procs > 1:
        with mp.get_context("fork" if hasattr(os, "fork") else "spawn").Pool(procs) as pool:
            results = pool.map(_write_file, jobs, chunksize=1)
    else:
        results = [_write_file(j) for j in jobs]

    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seed % 1000)
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE_NAME}"
    for fmt in FORMATS:
        e = exports[fmt]
        base_key = f"AWSDynamoDB/{export_id}"
        lines = []
        for job, res in zip(jobs, results):
            r = res[fmt]
            lines.append(
                json.dumps(
                    {
                        "itemCount": r["itemCount"],
                        "md5Checksum": r["md5Checksum"],
                        "etag": r["etag"],
                        "dataFileS3Key": os.path.relpath(job[5][fmt], e.root),
                    },
                    separators=(",", ":"),
                )
            )
        files_key = f"{base_key}/manifest-files.json"
        e.manifest_files.write_text("\n".join(lines) + "\n")
        summary = {
            "version": "2020-06-30",
            "exportArn": f"{table_arn}/export/{export_id}",
            "startTime": _iso_ms(start),
            "endTime": _iso_ms(start + dt.timedelta(minutes=7)),
            "tableArn": table_arn,
            "tableId": hashlib.md5(table_arn.encode()).hexdigest(),
            "exportTime": _iso_ms(start),
            "s3Bucket": "bench-exports",
            "s3Prefix": None,
            "s3SseAlgorithm": "AES256",
            "s3SseKmsKeyId": None,
            "manifestFilesS3Key": files_key,
            "billedSizeBytes": sum(r[fmt]["billed"] for r in results),
            "itemCount": n_items,
            "outputFormat": fmt,
        }
        e.manifest_summary.write_text(json.dumps(summary, separators=(",", ":")))
        (e.base / "raw_bytes").write_text(str(sum(r[fmt]["raw_bytes"] for r in results)))
    (top / ".complete").write_text(key)
    return exports


def raw_bytes(export: Export) -> int:
    """Uncompressed bytes of the export's data files (recorded at generation)."""
    return int((export.base / "raw_bytes").read_text())


def verify(export: Export) -> list[str]:
    """Check the export against its manifests (the project's own parser): problems found."""
    from ddb_assets.dynamodb.manifest import (
        Manifest,
        md5_base64,
        parse_manifest_files,
        parse_manifest_summary,
    )

    problems = []
    summary = parse_manifest_summary(export.manifest_summary.read_text())
    files = parse_manifest_files(export.manifest_files.read_text())
    try:
        Manifest(summary, files).check_consistent()
    except ValueError as exc:
        problems.append(str(exc))
    if summary.output_format != export.export_format:
        problems.append(f"outputFormat {summary.output_format} != {export.export_format}")
    for f in files:
        p = export.root / f.key
        if not p.is_file():
            problems.append(f"missing {f.key}")
            continue
        with open(p, "rb") as fh:
            if md5_base64(iter(lambda: fh.read(1 << 20), b"")) != f.md5_base64:
                problems.append(f"md5 mismatch {f.key}")
        with gzip.open(p, "rt", encoding="utf-8") as fh:
            lines = sum(1 for _ in fh)
        if lines != f.item_count:
            problems.append(f"{f.key}: {lines} lines, manifest says {f.item_count}")
    return problems
