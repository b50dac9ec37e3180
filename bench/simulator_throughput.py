"""Signed-request throughput of the HCP simulator.

Starts the real simulator through hcp_simulator.testing.running_simulator (no added latency),
then drives a mix of signed calls (version, personCode/personInfo, privilege/group) from this
one process with httpx: first over one keep-alive connection, one request at a time, then over
several keep-alive connections from threads. Each mode runs a few rounds. Prints human lines,
then one JSON line last:

    {"bench": "simulator_throughput", "median_rps": ..., "rounds": [...], ...}

`median_rps` is the median over all rounds. The client runs on the same 2-core machine and
costs more CPU per request than the simulator (httpx, signing), so the figure is a lower bound;
`server_cpu_us_per_request` (from /proc, Linux) is the simulator's own cost per call.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for the tests' independent request signer

from tests.simulator.artemis import sign  # noqa: E402

from hcp_simulator.testing import SimulatorHandle, running_simulator  # noqa: E402

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("/api/common/v1/version", {}),
    ("/api/resource/v1/person/personCode/personInfo", {"personCode": "BENCH0001"}),
    ("/api/acs/v1/privilege/group", {"pageNo": 1, "pageSize": 10, "type": 1}),
]
BODIES = [(path, json.dumps(body).encode()) for path, body in CALLS]


def signed(sim: SimulatorHandle, index: int) -> tuple[str, bytes, dict[str, str]]:
    path, body = BODIES[index % len(BODIES)]
    request = sign("POST", "/artemis" + path, body, app_key=sim.app_key, app_secret=sim.app_secret)
    return request.path, body, request.headers


def check(response: httpx.Response) -> None:
    if response.status_code != 200 or response.json()["code"] != "0":
        raise SystemExit(f"unexpected answer: {response.status_code} {response.text[:200]}")


def sequential_round(sim: SimulatorHandle, client: httpx.Client, requests: int) -> float:
    start = time.perf_counter()
    for index in range(requests):
        path, body, headers = signed(sim, index)
        check(client.post(path, content=body, headers=headers))
    return requests / (time.perf_counter() - start)


def concurrent_round(sim: SimulatorHandle, clients: list[httpx.Client], requests: int) -> float:
    """`requests` spread over one thread per client (each its own keep-alive connection)."""
    counter = iter(range(requests))
    lock = threading.Lock()

    def worker(client: httpx.Client) -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            path, body, headers = signed(sim, index)
            check(client.post(path, content=body, headers=headers))

    threads = [threading.Thread(target=worker, args=(client,)) for client in clients]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return requests / (time.perf_counter() - start)


def server_cpu_seconds(pid: int) -> float | None:
    """User+system CPU time of a process (Linux), to measure the server's own cost."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(sim: SimulatorHandle) -> None:
    body = json.dumps(
        {
            "personCode": "BENCH0001",
            "personFamilyName": "Bench",
            "personGivenName": "Mark",
            "orgIndexCode": "1",
        }
    ).encode()
    path = "/artemis/api/resource/v1/person/single/add"
    request = sign("POST", path, body, app_key=sim.app_key, app_secret=sim.app_secret)
    with httpx.Client(base_url=sim.base_url) as client:
        check(client.post(path, content=body, headers=request.headers))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()

    with running_simulator(seed_demo=True) as sim:
        seed(sim)
        sequential: list[float] = []
        concurrent: list[float] = []
        clients = [httpx.Client(base_url=sim.base_url, timeout=30) for _ in range(args.connections)]
        try:
            sequential_round(sim, clients[0], 300)  # warm-up
            cpu_before = server_cpu_seconds(sim.process.pid)
            for number in range(1, args.rounds + 1):
                rps = sequential_round(sim, clients[0], args.requests)
                sequential.append(rps)
                print(f"round {number}: 1 connection, sequential: {rps:7.0f} signed requests/s")
            for number in range(1, args.rounds + 1):
                rps = concurrent_round(sim, clients, args.requests)
                concurrent.append(rps)
                print(
                    f"round {number}: {args.connections} connections (threads): "
                    f"{rps:7.0f} signed requests/s"
                )
            cpu_after = server_cpu_seconds(sim.process.pid)
        finally:
            for client in clients:
                client.close()
    every_round = sequential + concurrent
    median = statistics.median(every_round)
    total_requests = args.requests * len(every_round)
    cpu_us = None
    if cpu_before is not None and cpu_after is not None:
        cpu_us = (cpu_after - cpu_before) / total_requests * 1e6
    print(f"median over all rounds: {median:.0f} signed requests/s (target >= 500)")
    if cpu_us:
        print(
            f"simulator CPU: {cpu_us:.0f} us per signed request "
            f"(about {1e6 / cpu_us:.0f} requests/s per core)"
        )
    rounds = [
        *({"mode": "sequential", "connections": 1, "rps": round(r, 1)} for r in sequential),
        *(
            {"mode": "threads", "connections": args.connections, "rps": round(r, 1)}
            for r in concurrent
        ),
    ]
    print(
        json.dumps(
            {
                "bench": "simulator_throughput",
                "median_rps": round(median, 1),
                "sequential_median_rps": round(statistics.median(sequential), 1),
                "concurrent_median_rps": round(statistics.median(concurrent), 1),
                "server_cpu_us_per_request": round(cpu_us, 1) if cpu_us else None,
                "requests_per_round": args.requests,
                "rounds": rounds,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
