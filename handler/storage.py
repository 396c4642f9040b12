"""Upload results to an S3-compatible bucket and hand back a presigned URL.

Configured with the RunPod SDK's variables: BUCKET_ENDPOINT_URL (`https://host/bucket` or
`https://bucket.host`), BUCKET_ACCESS_KEY_ID, BUCKET_SECRET_ACCESS_KEY, plus the optional
BUCKET_NAME (when the endpoint URL has no bucket in it) and BUCKET_REGION. There is never a
local-file fallback: with no bucket, asking for a URL is a DeliveryError that says how to set one.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from handler.errors import DeliveryError

DEFAULT_REGION = "us-east-1"
# the variables read here, with their defaults (docs/configuration.md lists them; a test holds it to this)
BUCKET_VARIABLES = {
    "BUCKET_ENDPOINT_URL": None,
    "BUCKET_ACCESS_KEY_ID": None,
    "BUCKET_SECRET_ACCESS_KEY": None,
    "BUCKET_NAME": None,
    "BUCKET_REGION": DEFAULT_REGION,
}
HOW_TO_CONFIGURE = (
    "set BUCKET_ENDPOINT_URL (https://<s3-host>/<bucket>), BUCKET_ACCESS_KEY_ID and "
    "BUCKET_SECRET_ACCESS_KEY on the endpoint to receive audio as a URL"
)


@dataclass(frozen=True)
class BucketConfig:
    endpoint: str  # scheme://host[:port]
    bucket: str
    access_key: str
    secret_key: str
    region: str

    @classmethod
    def from_env(cls, env: dict | None = None) -> BucketConfig | None:
        env = os.environ if env is None else env
        url = env.get("BUCKET_ENDPOINT_URL", "").strip()
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DeliveryError(f"BUCKET_ENDPOINT_URL={url!r} is not an http(s) URL; {HOW_TO_CONFIGURE}")
        path_bucket = parts.path.strip("/").split("/")[0]
        bucket = env.get("BUCKET_NAME", "").strip() or path_bucket
        endpoint = f"{parts.scheme}://{parts.netloc}"
        if not bucket:  # virtual-hosted style: https://bucket.s3.example.com
            bucket, _, rest = parts.netloc.partition(".")
            endpoint = f"{parts.scheme}://{rest}"
        access, secret = env.get("BUCKET_ACCESS_KEY_ID", ""), env.get("BUCKET_SECRET_ACCESS_KEY", "")
        if not access or not secret:
            raise DeliveryError(f"BUCKET_ENDPOINT_URL is set but its keys are not; {HOW_TO_CONFIGURE}")
        return cls(endpoint, bucket, access, secret, env.get("BUCKET_REGION", "").strip() or DEFAULT_REGION)

    def client(self, connect_timeout_s: float, read_timeout_s: float):
        """A boto3 S3 client for this endpoint and its keys (path-style addressing, a few retries)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=connect_timeout_s,
                read_timeout=read_timeout_s,
            ),
        )


class Uploader:
    def __init__(self, config: BucketConfig, expiry_s: int):
        self.config = config
        self.expiry_s = expiry_s
        self._client = config.client(connect_timeout_s=10, read_timeout_s=60)

    def upload(self, data: bytes, *, job_id: str, extension: str, content_type: str) -> str:
        day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        key = f"f5-tts/{day}/{job_id}-{uuid.uuid4().hex[:8]}.{extension}"
        try:
            self._client.put_object(Bucket=self.config.bucket, Key=key, Body=data, ContentType=content_type)
            # read back the size, so a half-written object is never reported as a result
            head = self._client.head_object(Bucket=self.config.bucket, Key=key)
            if int(head["ContentLength"]) != len(data):
                raise DeliveryError(f"upload to bucket {self.config.bucket!r} stored {head['ContentLength']} of {len(data)} bytes")
            return self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.config.bucket, "Key": key}, ExpiresIn=self.expiry_s
            )
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - botocore raises many types; all mean "not delivered"
            raise DeliveryError(
                f"upload to bucket {self.config.bucket!r} at {self.config.endpoint} failed: {type(exc).__name__}: {exc}"
            ) from None
