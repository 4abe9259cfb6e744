"""Run the scheduled flows: ``python -m tasks.serve`` (started by ``shouhu serve``).

- Embedded default (no ``PREFECT_API_URL``): start a local ``prefect server start`` as a child process
  (its home and database under ``<data_dir>/prefect``, loopback only, analytics off), wait for its health
  endpoint, serve the flows on their schedules in this process, stop the server on SIGTERM/SIGINT.
- ``PREFECT_API_URL`` set (scale-out): no server is started; the flows are served against that server.
- ``--deploy``: register the flows as deployments of a work pool (``--pool``, default ``shouhu``) and exit;
  ``prefect worker start --pool shouhu`` on each worker machine then runs them (docs/operations.md).

Prefect is imported only after the environment is set, so its settings point at the right server.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx

from workflows.infra.settings import REPO_ROOT, Settings


class EmbeddedServer:
    """A ``prefect server start`` child process on 127.0.0.1 with its own PREFECT_HOME."""

    def __init__(self, *, home: Path, port: int) -> None:
        self.home, self.port = home, port
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def env(self) -> dict[str, str]:
        return {
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(self.port),
        }

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, *, timeout: float = 120) -> None:
        """Start the server (unless one already answers on the port) and wait until it is healthy."""
        if self.healthy():
            print(f"调度服务器已在 {self.api_url} 运行，直接使用。", flush=True)
            return
        self.home.mkdir(parents=True, exist_ok=True)
        self._log = open(self.home / "server.log", "ab")  # noqa: SIM115 - open for the child's lifetime
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env={**os.environ, **self.env()},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"调度服务器未能启动，请查看日志 {self.home / 'server.log'}")
            time.sleep(0.5)

    def stop(self, *, timeout: float = 20) -> None:
        """Stop the child server (SIGTERM, then SIGKILL after ``timeout``)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve_flows() -> None:
    """Serve every scheduled flow in this process until interrupted."""
    from prefect import serve

    from tasks.flows import deployments

    # Prefect's own SIGTERM handler calls an async stop without awaiting it; the shutdown still completes.
    warnings.filterwarnings("ignore", message="coroutine 'Runner.astop' was never awaited")

    serve(*deployments(), print_starting_message=False)


def deploy_to_pool(pool: str) -> int:
    """Register the flows as deployments of a process work pool, for ``prefect worker start``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.flows import Flow

    from tasks.flows import schedules

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        except ObjectAlreadyExists:
            pass
    for fl, name, sched, params in schedules():
        entrypoint = f"tasks/flows.py:{fl.fn.__name__}"
        remote: Any = Flow.from_source(source=str(REPO_ROOT), entrypoint=entrypoint, _sync=True)
        remote.deploy(
            name=name,
            work_pool_name=pool,
            schedules=sched,
            parameters=params,
            paused=False,
            build=False,
            push=False,
            print_next_steps=False,
            ignore_warnings=True,
            _sync=True,
        )
        print(f"已部署 {fl.name}/{name} 到工作池 {pool}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.serve", description="守护 Shouhu 调度（Prefect）")
    parser.add_argument(
        "--deploy", action="store_true", help="把流程部署到工作池后退出（需已设置 PREFECT_API_URL）"
    )
    parser.add_argument("--pool", help="工作池名称（默认取 SHOUHU_WORK_POOL，即 shouhu）")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValueError as exc:
        sys.exit(f"配置错误：{exc}")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if args.deploy:
        if not os.environ.get("PREFECT_API_URL"):
            sys.exit("部署到工作池需要先设置 PREFECT_API_URL（指向共享的 Prefect 服务器）。")
        return deploy_to_pool(args.pool or settings.work_pool)
    server = None
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        if not os.environ.get("PREFECT_API_URL"):
            server = EmbeddedServer(home=settings.data_dir / "prefect", port=settings.prefect_port)
            server.start()
            os.environ.update(server.env())
        print(f"调度已启动（Prefect：{os.environ['PREFECT_API_URL']}）。", flush=True)
        serve_flows()
    except (KeyboardInterrupt, SystemExit):  # Prefect's runner turns SIGTERM into SystemExit(0)
        pass
    finally:
        if server is not None:
            server.stop()
    print("调度已停止。", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
