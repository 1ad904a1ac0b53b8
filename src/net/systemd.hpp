// systemd service notifications (sd_notify(3)): readiness, reload and stop progress for a
// Type=notify unit. Every call is a no-op when $NOTIFY_SOCKET is unset, so the daemon and
// embedders behave the same under systemd, under another supervisor or in a terminal.
#pragma once

#include <string_view>

namespace lithe::net {

// Sends one notification datagram (newline-separated VAR=value lines). Returns false when
// $NOTIFY_SOCKET is unset or unusable, or the send failed; callers may ignore it.
bool notify(std::string_view state);

// "READY=1": every listener is bound and requests are being served (also ends a reload).
void notify_ready();
// "RELOADING=1" plus "MONOTONIC_USEC=<now>": systemd >= 253 needs the timestamp for
// Type=notify-reload, older versions ignore it. Follow with notify_ready() once reloaded.
void notify_reloading();
// "STOPPING=1": a graceful stop has begun.
void notify_stopping();
// "STATUS=<text>": one line shown by `systemctl status` (newlines become spaces).
void notify_status(std::string_view text);

}  // namespace lithe::net
