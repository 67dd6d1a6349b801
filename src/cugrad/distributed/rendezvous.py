"""A small TCP rendezvous: rank 0 hands an opaque blob (NCCL's unique id) to every other rank.

For jobs started without an MPI launcher (``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``).
Rank 0 listens on MASTER_ADDR:MASTER_PORT; the others connect (retrying until ``timeout``) and
read a length-prefixed blob. Nothing is unpickled: only bytes travel.
"""
from __future__ import annotations

import socket
import struct
import time

_HEADER = struct.Struct("!Q")


def exchange(blob, rank: int, world_size: int, addr: str, port: int, timeout: float = 300.0) -> bytes:
    """``blob`` (bytes) from rank 0, returned on every rank; rank 0 passes it, the others None."""
    if rank == 0:
        _serve(bytes(blob), world_size - 1, addr, port, timeout)
        return bytes(blob)
    return _fetch(addr, port, timeout, rank)


def _serve(blob, clients, addr, port, timeout):
    with socket.create_server((addr, port), reuse_port=False, backlog=max(clients, 1)) as server:
        server.settimeout(timeout)
        served = 0
        while served < clients:
            try:
                conn, _ = server.accept()
            except socket.timeout:
                raise TimeoutError(f"cugrad.distributed: rendezvous on {addr}:{port}: {served} of {clients} "
                                   f"ranks connected within {timeout:.0f} s") from None
            with conn:
                conn.sendall(_HEADER.pack(len(blob)) + blob)
            served += 1


def _fetch(addr, port, timeout, rank):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((addr, port), timeout=max(deadline - time.monotonic(), 0.1)) as conn:
                conn.settimeout(max(deadline - time.monotonic(), 0.1))
                (size,) = _HEADER.unpack(_read(conn, _HEADER.size))
                return _read(conn, size)
        except (ConnectionRefusedError, ConnectionResetError, socket.timeout, OSError) as exc:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"cugrad.distributed: rank {rank} found no rendezvous at {addr}:{port} "
                                   f"within {timeout:.0f} s ({exc})") from None
            time.sleep(0.05)


def _read(conn, size) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = conn.recv(size - got)
        if not chunk:
            raise ConnectionError("cugrad.distributed: the rendezvous closed early")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
