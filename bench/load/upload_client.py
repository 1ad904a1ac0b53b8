#!/usr/bin/env python3
"""One PUT of SIZE bytes (Content-Length) to http://HOST:PORT/PATH, sent from a 4 MiB buffer.

Prints the status code and the seconds from the first byte sent to the response read, so that
bench/load/upload.sh can turn them into throughput. The client copies nothing per byte: the
same buffer goes to sendall() again and again.
"""
import socket
import sys
import time


def main() -> int:
    host, port, path, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    block = memoryview(bytes(range(256)) * (4 * 1024 * 1024 // 256))
    s = socket.create_connection((host, port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    start = time.perf_counter()
    s.sendall(f"PUT {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {size}\r\n\r\n".encode())
    left = size
    while left:
        n = min(left, len(block))
        s.sendall(block[:n])
        left -= n
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    took = time.perf_counter() - start
    status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/1.1 ") else "none"
    print(status, f"{took:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
