#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, sends one GET on each, reads each response,
then holds every connection open and idle until stdin closes, SIGTERM/SIGINT, or --hold seconds.

Used by bench/load/compare.sh to measure a server's memory per idle keep-alive connection:
the caller reads the server's VmRSS before, waits for the line "ready N" on stdout, reads VmRSS
again, then closes this helper's stdin (or sends SIGTERM).

Connections are opened in batches (default 500): a batch is connected, each socket sends its
request, and the batch's responses are read before the next batch starts, so the server's accept
backlog never overflows and every connection has been accepted and answered once.

Usage: idle_conns.py HOST PORT N [--path /plaintext] [--batch 500] [--hold 120] [--timeout 60]
Loopback only: HOST must be 127.0.0.1 or ::1 (or localhost).
"""
import argparse
import errno
import os
import resource
import selectors
import signal
import socket
import sys
import time


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < need:
        sys.exit(f"idle_conns: RLIMIT_NOFILE hard limit {hard} < {need}; raise `ulimit -Hn`")


def response_complete(buf):
    """True once buf holds one whole response with a Content-Length body."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    length = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return len(buf) >= end + 4 + length


def open_batch(family, addr, count, request, deadline):
    """Connects count sockets, sends request on each, waits for each response. Returns sockets."""
    socks = []
    sel = selectors.DefaultSelector()
    for _ in range(count):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            s.close()
            raise OSError(err, f"connect: {os.strerror(err)}")
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE, [b"", False])  # [received, sent]
    pending = len(socks)
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{pending} connections of a batch did not complete in time")
        for key, mask in sel.select(timeout=min(left, 1.0)):
            s, state = key.fileobj, key.data
            if not state[1]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, f"connect: {os.strerror(err)}")
                s.send(request)  # tiny: fits the empty send buffer
                state[1] = True
                sel.modify(s, selectors.EVENT_READ, state)
                continue
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("server closed a connection before answering")
            state[0] += chunk
            if response_complete(state[0]):
                if not state[0].startswith(b"HTTP/1.1 200"):
                    raise ConnectionError("unexpected response: " + state[0][:40].decode(errors="replace"))
                sel.unregister(s)
                pending -= 1
    sel.close()
    return socks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--path", default="/plaintext")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--hold", type=float, default=120.0, help="seconds to hold at most")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to open all connections")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("idle_conns: loopback only")
    host = "127.0.0.1" if a.host == "localhost" else a.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    raise_nofile(a.n + 64)

    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    request = f"GET {a.path} HTTP/1.1\r\nHost: {host}:{a.port}\r\n\r\n".encode()
    deadline = time.monotonic() + a.timeout
    socks = []
    try:
        while len(socks) < a.n and not stop:
            socks += open_batch(family, (host, a.port), min(a.batch, a.n - len(socks)), request, deadline)
    except (OSError, TimeoutError, ConnectionError) as e:
        print(f"error after {len(socks)} connections: {e}", flush=True)
        for s in socks:
            s.close()
        return 1

    print(f"ready {len(socks)}", flush=True)
    # Idle: wait for stdin EOF, a signal or the hold limit. Also notice connections the server
    # closes while idle (they would make the memory figure meaningless): report them on exit.
    sel = selectors.DefaultSelector()
    try:
        sel.register(sys.stdin, selectors.EVENT_READ, None)
    except (ValueError, PermissionError):
        pass  # stdin not selectable (e.g. a file): rely on signal or hold
    for s in socks:
        sel.register(s, selectors.EVENT_READ, s)
    closed = 0
    end = time.monotonic() + a.hold
    while not stop and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.5):
            if key.data is None:
                if not sys.stdin.buffer.read1(4096):
                    stop = True
                continue
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed += 1
                sel.unregister(key.fileobj)
    sel.close()
    for s in socks:
        s.close()
    print(f"closed-by-server {closed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
