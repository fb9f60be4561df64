"""Micro-benchmark: PUT rate of small objects to a loopback SeaweedFS, and where the CPU goes.

For each client configuration (processes x threads, client mode) the benchmark puts
~20 KB objects under Hive-shaped keys (nine folder levels, as the warehouse writes them)
for ``--seconds`` and reports objects/s with the CPU milliseconds per PUT spent by the
client processes and by the SeaweedFS processes, and the load averages around the run.

    PYTHONPATH=$PWD .venv/bin/python bench/s3_put_rate.py --server mini \\
        --clients 1x8,1x16,1x32,2x16 --modes storage,lean

Server layouts (``--server``):

* ``mini``: ``weed mini`` as the tests started it before tuning (all in one process);
* ``tuned``: ``weed mini`` as ``etl3_assets_tests.support.s3_servers.start_seaweedfs`` starts it now;
* ``server``: ``weed server -filer -s3`` (all in one process, the older all-in-one);
* ``split``: ``weed master``, ``--volumes`` x ``weed volume`` and ``weed filer -s3``
  (the S3 gateway inside the filer process), each its own process;
* ``split-s3``: as ``split`` with the S3 gateway as its own ``weed s3`` process.

``--server-arg`` (repeatable) appends raw flags to the command that serves S3.

Client modes (``--modes``):

* ``storage``: the production ``S3Storage.put_bytes`` with the connection the project
  configures (``S3Connection`` defaults);
* ``legacy``: ``S3Storage`` with botocore's default checksums (``when_supported``), a
  pool of ``threads + 2`` connections and ``Expect: 100-continue`` on every PUT, i.e. the
  client as it was before this benchmark;
* ``boto3``: plain ``put_object`` on one shared client with botocore's defaults;
* ``lean``: plain ``put_object`` on one shared client, ``when_required`` checksums,
  parameter validation off, no ``Expect: 100-continue``: the cheapest boto3 path;
* ``sigv4``: as ``http``, each request signed by botocore's own SigV4 signer (payload
  hash included, as botocore signs over plain HTTP): the price of signing alone;
* ``http``: unsigned PUTs with ``http.client`` on one keep-alive connection per thread
  (SeaweedFS without an identity config accepts them): the floor of any Python client,
  and a server that is barely helped by the client.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from etl3_assets.lib.storage.s3 import S3Connection, S3Storage, _drop_expect_for_small_bodies  # noqa: E402
from etl3_assets.lib.storage.roots import Root  # noqa: E402
from etl3_assets_tests.support.s3_servers import (  # noqa: E402
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    _binary,
    _die_with_parent,
    _stop,
    _wait_http,
    free_port,
    start_seaweedfs,
)

OBJECT_BYTES = 20 * 1024
KEK = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"  # a benchmark's, not a secret
STATES = [f"S{i:02d}" for i in range(50)]


def hive_key(prefix: str, worker: int, i: int) -> str:
    """A warehouse-shaped key: nine partition folders, the last three new per object."""
    n = worker * 10_000_000 + i
    return (
        f"{prefix}/partitioned-data/payer_slug=payer-{n % 13}/state={STATES[(n // 13) % 50]}"
        f"/billing_class=b{n % 3}/procedure_set=ps{(n // 7) % 11}/procedure_class=pc{(n // 5) % 5}"
        f"/taxonomy=t{(n // 17) % 400}/stat_area_name=area-{n}/year=2025/month=08"
        "/fact_rate_enriched.parquet"
    )


# -- servers ---------------------------------------------------------------------------


class Servers:
    """The SeaweedFS processes of one layout, their S3 endpoint, and their CPU time."""

    def __init__(self, layout: str, data_dir: Path, volumes: int, extra: list[str]):
        self.procs: list[subprocess.Popen] = []
        self.layout = layout
        data_dir.mkdir(parents=True, exist_ok=True)
        if layout in ("mini", "tuned"):
            # "mini": the flags the tests used before (start_seaweedfs's own flags are
            # the tuned ones now, so the old invocation is rebuilt here)
            proc, self.endpoint = (
                start_seaweedfs(data_dir, extra=extra)
                if layout == "tuned"
                else self._old_mini(data_dir, extra)
            )
            self.procs.append(proc)
            return
        weed = _binary("weed")
        ip = ["-ip=127.0.0.1"]
        master = free_port(with_grpc_offset=True)
        filer = free_port(with_grpc_offset=True)
        s3 = free_port(with_grpc_offset=True)
        self.endpoint = f"http://127.0.0.1:{s3}"
        if layout == "server":
            vol = free_port(with_grpc_offset=True)
            self._start(
                data_dir, "server",
                [weed, "server", f"-dir={data_dir}", *ip, "-ip.bind=127.0.0.1", "-filer", "-s3",
                 "-master.telemetry=false", f"-master.port={master}", f"-volume.port={vol}",
                 f"-filer.port={filer}", f"-s3.port={s3}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                 *extra],
                self.endpoint,
            )
            return
        mdir = data_dir / "master"
        mdir.mkdir(exist_ok=True)
        self._start(
            data_dir, "master",
            [weed, "master", f"-mdir={mdir}", *ip, f"-port={master}", "-telemetry=false",
             "-volumeSizeLimitMB=256"],
            f"http://127.0.0.1:{master}/cluster/status",
        )
        for v in range(volumes):
            vdir = data_dir / f"volume{v}"
            vdir.mkdir(exist_ok=True)
            port = free_port(with_grpc_offset=True)
            self._start(
                data_dir, f"volume{v}",
                [weed, "volume", f"-dir={vdir}", *ip, f"-port={port}", f"-master=127.0.0.1:{master}",
                 "-max=0", "-preStopSeconds=0"],
                f"http://127.0.0.1:{port}/status",
            )
        fdir = data_dir / "filer"
        fdir.mkdir(exist_ok=True)
        s3_in_filer = layout == "split"
        self._start(
            fdir, "filer",
            [weed, "filer", *ip, f"-port={filer}", f"-master=127.0.0.1:{master}",
             f"-defaultStoreDir={fdir}",
             *(["-s3", f"-s3.port={s3}", "-s3.port.iceberg=0", "-s3.port.lance=0", *extra]
               if s3_in_filer else [])],
            f"http://127.0.0.1:{filer}/",
        )
        if not s3_in_filer:
            self._start(
                data_dir, "s3",
                [weed, "s3", *ip, f"-port={s3}", f"-filer=127.0.0.1:{filer}", "-port.iceberg=0",
                 "-port.lance=0", *extra],
                self.endpoint,
            )
        else:
            _wait_http(self.endpoint, self.procs[-1], fdir / "filer.log")

    @staticmethod
    def _old_mini(data_dir: Path, extra: list[str]):
        ports = {n: free_port(with_grpc_offset=True) for n in ("master", "volume", "filer", "s3", "admin")}
        log = data_dir / "weed.log"
        args = [
            _binary("weed"), "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            *(f"-{n}.port={p}" for n, p in ports.items()),
            *(f"-{n}.port.grpc={p + 10000}" for n, p in ports.items()),
            *extra,
        ]
        proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=data_dir,
                                preexec_fn=_die_with_parent)
        endpoint = f"http://127.0.0.1:{ports['s3']}"
        _wait_http(endpoint, proc, log)
        return proc, endpoint

    def _start(self, cwd: Path, name: str, args: list[str], ready_url: str) -> None:
        log = cwd / f"{name}.log"
        # SSE-S3 (the writer's ServerSideEncryption=AES256) needs a key-encryption key;
        # ``weed mini`` makes one itself, the other commands take it from the environment
        env = {**os.environ, "WEED_S3_SSE_KEK": KEK}
        proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=cwd,
                                preexec_fn=_die_with_parent, env=env)
        self.procs.append(proc)
        try:
            _wait_http(ready_url, proc, log)
        except BaseException:
            self.stop()
            raise

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self.procs:
            try:
                t = psutil.Process(p.pid).cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def rss_mb(self) -> float:
        return sum(psutil.Process(p.pid).memory_info().rss for p in self.procs if p.poll() is None) / 2**20

    def stop(self) -> None:
        for p in reversed(self.procs):
            _stop(p)


# -- clients ---------------------------------------------------------------------------


def _connection(endpoint: str, mode: str, threads: int) -> S3Connection:
    base = S3Connection(
        region_name=REGION, endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, use_ssl=False,
    )
    if mode == "legacy":
        return S3Connection(**{**base.__dict__, "request_checksum_calculation": "when_supported",
                               "max_pool_connections": 10})
    return base


def _client_process(endpoint, bucket, mode, threads, worker, barrier, seconds, payload, out):
    """One client process: once every process is ready (``barrier``), ``threads``
    threads put objects for ``seconds``; reports the count, its wall time and CPU time."""
    prefix = f"bench-{mode}"
    count = [0] * threads
    deadline = None
    if mode in ("storage", "legacy"):
        storage = S3Storage(Root(f"s3://{bucket}/{prefix}"), _connection(endpoint, mode, threads),
                            max_workers=threads)
        if mode == "legacy":
            storage.connection = _connection(endpoint, mode, threads).with_pool(threads + 2)
            storage._init_runtime()
            storage.client.meta.events.unregister("before-send.s3", _drop_expect_for_small_bodies)
        storage.client  # made before the clock starts, as in a long-running writer
        barrier.wait()
        deadline = time.time() + seconds
        t0, c0 = time.perf_counter(), os.times()
        i = 0
        while time.time() < deadline:
            storage.put_bytes(hive_key("k", worker, i), payload)
            i += 1
        storage.flush()
        storage.close()
        total = i
    else:
        if mode in ("lean", "boto3"):
            from botocore.config import Config
            import boto3

            lean = dict(request_checksum_calculation="when_required", parameter_validation=False)
            client = boto3.session.Session().client(
                "s3", region_name=REGION, endpoint_url=endpoint, use_ssl=False,
                aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                config=Config(max_pool_connections=threads, retries={"mode": "standard"},
                              **(lean if mode == "lean" else {})),
            )
            if mode == "lean":
                client.meta.events.register("before-send.s3", _drop_expect_for_small_bodies)

            def put(_conn, key):
                client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=payload,
                                  ServerSideEncryption="AES256")
        else:  # http, sigv4
            host, port = endpoint.removeprefix("http://").split(":")
            local = threading.local()
            if mode == "sigv4":
                from botocore.auth import S3SigV4Auth
                from botocore.awsrequest import AWSRequest
                from botocore.credentials import Credentials

                signer = S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION)

            def put(_conn, key):
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection(host, int(port), timeout=60)
                headers = {"x-amz-server-side-encryption": "AES256"}
                path = f"/{bucket}/{prefix}/{key}"
                if mode == "sigv4":
                    request = AWSRequest("PUT", f"{endpoint}{path}", data=payload, headers=headers)
                    signer.add_auth(request)
                    headers = dict(request.headers.items())
                conn.request("PUT", path, body=payload, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"PUT {key}: {response.status}")

        def loop(t):
            i = 0
            while time.time() < deadline:
                put(None, hive_key("k", worker * 1000 + t, i))
                i += 1
            count[t] = i

        barrier.wait()
        deadline = time.time() + seconds
        t0, c0 = time.perf_counter(), os.times()
        pool = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        total = sum(count)
    wall = time.perf_counter() - t0
    c1 = os.times()
    out.put({"objects": total, "wall": wall, "cpu": (c1.user - c0.user) + (c1.system - c0.system)})


def run_config(servers: Servers, bucket: str, mode: str, processes: int, threads: int,
               seconds: float) -> dict:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    payload = os.urandom(OBJECT_BYTES)
    barrier = ctx.Barrier(processes + 1)  # spawned interpreters import boto3 first
    procs = [
        ctx.Process(target=_client_process,
                    args=(servers.endpoint, bucket, mode, threads, w, barrier, seconds, payload, out))
        for w in range(processes)
    ]
    for p in procs:
        p.start()
    barrier.wait(timeout=300)
    server_cpu0, load0 = servers.cpu_seconds(), os.getloadavg()
    machine0 = psutil.cpu_times()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    server_cpu = servers.cpu_seconds() - server_cpu0
    machine1 = psutil.cpu_times()
    for p in procs:
        p.join()
    objects = sum(r["objects"] for r in results)
    wall = max(r["wall"] for r in results)
    client_cpu = sum(r["cpu"] for r in results)
    busy = lambda t: t.user + t.system + t.nice + t.irq + t.softirq  # noqa: E731
    machine_busy = busy(machine1) - busy(machine0)
    return {
        "mode": mode,
        "processes": processes,
        "threads": threads,
        "objects": objects,
        "seconds": round(wall, 2),
        "objects_per_s": round(objects / wall, 1),
        "client_cpu_ms_per_put": round(1000 * client_cpu / objects, 3),
        "server_cpu_ms_per_put": round(1000 * server_cpu / objects, 3),
        "client_cores": round(client_cpu / wall, 2),
        "server_cores": round(server_cpu / wall, 2),
        "machine_busy_cores": round(machine_busy / wall, 2),
        "server_rss_mb": round(servers.rss_mb(), 1),
        "load_before": [round(x, 2) for x in load0],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="tuned", choices=("mini", "tuned", "server", "split", "split-s3"))
    parser.add_argument("--volumes", type=int, default=1, help="volume servers (split layouts)")
    parser.add_argument("--server-arg", action="append", default=[], help="raw flag for the S3 server command")
    parser.add_argument("--clients", default="1x8,1x16,1x32,1x64,2x8,2x16,2x32",
                        help="comma-separated PROCESSESxTHREADS")
    parser.add_argument("--modes", default="storage", help="comma-separated: storage,legacy,lean,http")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", help="append one JSON line per configuration to this file")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="etl3-put-rate-"))
    servers = Servers(args.server, work / "seaweedfs", args.volumes, args.server_arg)
    try:
        bucket = f"bench-{uuid.uuid4().hex[:12]}"
        conn = _connection(servers.endpoint, "storage", 1)
        client = conn.client("s3")
        client.create_bucket(Bucket=bucket)
        # a fresh cluster elects its master and grows its first volumes before it takes
        # writes: wait for one PUT to succeed
        deadline = time.monotonic() + 90
        while True:
            try:
                client.put_object(Bucket=bucket, Key="probe", Body=b"x", ServerSideEncryption="AES256")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        # one warm-up second, so volume allocation is not in the first configuration
        run_config(servers, bucket, "lean", 1, 8, 1.0)
        for mode in args.modes.split(","):
            for spec in args.clients.split(","):
                processes, threads = (int(x) for x in spec.split("x"))
                row = {"server": args.server, "volumes": args.volumes, "server_args": args.server_arg,
                       **run_config(servers, bucket, mode, processes, threads, args.seconds)}
                print(json.dumps(row), flush=True)
                if args.json:
                    with open(args.json, "a") as f:
                        f.write(json.dumps(row) + "\n")
    finally:
        servers.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
