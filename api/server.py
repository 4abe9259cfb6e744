"""Run the API on uvicorn with one or several worker processes: ``python -m api.server --workers N``.

Why not ``uvicorn --workers N``: uvicorn pre-binds that socket as ``socket.socket(AF_INET)`` (protocol 0),
and asyncio only turns Nagle's algorithm off (TCP_NODELAY) on accepted sockets whose protocol is
IPPROTO_TCP; so with several workers every response whose headers and body are written separately
waits for the client's delayed ACK (≈ 40 ms on Linux). Here the listening socket is created as a TCP
socket with TCP_NODELAY set (Linux passes it on to accepted sockets, and asyncio sets it again on each),
then handed to uvicorn's own supervisor, which restarts a worker that dies.
"""

from __future__ import annotations

import argparse
import socket
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket with TCP_NODELAY, inheritable by the worker processes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def config(host: str, port: int, workers: int, *, access_log: bool = True) -> uvicorn.Config:
    """The API's uvicorn settings (uvloop and httptools when installed: they are project dependencies)."""
    return uvicorn.Config(
        "api.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        timeout_graceful_shutdown=10,
    )


def run(host: str, port: int, workers: int, *, access_log: bool = True) -> None:
    """Serve until SIGINT/SIGTERM; several workers share one listening socket."""
    settings = config(host, port, workers, access_log=access_log)
    sock = listening_socket(host, port)
    if workers <= 1:
        uvicorn.Server(settings).run(sockets=[sock])
    else:
        Multiprocess(settings, sockets=[sock]).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.server", description="守护 Shouhu API 服务")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="工作进程数（默认 1）")
    parser.add_argument("--no-access-log", action="store_true", help="不输出每个请求的访问日志行")
    args = parser.parse_args(argv)
    run(args.host, args.port, max(args.workers, 1), access_log=not args.no_access_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
