#!/usr/bin/env python3
"""Server-sent events at scale, against examples/stream.cpp's live feed (/feed, /publish).

Measures, each in a fresh process of the example (one worker, pinned apart from this client):
  - the resident memory of N idle keep-alive connections (each answered one GET) and of N open
    event streams, per connection, and the difference: what an open stream costs beyond an
    idle connection;
  - the time from a POST /publish until all N streams have received the event (this client
    sees every socket), and the server CPU that fan-out took, over several events.

Usage: bench/load/sse.py [--example build-test/lithe_example_stream] [--streams 10000]
                         [--events 5] [--io io_uring|epoll]
"""
import argparse
import os
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CONFIG = """
[server]
listen = ["127.0.0.1:0"]
workers = 1
backlog = 4096
max_connections = 30000

[timeouts]
keepalive = "600s"

[log]
access = "off"

[[route]]
path = "/hello"
handler = "static"
body = "Hello, World!"

[[route]]
path = "/feed"
handler = "feed"

[[route]]
path = "/publish"
methods = ["POST"]
handler = "publish"
"""


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) * 1024


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Example:
    def __init__(self, binary, io, workdir):
        path = os.path.join(workdir, "sse.toml")
        with open(path, "w") as f:
            f.write(CONFIG)
        env = dict(os.environ)
        if io:
            env["LITHE_IO"] = io
        pin = ["taskset", "-c", "1"] if os.cpu_count() >= 2 else []
        # Its log goes to a file: a pipe nobody reads would block the server once full.
        self.log = os.path.join(workdir, "example.log")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(pin + [binary, path], stderr=log, env=env)
        for _ in range(100):
            with open(self.log) as log:
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        else:
            m = None
        if not m:
            raise SystemExit("the example did not start: " + open(self.log).read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def open_all(port, n, request, until):
    """n connections, each sends request and reads until `until` arrived; returns the sockets."""
    socks = []
    sel = selectors.DefaultSelector()
    for start in range(0, n, 500):
        batch = []
        for _ in range(min(500, n - start)):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(request)
            s.setblocking(False)
            batch.append(s)
            sel.register(s, selectors.EVENT_READ, [b""])
        waiting = len(batch)
        while waiting:
            ready = sel.select(timeout=10)
            if not ready:
                raise SystemExit(f"{waiting} of {len(batch)} connections unanswered after "
                                 f"{len(socks)} opened")
            for key, _ in ready:
                data = key.fileobj.recv(65536)
                if not data:
                    raise SystemExit("a connection closed while opening")
                key.data[0] += data
                if until in key.data[0]:
                    sel.unregister(key.fileobj)
                    waiting -= 1
        socks += batch
    return socks


def post(port, body):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /publish HTTP/1.1\r\nHost: b\r\nConnection: close\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    reply = b""
    while chunk := s.recv(4096):
        reply += chunk
    s.close()
    if not reply.startswith(b"HTTP/1.1 202"):
        raise SystemExit(f"publish answered {reply[:40]!r}")


def fan_out(port, pid, socks, body):
    """Seconds until every stream has the event, and the server CPU seconds it took."""
    sel = selectors.DefaultSelector()
    want = b"data: " + body + b"\n\n"
    for s in socks:
        sel.register(s, selectors.EVENT_READ, [b""])
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    post(port, body)
    waiting = len(socks)
    while waiting:
        events = sel.select(timeout=10)
        if not events:
            raise SystemExit(f"{waiting} streams did not get the event")
        for key, _ in events:
            data = key.fileobj.recv(65536)
            if not data:
                raise SystemExit(f"a stream closed before event {body!r}: {bytes(key.data[0][-200:])!r}")
            key.data[0] += data
            if want in key.data[0]:
                sel.unregister(key.fileobj)
                waiting -= 1
    took = time.perf_counter() - t0
    time.sleep(0.2)  # the server's last writes are counted
    return took, cpu_seconds(pid) - cpu0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--example", default="build-test/lithe_example_stream")
    p.add_argument("--streams", type=int, default=10000)
    p.add_argument("--events", type=int, default=5)
    p.add_argument("--io", default=os.environ.get("LITHE_IO"))
    a = p.parse_args()
    if os.cpu_count() >= 2:
        os.sched_setaffinity(0, {0})
    n = a.streams
    with tempfile.TemporaryDirectory() as work:
        ex = Example(a.example, a.io, work)
        print("started", ex.port, file=sys.stderr, flush=True)
        time.sleep(0.5)
        base = rss(ex.proc.pid)
        idle = open_all(ex.port, n, b"GET /hello HTTP/1.1\r\nHost: b\r\n\r\n", b"Hello, World!")
        time.sleep(1.5)  # past the pools' quiet-second trim
        idle_bytes = (rss(ex.proc.pid) - base) / n
        for s in idle:
            s.close()
        ex.stop()

        ex = Example(a.example, a.io, work)
        print("started", ex.port, file=sys.stderr, flush=True)
        time.sleep(0.5)
        base = rss(ex.proc.pid)
        streams = open_all(ex.port, n, b"GET /feed HTTP/1.1\r\nHost: b\r\n\r\n", b"\r\n\r\n")
        time.sleep(1.5)
        stream_bytes = (rss(ex.proc.pid) - base) / n
        try:
            runs = [fan_out(ex.port, ex.proc.pid, streams, b"event %d" % i)
                    for i in range(a.events)]
        except SystemExit:
            print(open(ex.log).read()[-3000:], file=sys.stderr)
            raise
        for s in streams:
            s.close()
        ex.stop()

    print(f"io={a.io or 'default'} streams={n}")
    print(f"idle keep-alive connection: {idle_bytes:8.0f} B resident each")
    print(f"open event stream:          {stream_bytes:8.0f} B resident each "
          f"({stream_bytes - idle_bytes:+.0f} B beyond an idle connection)")
    for i, (took, cpu) in enumerate(runs):
        print(f"event {i}: all {n} streams in {took * 1000:7.1f} ms, server CPU {cpu * 1000:6.1f} ms"
              f" ({cpu / n * 1e6:.2f} µs per stream)")
    took = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    print(f"median: {took * 1000:.1f} ms to all, server CPU {cpu * 1000:.1f} ms "
          f"({cpu / n * 1e6:.2f} µs per stream)")


if __name__ == "__main__":
    sys.exit(main())
