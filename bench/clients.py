"""Load clients: each one a village director who lists, claims and completes their tasks over HTTP.

The clients run as threads in a few processes (``processes`` × ``threads``), each with one keep-alive
connection (http.client, no per-request set-up), so the client side costs little CPU next to the server.
Each records every request: what it was, when it started, how long it took and the status code.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from bench.serving import PASSWORD, client_name

STEPS = {"intake": {"score": 60}, "close": {"close_result": "已结案"}}


@dataclass(frozen=True)
class Sample:
    kind: str  # login | list | claim | complete
    started: float  # time.monotonic() at send
    seconds: float
    status: int


class Client:
    def __init__(self, port: int, index: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.index = index
        self.headers: dict[str, str] = {}
        self.samples: list[Sample] = []

    def request(self, kind: str, method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
        all_headers = {**self.headers, **headers}
        started = time.monotonic()
        payload, status = b"", 599
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=all_headers)
                response = self.conn.getresponse()
                payload, status = response.read(), response.status
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()  # the server closed an idle keep-alive connection: connect again once
                if attempt:
                    break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                break
        self.samples.append(Sample(kind, started, time.monotonic() - started, status))
        if status != 200:
            return None
        return json.loads(payload)

    def login(self) -> None:
        form = urllib.parse.urlencode({"username": client_name(self.index), "password": PASSWORD}).encode()
        token = self.request(
            "login", "POST", "/api/auth/token", form, **{"Content-Type": "application/x-www-form-urlencoded"}
        )
        if token is None:
            raise RuntimeError(f"client {self.index} could not sign in")
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}

    def work(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        """Claim and complete one task; the director's tasks it opened come back to be worked next."""
        if self.request("claim", "POST", f"/api/tasks/{task['id']}/claim") is None:
            return []
        body = json.dumps({"data": STEPS[task["bpmn_id"]]}).encode()
        done = self.request(
            "complete",
            "POST",
            f"/api/tasks/{task['id']}/complete",
            body,
            **{"Content-Type": "application/json"},
        )
        if done is None:
            return []
        return [t for t in done["next_tasks"] if t["role"] == "village_director" and t["bpmn_id"] in STEPS]

    def run(self, until: float) -> None:
        while time.monotonic() < until:
            page = self.request("list", "GET", "/api/tasks?limit=50")
            todo = [t for t in (page or {}).get("items", []) if t["bpmn_id"] in STEPS]
            if not todo:
                return
            while todo and time.monotonic() < until:
                todo = self.work(todo.pop(0)) + todo


def _process(port: int, indexes: list[int], ready: Any, seconds: float, out: Any) -> None:
    clients = [Client(port, i) for i in indexes]
    for client in clients:  # signed in before the clock starts: a password check is not an action
        client.login()
    ready.wait()  # every process has signed in
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=c.run, args=(until,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.send([s for c in clients for s in c.samples])
    out.close()


def drive(
    port: int, *, clients: int, processes: int, seconds: float, on_start: Any = None
) -> tuple[list[Sample], float]:
    """Run ``clients`` clients spread over ``processes`` processes for ``seconds``; samples and wall time."""
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(processes + 1)
    pipes, procs = [], []
    for p in range(processes):
        receive, send = context.Pipe(duplex=False)
        indexes = list(range(p, clients, processes))
        proc = context.Process(target=_process, args=(port, indexes, ready, seconds, send))
        proc.start()
        pipes.append(receive)
        procs.append(proc)
    ready.wait()
    start_at = time.monotonic()
    if on_start is not None:
        on_start()
    samples: list[Sample] = []
    for receive in pipes:
        samples.extend(receive.recv())
    for proc in procs:
        proc.join()
    ends = [s.started + s.seconds for s in samples]
    wall = (max(ends) if ends else start_at + seconds) - start_at
    return samples, wall
