"""Docker mode: start-up time, and the gateway's cost against the container's own port.

1. ``localzure-cp start --mode docker`` to all services healthy, images present (goal < 5 s).
2. 1 KiB reads through the gateway against the same Azurite container's published port
   directly, in one run (goal: ratio >= 0.9): Get Blob when the blob adapter is installed,
   else Peek Messages of one 1 KiB queue message.

    python -m bench.docker_mode [--seconds 10] [--clients 16] [--starts 3] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import httpx

from bench.targets import ACCOUNT, KEY
from tests.support import free_port


def start_control_plane(data_dir: Path, services: list[str]) -> tuple[subprocess.Popen[bytes], int, float]:
    edge = free_port()
    env = {**os.environ, **{f"LOCALZURE_SERVICES__{s.upper()}__PORT": str(free_port()) for s in services}}
    began = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controlplane",
            "start",
            "--mode",
            "docker",
            "--data-dir",
            str(data_dir),
            "--port",
            str(edge),
            "--log-level",
            "WARNING",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # One client for every poll: httpx.get() builds a client (and an SSL context) per call,
    # ~50 ms of CPU that would compete with the start being measured.
    with httpx.Client(timeout=1, trust_env=False) as client:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"control plane exited {process.returncode}")
            try:
                if client.get(f"http://127.0.0.1:{edge}/_localzure/health").json()["status"] == "healthy":
                    return process, edge, time.monotonic() - began
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.02)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


async def drive(url: str, headers: dict[str, str], seconds: float, clients: int) -> tuple[float, int]:
    done = errors = 0
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal done, errors
            while time.monotonic() < deadline:
                async with session.get(url) as response:
                    body = await response.read()
                    if response.status == 200 and len(body) >= 1024:
                        done += 1
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
    return done / seconds, errors


def prepare(service: str, gateway: str) -> tuple[str, dict[str, str]]:
    """Creates the 1 KiB object through the gateway; the path and SAS to read it."""
    if service == "blob":
        from azure.storage.blob import AccountSasPermissions, BlobServiceClient, ResourceTypes, generate_account_sas

        client = BlobServiceClient(gateway, credential=KEY)
        client.create_container("bench").upload_blob("one-kib", b"x" * 1024, overwrite=True)
        path = "/bench/one-kib"
    else:
        from azure.storage.queue import (
            AccountSasPermissions,
            QueueServiceClient,
            ResourceTypes,
            generate_account_sas,
        )

        client = QueueServiceClient(gateway, credential=KEY)
        client.create_queue("bench").send_message("x" * 1024)
        path = "/bench/messages?peekonly=true"
    sas = generate_account_sas(
        ACCOUNT,
        KEY,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(read=True, list=True, process=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    joiner = "&" if "?" in path else "?"
    return f"{path}{joiner}{sas}", {"x-ms-version": "2021-02-12"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    from controlplane.registry import discover

    services = list(discover())
    # Container names are fixed (localzure-<service>): wait for Docker tests running meanwhile.
    lock = open("/tmp/localzure-docker-tests.lock", "w")  # noqa: SIM115 - held until exit
    fcntl.flock(lock, fcntl.LOCK_EX)
    with tempfile.TemporaryDirectory() as tmp:
        times = []
        for i in range(args.starts):
            process, edge, took = start_control_plane(Path(tmp) / f"data{i}", services)
            times.append(took)
            if i < args.starts - 1:
                stop(process)
        print(
            f"start --mode docker to healthy ({', '.join(services)}): "
            + ", ".join(f"{t:.2f}s" for t in times)
            + f" (best {min(times):.2f}s)"
        )
        try:
            service = "blob" if "blob" in services else "queue"
            info = httpx.get(f"http://127.0.0.1:{edge}/_localzure/services/{service}").json()
            gateway = f"http://127.0.0.1:{info['port']}/{ACCOUNT}"
            direct_port = next(iter(info["container"]["ports"].values())).split(":")[1]
            direct = f"http://127.0.0.1:{direct_port}/{ACCOUNT}"
            path, headers = prepare(service, gateway)
            what = "Get Blob" if service == "blob" else "Peek Messages"
            # Azurite's JIT warms up over the first thousands of requests, and the machine's
            # load drifts: warm both paths, then alternate them (ABBA) and compare the sums.
            for url in (gateway, direct):
                asyncio.run(drive(url + path, headers, 2, args.clients))
            totals = {"gateway": [0.0, 0], "direct": [0.0, 0]}
            slice_seconds = args.seconds / (2 * args.rounds)
            for r in range(args.rounds):
                order = ("gateway", "direct") if r % 2 == 0 else ("direct", "gateway")
                for name in order:
                    rate, errors = asyncio.run(
                        drive((gateway if name == "gateway" else direct) + path, headers, slice_seconds, args.clients)
                    )
                    totals[name][0] += rate
                    totals[name][1] += errors
            via, raw = totals["gateway"][0] / args.rounds, totals["direct"][0] / args.rounds
            rounds = f"{args.rounds} alternating rounds"
            print(f"1 KiB {what}, {args.clients} clients, {args.seconds:.0f}s per path in {rounds}")
            print(f"  through the gateway : {via:8.0f} req/s ({totals['gateway'][1]} errors)")
            print(f"  container directly  : {raw:8.0f} req/s ({totals['direct'][1]} errors)")
            print(f"  ratio               : {via / raw:.2f} (goal >= 0.9)")
        finally:
            stop(process)
            from controlplane.runners.engine import DockerEngine

            engine = DockerEngine.connect()
            for name, labels in engine.managed_volumes().items():
                if labels.get("io.localzure.data-dir", "").startswith(tmp):
                    engine.remove_volume(name)


if __name__ == "__main__":
    main()
