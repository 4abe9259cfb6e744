"""The API's listening socket: connections it accepts have Nagle's algorithm off (TCP_NODELAY); the serve
command's options reach the API processes."""

from __future__ import annotations

import socket

from api.server import listening_socket


def test_accepted_connections_have_tcp_nodelay() -> None:
    listener = listening_socket("127.0.0.1", 0)
    try:
        assert listener.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only on IPPROTO_TCP sockets
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        try:
            assert accepted.proto == socket.IPPROTO_TCP
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            accepted.close()
            client.close()
    finally:
        listener.close()


def test_serve_starts_the_api_with_or_without_its_access_log() -> None:
    """``shouhu serve --no-access-log`` passes the option on to the API processes (a reverse proxy that logs
    every request makes uvicorn's line per request redundant; it costs about 0.04–0.12 ms of CPU each)."""
    from workflows.infra.settings import Settings
    from workflows.ops.cli import api_command, build_parser

    settings = Settings(database_url="sqlite://", secret_key="k" * 40)
    plain = api_command(build_parser().parse_args(["serve", "--workers", "2"]), settings)
    assert plain[1:3] == ["-m", "api.server"] and "--no-access-log" not in plain
    assert plain[plain.index("--workers") + 1] == "2"
    quiet = api_command(build_parser().parse_args(["serve", "--no-access-log"]), settings)
    assert quiet[-1] == "--no-access-log"
