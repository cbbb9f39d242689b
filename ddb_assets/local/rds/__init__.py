"""The local stack's RDS half: MariaDB servers for DB instances, frozen snapshots and
StartExportTask writing RDS's documented S3 layout and Parquet types. See CONTRACT.md."""

from ddb_assets.local.rds.server import (
    INSTALL_HINT,
    MariaDBNotInstalled,
    MariaDBServer,
    available,
)

__all__ = ["INSTALL_HINT", "MariaDBNotInstalled", "MariaDBServer", "available"]
