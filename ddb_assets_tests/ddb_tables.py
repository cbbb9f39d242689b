"""DynamoDB tables the tests create on the local stack."""

from __future__ import annotations


def create_pitr_table(ddb, name: str) -> None:
    """An on-demand table keyed by the string ``pk``, with point-in-time recovery on (so it
    can be exported from the stack clock's current time on)."""
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
