#!/usr/bin/env python3
"""A probe for the slow-client benchmarks: opens a fresh connection for each GET, at a fixed rate,
for a fixed time, and prints its latency percentiles.

Usage: probe.py HOST PORT PATH RATE SECONDS
Prints one line: "probe n=N errors=E p50=MS p99=MS worst_p99=MS max=MS", where worst_p99 is the
p99 of the worst whole second (an attack's first seconds can hide in a long run's p99).
"""
import socket
import sys
import time


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rate, seconds = float(sys.argv[4]), float(sys.argv[5])
    request = f"GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n".encode()
    latencies, per_second, errors = [], {}, 0
    start = time.monotonic()
    n = 0
    while True:
        due = start + n / rate
        now = time.monotonic()
        if now - start >= seconds:
            break
        if due > now:
            time.sleep(due - now)
        t0 = time.monotonic()
        n += 1
        try:
            with socket.create_connection((host, port), timeout=10) as s:
                s.sendall(request)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                errors += 1
        except OSError:
            errors += 1
        elapsed = time.monotonic() - t0
        latencies.append(elapsed)
        per_second.setdefault(int(t0 - start), []).append(elapsed)

    def p99(values):
        values = sorted(values)
        return values[min(len(values) - 1, int(0.99 * len(values)))] * 1000

    worst = max(p99(v) for v in per_second.values())
    latencies.sort()
    print(f"probe n={len(latencies)} errors={errors} "
          f"p50={latencies[len(latencies) // 2] * 1000:.2f} p99={p99(latencies):.2f} "
          f"worst_p99={worst:.2f} max={latencies[-1] * 1000:.2f}")


if __name__ == "__main__":
    main()
