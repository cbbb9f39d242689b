"""Glue Data Catalog helpers shared by the Athena paths."""

from botocore.exceptions import ClientError

from ddb_assets.sql.identifiers import validate_catalog_name


def ensure_database(glue, name: str) -> bool:
    """Create the Glue database if it does not exist; True when it was created."""
    validate_catalog_name(name, "athena.database")
    try:
        glue.get_database(Name=name)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "EntityNotFoundException":
            raise
    try:
        glue.create_database(
            DatabaseInput={
                "Name": name,
                "Description": "Tables kept by ddb_assets (DynamoDB exports)",
            }
        )
    except ClientError as exc:  # created concurrently by another run
        if exc.response.get("Error", {}).get("Code") != "AlreadyExistsException":
            raise
    return True
