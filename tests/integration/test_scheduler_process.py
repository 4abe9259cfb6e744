"""``python -m tasks.serve``: starts its own Prefect server, registers the schedules, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.integration.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_embedded_scheduler_starts_serves_and_stops(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        {
            "SHOUHU_DEMO": "true",
            "SHOUHU_DATA_DIR": str(tmp_path),
            "SHOUHU_PREFECT_PORT": str(port),
            "SHOUHU_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tasks.serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 150
        names: set[str] = set()
        while len(names) < 7:
            assert proc.poll() is None and time.monotonic() < deadline, (
                proc.stdout.read() if proc.stdout else ""
            )
            time.sleep(1)
            try:
                response = httpx.post(f"{api}/deployments/filter", json={}, timeout=5)
                names = {d["name"] for d in response.json()} if response.status_code == 200 else set()
            except httpx.HTTPError:
                pass
        assert {"timer-sweep", "annual-report-province", "record-checkpoint"} <= names
        assert (tmp_path / "prefect").is_dir()  # PREFECT_HOME under the data dir, not in the repository
        # scale-out: the same flows deployed to a work pool on this (already running) server
        deploy = subprocess.run(
            [sys.executable, "-m", "tasks.serve", "--deploy", "--pool", "testpool"],
            cwd=REPO,
            env={**env, "PREFECT_API_URL": api},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert deploy.returncode == 0, deploy.stderr
        response = httpx.post(f"{api}/deployments/filter", json={}, timeout=5).json()
        assert {d["work_pool_name"] for d in response} == {"testpool"} and len(response) == 7
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and "调度已停止" in out
    try:
        httpx.get(f"{api}/health", timeout=2)
        raise AssertionError("the embedded Prefect server is still answering")
    except httpx.HTTPError:
        pass
