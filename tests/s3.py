"""An S3 server for tests: moto's standalone server (a real S3 HTTP API on 127.0.0.1).

`.ci/run` starts one and sets ZEKE_TEST_S3_ENDPOINT_URL; without it the fixture starts
`moto_server` itself when it is installed, and skips (saying why) when it is not.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("moto_server did not start listening within 60 s")


@pytest.fixture(scope="session")
def s3_endpoint():
    """The URL of an S3-compatible server for this test session."""
    if url := os.environ.get("ZEKE_TEST_S3_ENDPOINT_URL"):
        yield url
        return
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists() and not shutil.which("moto_server"):
        pytest.skip("no S3 server: set ZEKE_TEST_S3_ENDPOINT_URL or install moto[server] (requirements.txt)")
    port = _free_port()
    process = subprocess.Popen(
        [str(binary) if binary.exists() else "moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def s3_storage_url(s3_endpoint, monkeypatch, settings):
    """TRACE_STORAGE_URL on a fresh bucket of the test S3 server, with the standard AWS variables set."""
    import boto3

    for name, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"zeke-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    settings.TRACE_STORAGE_URL = f"s3://{bucket}/zeke"
    return settings.TRACE_STORAGE_URL
