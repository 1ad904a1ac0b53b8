#!/usr/bin/env python3
"""lithe's stress tier: hostile and unlucky clients against the real daemon, one scenario at a time.

Each scenario starts a fresh daemon on 127.0.0.1, attacks it for a bounded time, then checks that
it is alive and whole:
- a well-formed request is answered correctly (and, where the scenario sends them, every one);
- every connection it held is closed again: its open descriptors are back to the count they had
  before the attack, and /metrics shows only the scraping connection;
- SIGTERM ends it with exit status 0. Under AddressSanitizer a memory error or a leak makes that
  status non-zero (ASAN_OPTIONS=abort_on_error=1), so the same run checks those too.

No latency or throughput is asserted here: bench/load/slow_clients.sh measures those.

Usage: stress.py --lithe BIN [--io io_uring|epoll] [--only NAME,...] [--seconds N]
"""
import argparse
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SCENARIOS = []


def scenario(fn=None, **daemon_options):
    """Registers an attack; daemon_options (max_connections) configure its daemon."""
    def register(f):
        f.daemon_options = daemon_options
        SCENARIOS.append(f)
        return f
    return register(fn) if fn else register


class Failure(Exception):
    pass


def wait_for(condition, timeout, what):
    """Polls condition (every 20 ms) until it holds; raises Failure naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


BIG = b"lithe stress body\n" * (1024 * 1024 // 18 + 1)
BIG = BIG[: 1024 * 1024]

CONFIG = """
[server]
listen = ["127.0.0.1:0"]
max_connections = {max_connections}

[limits]
body = "64KiB"

[timeouts]
header = "2s"
body = "2s"
write = "3s"
keepalive = "5s"
shutdown = "5s"

[[route]]
path = "/plaintext"
handler = "static"
body = "Hello, World!"

[[route]]
path = "/v"
handler = "static"
body = "{version}"

[[route]]
path = "/big"
handler = "static"
content_type = "application/octet-stream"
body_file = "big.bin"

[[route]]
path = "/files/*rest"
handler = "files"
root = "www"

[[route]]
path = "/echo"
methods = ["POST", "PUT"]
handler = "echo"

[[route]]
path = "/metrics"
handler = "metrics"
"""


class Daemon:
    """The lithe daemon on an ephemeral port, its stderr in a file."""

    def __init__(self, args, workdir, max_connections=4000, version="A"):
        self.args = args
        self.dir = workdir
        self.config = os.path.join(workdir, "lithe.toml")
        self.write_config(max_connections, version)
        self.log_path = os.path.join(workdir, "lithe.log")
        env = dict(os.environ, LITHE_IO=args.io)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([args.lithe, "-c", self.config], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        m = wait_for(lambda: self.exited() or re.search(
            r"listening on 127\.0\.0\.1:(\d+)", self.text()), 30, "the daemon to listen")
        if self.exited():
            raise Failure(f"lithe exited with {self.proc.returncode} at start:\n{self.text()}")
        self.port = int(m.group(1))
        self.request(b"GET /plaintext HTTP/1.1\r\nHost: s\r\n\r\n")  # warm: pools, timers
        self.baseline_fds = wait_for(lambda: self.fds()[0] == 0 and self.fds()[1], 10,
                                     "the warm-up connection to close")

    def write_config(self, max_connections, version):
        with open(self.config + ".tmp", "w") as f:
            f.write(CONFIG.format(max_connections=max_connections, version=version))
        os.replace(self.config + ".tmp", self.config)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def exited(self):
        return self.proc.poll() is not None

    def fds(self):
        """(connections, other descriptors): sockets in a TCP state other than LISTEN are
        connections; the listener, the ring, timers, log files and bodies are the rest."""
        connected = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if fields[3] != "0A":  # 0A: LISTEN
                        connected.add(fields[9])
        conns = other = 0
        fd_dir = f"/proc/{self.proc.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue  # closed meanwhile
            m = re.fullmatch(r"socket:\[(\d+)\]", target)
            if m and m.group(1) in connected:
                conns += 1
            else:
                other += 1
        return conns, other

    def connect(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.settimeout(timeout)
        return s

    def request(self, raw, timeout=10):
        """Sends raw on a new connection and returns (status, body) of the one response."""
        with self.connect(timeout) as s:
            s.sendall(raw)
            return read_response(s)

    def metric(self, name):
        _, body = self.request(b"GET /metrics HTTP/1.1\r\nHost: s\r\n\r\n")
        m = re.search(rb"^" + name.encode() + rb" (\d+)", body, re.M)
        return int(m.group(1)) if m else None

    def check_whole(self):
        """Alive, answering, and holding nothing of the attack any more."""
        if self.exited():
            raise Failure(f"lithe died (exit status {self.proc.returncode}):\n{tail(self.text())}")
        status, body = self.request(b"GET /plaintext HTTP/1.1\r\nHost: s\r\n\r\n")
        if (status, body) != (200, b"Hello, World!"):
            raise Failure(f"after the attack /plaintext gave {status} {body[:80]!r}")
        wait_for(lambda: self.metric("lithe_connections_open") == 1, 20,
                 "every attacking connection to close (lithe_connections_open back to 1)")
        wait_for(lambda: self.fds() == (0, self.baseline_fds), 20,
                 f"no connection and {self.baseline_fds} other descriptors (now {self.fds()})")

    def stop(self):
        """SIGTERM; the exit status must be 0 (ASan reports make it non-zero)."""
        if not self.exited():
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise Failure("lithe did not exit within 30 s of SIGTERM")
        finally:
            self.log.close()
        if code != 0:
            raise Failure(f"lithe exited with {code} on SIGTERM:\n{tail(self.text())}")

    def kill(self):
        if not self.exited():
            self.proc.kill()
            self.proc.wait()


def tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


class Reader:
    """Reads responses from one connection, keeping what arrived beyond the current one."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self, what):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Failure(f"connection closed before {what}: {self.buf[:80]!r}")
        self.buf += chunk

    def response(self):
        """One Content-Length response: (status, body)."""
        while b"\r\n\r\n" not in self.buf:
            self.fill("a response head")
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        length = int(m.group(1)) if m else 0
        while len(self.buf) < length:
            self.fill("the body's end")
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body


def read_response(s):
    """One response on a connection that carries no other."""
    return Reader(s).response()


def reset(s):
    """Closes with a TCP reset instead of a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def slowhttptest(d, mode_args, path, seconds, workdir):
    """Runs Debian's slowhttptest against the daemon for `seconds` (it ends by itself)."""
    cmd = ["slowhttptest", *mode_args, "-l", str(seconds), "-u",
           f"http://127.0.0.1:{d.port}{path}"]
    with open(os.path.join(workdir, "slowhttptest.log"), "wb") as out:
        subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=seconds + 60, check=False)


# --- scenarios: each gets a fresh daemon and returns after its attack -------------------------

@scenario
def slowloris(d, args, workdir):
    # A header line every second: the 2 s header deadline cuts each connection (408).
    slowhttptest(d, ["-H", "-c", "400", "-r", "200", "-i", "1", "-x", "24"], "/plaintext",
                 args.seconds, workdir)


@scenario
def slow_body(d, args, workdir):
    # A few body bytes every 2 s against a 2 s body timeout: the 408 races the bytes that arrive
    # at the deadline (the crash of issue 14).
    slowhttptest(d, ["-B", "-c", "400", "-r", "200", "-i", "2", "-s", "4096", "-x", "10"],
                 "/echo", args.seconds, workdir)


@scenario
def slow_read_static(d, args, workdir):
    # Readers that advertise a 1-byte window and read a byte a second, of a 1 MiB static body.
    slowhttptest(d, ["-X", "-c", "200", "-r", "100", "-w", "1", "-y", "1", "-n", "1", "-z", "1"],
                 "/big", args.seconds, workdir)


@scenario
def slow_read_file(d, args, workdir):
    slowhttptest(d, ["-X", "-c", "200", "-r", "100", "-w", "1", "-y", "1", "-n", "1", "-z", "1"],
                 "/files/big.bin", args.seconds, workdir)


@scenario
def resets(d, args, workdir):
    """Clients that reset in the middle of a request head, a body, a response or a pipeline."""
    rng = random.Random(14)
    bad = []

    def one(kind):
        try:
            s = d.connect()
            if kind == 0:  # half a head
                s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: s\r\nX-A: ")
            elif kind == 1:  # half a body
                s.sendall(b"POST /echo HTTP/1.1\r\nHost: s\r\nContent-Length: 50000\r\n\r\n" +
                          b"x" * 20000)
            elif kind == 2:  # half a response
                s.sendall(b"GET /big HTTP/1.1\r\nHost: s\r\n\r\n")
                s.recv(rng.choice([1, 1000, 100000]))
            elif kind == 3:  # a pipeline, never read
                s.sendall(b"GET /big HTTP/1.1\r\nHost: s\r\n\r\n" * 8 +
                          b"GET /files/big.bin HTTP/1.1\r\nHost: s\r\n\r\n" * 8)
            else:  # a whole exchange, then a reset with the next request half sent
                s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: s\r\n\r\n")
                if read_response(s) != (200, b"Hello, World!"):
                    bad.append("a well-formed request was answered wrongly")
                s.sendall(b"GET /files/big.bin HTT")
            reset(s)
        except (OSError, Failure) as e:
            bad.append(f"kind {kind}: {e}")

    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        threads = [threading.Thread(target=one, args=(rng.randrange(5),)) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    if bad:
        raise Failure(f"{len(bad)} client errors, first: {bad[0]}")


@scenario(max_connections=32)
def flood(d, args, workdir):
    """Far more connections at once than max_connections (32): every one is answered."""
    results = []

    def one():
        try:
            with d.connect(timeout=30) as s:
                s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n")
                results.append(read_response(s))
        except (OSError, Failure) as e:
            results.append(("error", str(e)))

    end = time.monotonic() + args.seconds
    rounds = 0
    while time.monotonic() < end and rounds < 3:
        threads = [threading.Thread(target=one) for _ in range(400)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        rounds += 1
    wrong = [r for r in results if r != (200, b"Hello, World!")]
    if wrong or len(results) != 400 * rounds:
        raise Failure(f"{len(wrong)} of {len(results)} flooding requests went wrong: {wrong[:3]}")


@scenario
def reload_under_load(d, args, workdir):
    """SIGHUP ten times while keep-alive clients send requests: each answered by one config."""
    stop = threading.Event()
    bad, answered = [], [0]

    def client():
        try:
            s = d.connect()
            reader = Reader(s)
            while not stop.is_set():
                s.sendall(b"GET /v HTTP/1.1\r\nHost: s\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: s\r\n\r\n")
                for want in ((b"A", b"B"), (b"Hello, World!",)):
                    status, body = reader.response()
                    if status != 200 or body not in want:
                        bad.append((status, body[:40]))
                answered[0] += 2
            s.close()
        except (OSError, Failure) as e:
            bad.append(str(e))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + args.seconds + 30
    for i in range(10):
        d.write_config(4000, "B" if i % 2 == 0 else "A")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: d.text().count("reloaded") >= i + 1 or time.monotonic() > deadline,
                 30, f"reload {i + 1}")
    stop.set()
    for t in threads:
        t.join(30)
    if bad or answered[0] == 0:
        raise Failure(f"{len(bad)} wrong answers of {answered[0]}: {bad[:3]}")
    if "reload refused" in d.text():
        raise Failure("a reload was refused:\n" + tail(d.text()))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lithe", required=True, help="the daemon to attack")
    p.add_argument("--io", default="io_uring", choices=["io_uring", "epoll", "auto"])
    p.add_argument("--only", default="", help="comma list of scenarios (default: all)")
    p.add_argument("--seconds", type=int, default=8, help="length of each attack")
    args = p.parse_args()
    if not shutil.which("slowhttptest"):
        sys.exit("stress.py: needs slowhttptest (scripts/setup.sh installs it)")
    chosen = [s for s in SCENARIOS if not args.only or s.__name__ in args.only.split(",")]
    passed, failed = 0, 0
    for sc in chosen:
        workdir = tempfile.mkdtemp(prefix=f"lithe-stress-{sc.__name__}-")
        os.makedirs(os.path.join(workdir, "www"))
        for path in ("big.bin", "www/big.bin"):
            with open(os.path.join(workdir, path), "wb") as f:
                f.write(BIG)
        start = time.monotonic()
        d = None
        try:
            d = Daemon(args, workdir, **sc.daemon_options)
            sc(d, args, workdir)
            d.check_whole()
            d.stop()
            passed += 1
            print(f"PASS {sc.__name__} (io={args.io}, {time.monotonic() - start:.1f} s)",
                  flush=True)
        except Exception as e:  # a failure of the scenario, reported with the daemon's log
            failed += 1
            print(f"FAIL {sc.__name__} (io={args.io}): {e}", flush=True)
            if d is not None:
                print(tail(d.text()), flush=True)
        finally:
            if d is not None:
                d.kill()
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
