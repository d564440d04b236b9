"""boto3 against pyarrow's S3 filesystem for the storage layer's calls, on moto's S3 server.

    .venv/bin/python bench/s3.py [--objects 40] [--size-kb 1024]

Starts `moto_server` on a free 127.0.0.1 port (or uses AWS_ENDPOINT_URL), then puts,
gets, heads and lists the same objects with each library and prints the times and
the ratio. Figures, not a test: run it on a quiet machine and compare within one run.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.s3 import _free_port, _wait_until_listening  # noqa: E402


def _timed(label: str, function) -> float:
    start = time.perf_counter()
    function()
    elapsed = time.perf_counter() - start
    print(f"  {label:<28} {elapsed * 1000:8.1f} ms")
    return elapsed


def run_boto3(bucket: str, payloads: list[bytes]) -> float:
    import boto3

    start = time.perf_counter()
    client = boto3.client("s3")
    client.create_bucket(Bucket=bucket)
    total = _timed(
        "boto3 put", lambda: [client.put_object(Bucket=bucket, Key=f"k/{i}", Body=p) for i, p in enumerate(payloads)]
    )
    total += _timed(
        "boto3 get",
        lambda: [client.get_object(Bucket=bucket, Key=f"k/{i}")["Body"].read() for i in range(len(payloads))],
    )
    total += _timed(
        "boto3 head", lambda: [client.head_object(Bucket=bucket, Key=f"k/{i}") for i in range(len(payloads))]
    )
    total += _timed("boto3 list", lambda: client.list_objects_v2(Bucket=bucket, Prefix="k/"))
    print(f"  boto3 incl. client setup    {(time.perf_counter() - start) * 1000:8.1f} ms")
    return total


def run_pyarrow(bucket: str, payloads: list[bytes]) -> float:
    from pyarrow import fs

    start = time.perf_counter()
    s3 = fs.S3FileSystem(
        endpoint_override=os.environ["AWS_ENDPOINT_URL"], region="us-east-1", allow_bucket_creation=True
    )
    s3.create_dir(bucket)

    def put():
        for i, payload in enumerate(payloads):
            with s3.open_output_stream(f"{bucket}/k/{i}") as out:
                out.write(payload)

    def get():
        for i in range(len(payloads)):
            with s3.open_input_stream(f"{bucket}/k/{i}") as stream:
                stream.read()

    total = _timed("pyarrow put", put)
    total += _timed("pyarrow get", get)
    total += _timed("pyarrow info", lambda: [s3.get_file_info(f"{bucket}/k/{i}") for i in range(len(payloads))])
    total += _timed("pyarrow list", lambda: s3.get_file_info(fs.FileSelector(f"{bucket}/k", recursive=True)))
    print(f"  pyarrow incl. client setup  {(time.perf_counter() - start) * 1000:8.1f} ms")
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=40)
    parser.add_argument("--size-kb", type=int, default=1024)
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    process = None
    if "AWS_ENDPOINT_URL" not in os.environ:
        port = _free_port()
        binary = Path(sys.executable).parent / "moto_server"
        process = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)], stderr=subprocess.DEVNULL)
        _wait_until_listening(port, process)
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    try:
        payloads = [os.urandom(args.size_kb * 1024) for _ in range(args.objects)]
        print(f"{args.objects} objects of {args.size_kb} KB on {os.environ['AWS_ENDPOINT_URL']}")
        boto = run_boto3("bench-boto3", payloads)
        arrow = run_pyarrow("bench-pyarrow", payloads)
        print(f"put+get+head+list: boto3 {boto:.2f} s, pyarrow {arrow:.2f} s, boto3/pyarrow {boto / arrow:.2f}")
    finally:
        if process is not None:
            process.terminate()


if __name__ == "__main__":
    main()
