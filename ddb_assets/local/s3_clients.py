"""The S3 clients the local stack's own services write through (DynamoDB's and RDS's exports
put their files into the stack's S3 as the services would, under the stack's own keys)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class ServiceS3Clients:
    """One S3 client per region on the stack's endpoint, made on first use, shared by the
    export threads. Call it with a region: ``clients("us-east-1").put_object(...)``.
    ``endpoint`` is asked on first use (the stack learns its port after making the state)."""

    def __init__(self, endpoint: Callable[[], str]) -> None:
        self.endpoint = endpoint
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    def __call__(self, region: str):
        with self._lock:
            if region not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[region] = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self.endpoint(),
                    region_name=region,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    aws_session_token="testing",
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}),
                )
            return self._clients[region]

    def use(self, region: str, client) -> None:
        """Write ``region``'s exports through ``client`` from now on (the authorization
        tests give the export service a client that acts as the export's caller)."""
        with self._lock:
            self._clients[region] = client
