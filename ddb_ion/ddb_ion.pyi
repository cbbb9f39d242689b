"""DynamoDB ION export -> DYNAMODB_JSON lines, read with Amazon's ion-rs (src/lib.rs)."""

ION_RS_VERSION: str

def transcode_files(
    srcs: list[str], dsts: list[str], threads: int, gzip_level: int | None = None
) -> list[int]: ...
def transcode_bytes(data: bytes) -> str: ...
