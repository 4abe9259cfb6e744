"""The API's listening socket: connections it accepts have Nagle's algorithm off (TCP_NODELAY)."""

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
