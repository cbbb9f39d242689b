"""Test exports written as DynamoDB writes them: one minified ``{"Item": ...}`` per line,
UTF-8, gzip, the items split over the files in order."""

from __future__ import annotations

import gzip
import json


def minified_export(tmp_path, name, items, files=1, ascii_only=False):
    d = tmp_path / name
    d.mkdir()
    paths, per = [], max(1, -(-len(items) // files))
    for f in range(files):
        p = d / f"part{f}.json.gz"
        with gzip.open(p, "wt", encoding="utf-8") as out:
            for it in items[f * per : (f + 1) * per]:
                out.write(
                    json.dumps({"Item": it}, ensure_ascii=ascii_only, separators=(",", ":")) + "\n"
                )
        paths.append(p)
    return paths
