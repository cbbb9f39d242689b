"""Config values that become S3 keys: checked against S3's key rules before any request.

S3 keys are at most 1,024 bytes of UTF-8. AWS lists the characters that are safe in a key
(letters, digits and ``! - _ . * ' ( )``); others need URL encoding, are dropped or
rewritten by tools, or (``..`` and ``.`` segments) are resolved away by SDKs and browsers so
that ``exports/../other-team`` ends up somewhere else than written. A configured prefix
therefore uses only the safe characters plus ``=`` (Hive-style ``name=value`` folders), one
``/`` between non-empty segments, and no ``.`` or ``..`` segment; what the project appends
(table name, date, ``AWSDynamoDB/<export id>/data/<file>``) needs the rest of the 1,024
bytes, so a prefix may take at most :data:`MAX_PREFIX_BYTES`.
"""

from __future__ import annotations

import re

MAX_PREFIX_BYTES = 512
_SEGMENT = re.compile(r"^[A-Za-z0-9!_.*'()=-]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def validate_s3_prefix(value: str, what: str = "s3_prefix", *, shown: str | None = None) -> str:
    """The prefix without leading/trailing ``/`` (``""`` for the bucket's root); raises
    ValueError with one line naming the problem and the fix (quoting ``shown``, by default
    the value itself)."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string such as 'dynamodb-exports'")
    text = value.strip("/")
    value = value if shown is None else shown
    if not text:
        return ""
    if len(text.encode()) > MAX_PREFIX_BYTES:
        raise ValueError(
            f"{what} is {len(text.encode())} bytes long; S3 keys are at most 1,024 bytes and "
            f"the project appends to it, so keep it under {MAX_PREFIX_BYTES} bytes"
        )
    for segment in text.split("/"):
        if segment in ("", ".", ".."):
            shown = "an empty segment ('//')" if not segment else f"a {segment!r} segment"
            raise ValueError(
                f"{what} {value!r} has {shown}; write the folder path plainly, "
                "e.g. 'team-a/dynamodb-exports'"
            )
        if not _SEGMENT.match(segment):
            bad = sorted({c for c in segment if not _SEGMENT.match(c)})
            raise ValueError(
                f"{what} {value!r} contains {''.join(bad)!r}, which S3 keys should not carry; "
                "use letters, digits and ! - _ . * ' ( ) = between '/' separators"
            )
    return text


def validate_s3_uri(value: str, what: str) -> str:
    """``s3://bucket/prefix/`` with a valid bucket name and a prefix that passes
    :func:`validate_s3_prefix`; returned normalised to end with ``/``."""
    if not isinstance(value, str) or not value.startswith("s3://"):
        raise ValueError(f"{what} {value!r} must be an S3 URI such as 's3://my-bucket/folder/'")
    bucket, _, prefix = value[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(
            f"{what} {value!r}: {bucket!r} is not a valid S3 bucket name (3-63 of a-z 0-9 . -)"
        )
    prefix = validate_s3_prefix(prefix, what, shown=value)
    return f"s3://{bucket}/{prefix + '/' if prefix else ''}"
