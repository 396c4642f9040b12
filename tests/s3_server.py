"""A real S3-compatible server (s3rver, installed by scripts/dev-setup.sh) for upload tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from conftest import ROOT, free_port, wait_for_port

S3RVER = ROOT / ".cache" / "s3rver" / "node_modules" / ".bin" / "s3rver"
BUCKET = "tts-test"


class S3Server:
    def __init__(self, data_dir: Path):
        if not S3RVER.exists():
            raise RuntimeError(f"{S3RVER} is missing: run scripts/dev-setup.sh (it installs s3rver with npm)")
        self.port = free_port()
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            [str(S3RVER), "-d", str(data_dir), "-a", "127.0.0.1", "-p", str(self.port), "--configure-bucket", BUCKET, "--silent"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process, timeout=30)

    @property
    def env(self) -> dict[str, str]:
        return {
            "BUCKET_ENDPOINT_URL": f"http://127.0.0.1:{self.port}/{BUCKET}",
            "BUCKET_ACCESS_KEY_ID": "S3RVER",
            "BUCKET_SECRET_ACCESS_KEY": "S3RVER",
        }

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.data_dir, ignore_errors=True)
