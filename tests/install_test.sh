#!/usr/bin/env bash
# install_layout: `cmake --install` puts the binary, the config, the systemd unit and the
# logrotate snippet in place, the unit is valid and names the installed files, the installed
# binary runs, and it reports readiness over $NOTIFY_SOCKET (sd_notify).
#
# usage: install_test.sh BUILD_DIR
# LITHE_TEST_NOTIFY=0 skips the sd_notify check (on by default).
#
# The install goes to DESTDIR under a temporary directory, never to the real prefix: even a
# build configured with an absolute CMAKE_INSTALL_SYSCONFDIR=/etc writes nothing outside it.
set -euo pipefail

# shellcheck source=install_common.sh
source "$(dirname "$0")/install_common.sh"
dest=$tmp/root
prefix=$(cache CMAKE_INSTALL_PREFIX)
full() {  # an install() destination as an absolute path, the way install() resolves it
  case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac
}
bindir=$(full "$(cache CMAKE_INSTALL_BINDIR)")
sysconfdir=$(full "$(cache CMAKE_INSTALL_SYSCONFDIR)")
unitdir=$(full "$(cache LITHE_SYSTEMD_UNIT_DIR)")

echo "== cmake --install $build (DESTDIR=$dest, prefix $prefix)"
DESTDIR=$dest cmake --install "$build" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log" >&2
  echo "FAIL: cmake --install" >&2
  exit 1
}

bin=$bindir/lithe
conf=$sysconfdir/lithe/lithe.toml
unit=$unitdir/lithe.service
socket_unit=$unitdir/lithe.socket
logrotate_conf=$sysconfdir/logrotate.d/lithe

# --- every file in place ---
[[ -x $dest$bin ]] && pass "binary $bin" || fail "no executable $bin"
[[ -f $dest$conf ]] && pass "config $conf" || fail "no $conf"
[[ -f $dest$unit ]] && pass "unit $unit" || fail "no $unit"
[[ -f $dest$socket_unit ]] && pass "socket unit $socket_unit" || fail "no $socket_unit"
[[ -f $dest$logrotate_conf ]] && pass "logrotate $logrotate_conf" || fail "no $logrotate_conf"
if ((failures)); then
  echo "installed files:" >&2
  (cd "$dest" && find . -type f) >&2
  exit 1
fi
cmp -s "$dest$conf" "$(dirname "$0")/../configs/default.toml" \
  && pass "lithe.toml is configs/default.toml" || fail "lithe.toml differs from configs/default.toml"

# --- the unit ---
u=$dest$unit
expect_line() {  # expect_line REGEX WHAT
  if grep -Eq "$1" "$u"; then pass "unit: $2"; else fail "unit: $2 (no line matching $1)"; fi
}
expect_line '^Type=notify$' "Type=notify"
expect_line '^ExecReload=.*kill -HUP \$MAINPID$' "reload via SIGHUP"
expect_line '^KillSignal=SIGTERM$' "stop via SIGTERM"
expect_line '^TimeoutStopSec=' "TimeoutStopSec"
expect_line '^User=lithe$' "runs as user lithe"
expect_line '^(DynamicUser|NoNewPrivileges)=yes$' "unprivileged"
expect_line '^Restart=on-failure$' "Restart=on-failure"
if grep -v '^#' "$u" | grep -q '@[A-Z_]*@'; then fail "unit has an unexpanded @VAR@"; fi
expect_line "^ExecStart=$bin -c $conf\$" "ExecStart names the installed binary and config"

# systemd-analyze verify checks that ExecStart/ExecReload binaries exist, so it reads a copy
# whose installed paths are moved under DESTDIR.
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$tmp/verify"
  sed -e "s#$bin#$dest$bin#g" -e "s#$conf#$dest$conf#g" "$u" >"$tmp/verify/lithe.service"
  cp "$dest$socket_unit" "$tmp/verify/lithe.socket"
  # An unknown or misspelt setting is only a warning ("ignoring") to systemd: fail on any
  # message about these units too.
  if SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$tmp/verify/lithe.service" \
      "$tmp/verify/lithe.socket" >"$tmp/verify.log" 2>&1 &&
      ! grep -q 'lithe\.s' "$tmp/verify.log"; then
    pass "systemd-analyze verify"
  else
    cat "$tmp/verify.log" >&2
    fail "systemd-analyze verify"
  fi
else
  echo "skip: systemd-analyze not installed"
fi

# --- the logrotate snippet ---
l=$dest$logrotate_conf
grep -q '^/var/log/lithe/\*\.log {' "$l" && pass "logrotate: /var/log/lithe/*.log" \
  || fail "logrotate: no /var/log/lithe/*.log block"
for word in daily 'rotate 14' compress delaycompress missingok notifempty postrotate; do
  grep -Eq "^[[:space:]]*$word\$" "$l" || fail "logrotate: no '$word'"
done
grep -q 'USR1' "$l" && pass "logrotate: postrotate sends SIGUSR1" || fail "logrotate: no SIGUSR1"
if command -v logrotate >/dev/null; then
  if logrotate -d -s "$tmp/logrotate.state" "$l" >"$tmp/logrotate.log" 2>&1 \
      && ! grep -qi 'error' "$tmp/logrotate.log"; then
    pass "logrotate -d"
  else
    cat "$tmp/logrotate.log" >&2
    fail "logrotate -d"
  fi
else
  echo "skip: logrotate not installed"
fi

# --- the installed binary runs ---
if out=$("$dest$bin" --version 2>&1) && [[ $out == lithe\ * ]]; then
  pass "lithe --version"
else
  fail "lithe --version: $out"
fi
if out=$("$dest$bin" -t -c "$dest$conf" 2>&1); then
  pass "lithe -t -c lithe.toml"
else
  fail "lithe -t -c lithe.toml: $out"
fi

# --- sd_notify: READY=1 once listening, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on
# SIGTERM, then exit 0; SIGUSR1 (logrotate) leaves it running ---
# Both socket kinds systemd uses: a filesystem path and an abstract ('@') name.
if [[ ${LITHE_TEST_NOTIFY:-1} != 0 ]]; then
  if python3 - "$dest$bin" "$dest$conf" "$tmp" <<'EOF'; then
import os, signal, socket, subprocess, sys, time

binary, conf, tmp = sys.argv[1:4]

def check(notify_socket, bind_name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(bind_name)
    log = open(os.path.join(tmp, "notify-daemon.log"), "w+")
    p = subprocess.Popen([binary, "-c", conf, "-l", "127.0.0.1:0"], stdout=log, stderr=log,
                         env=dict(os.environ, NOTIFY_SOCKET=notify_socket))
    seen = []

    def wait_for(field, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = s.recv(4096).decode()
            except socket.timeout:
                break
            seen.append(msg)
            if field in msg.split("\n"):
                return True
        return False

    try:
        if not wait_for("READY=1", 10):
            raise SystemExit(f"no READY=1 on {notify_socket} within 10s (got {seen})")
        # systemctl reload: RELOADING=1 with the MONOTONIC_USEC that systemd >= 253 expects,
        # then READY=1 again.
        p.send_signal(signal.SIGHUP)
        if not wait_for("RELOADING=1", 10) or "MONOTONIC_USEC=" not in seen[-1]:
            raise SystemExit(f"no RELOADING=1 with MONOTONIC_USEC after SIGHUP (got {seen})")
        if not wait_for("READY=1", 10):
            raise SystemExit(f"no READY=1 after the reload (got {seen})")
        # logrotate's postrotate: SIGUSR1 reopens the logs and must not end the daemon.
        p.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        if p.poll() is not None:
            raise SystemExit(f"SIGUSR1 ended the daemon (exit status {p.returncode})")
        p.send_signal(signal.SIGTERM)
        if not wait_for("STOPPING=1", 10):
            raise SystemExit(f"no STOPPING=1 after SIGTERM (got {seen})")
        rc = p.wait(timeout=15)
        if rc != 0:
            raise SystemExit(f"exit status {rc} after SIGTERM")
        print(f"ok: sd_notify on {notify_socket}: {seen}")
    except BaseException:
        log.seek(0)
        sys.stderr.write(log.read())
        raise
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        s.close()

path = os.path.join(tmp, "notify.sock")
check(path, path)
name = f"lithe-install-test-{os.getpid()}"
check("@" + name, "\0" + name)
EOF
    :
  else
    fail "sd_notify"
  fi
else
  echo "skip: sd_notify check (LITHE_TEST_NOTIFY=0)"
fi

if ((failures)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all install checks passed"
