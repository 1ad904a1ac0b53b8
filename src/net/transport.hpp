// What an HTTP/1 session (net/session.hpp) stands on: one accepted socket and the I/O back-end
// that moves its bytes. The transport owns the descriptor, the operations in flight and
// close/cancel; the session asks it to receive, to wait for input, to write a rendered batch and
// to close, and hears back through a few calls on itself (Session's "from the transport" part).
// One subclass per back-end: RingTransport (io_uring) and EpollTransport (epoll).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/ip.hpp"

namespace boost::system {
class error_code;
}

namespace lithe::http {
class OutputBuffer;
}

namespace lithe::net {

class Session;
class Worker;

class Transport {
 public:
  Transport(Worker& worker, Session& session) : worker_(worker), session_(session) {}
  virtual ~Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Takes over an accepted socket (non-blocking; AF_INET, AF_INET6 or AF_UNIX). False when the
  // back-end refused it; the descriptor is closed then.
  bool open(int fd, int family);
  // Reads input into the session's input_space() once there is some, then session.on_received
  // (from the loop, never inside this call). At most one read-side operation is in flight.
  virtual void receive() = 0;
  // Waits until input (or end of input) is there, without reading: session.on_readable.
  virtual void wait_readable() = 0;
  // Ends the read-side operation early: it completes with operation_aborted.
  virtual void cancel_read() = 0;
  // Sends every piece of out, then session.on_write_done(); a failed send closes the session.
  // out stays the session's and must live until then.
  void write(http::OutputBuffer& out);
  // Closes the socket. Operations in flight complete (aborted); once none is left, and at once
  // when none is, session.release().
  void close();

  bool is_open() const { return open_; }
  bool reading() const { return read_ != ReadOp::none; }
  // ... and it is a receive into the session's buffer (not a readiness wait).
  bool receiving() const { return read_ == ReadOp::receive; }
  bool writing() const { return writing_; }

  // Non-blocking calls on the socket itself, for the session's close policy.
  enum class Peek : uint8_t { input, empty, end, failed };
  Peek peek() const;  // whether input waits, without taking it
  // Whether the socket holds no unread input: known from the last receive, or asked. The
  // client's FIN alone is no input.
  bool input_drained() const;
  struct Drop {
    std::size_t bytes;  // read and dropped
    bool ended;         // end of input or an error: nothing more will come
  };
  // Reads what is there now into scratch and drops it, stopping past limit bytes.
  Drop drop_input(std::span<char> scratch, std::size_t limit);
  bool shutdown_send();  // the send side only (lingering close)
  struct Peer {
    base::IpAddress address{};
    bool unix_socket = false;
  };
  Peer peer() const;

 protected:
  enum class ReadOp : uint8_t { none, wait, receive };

  // Back-end parts of open(), write() and close.
  virtual bool attach(int family) = 0;
  // Sends out_->message() (flags as for sendmsg): bytes sent, -1 with errno, or `queued` when
  // the back-end sends it later and reports with sent().
  static constexpr ssize_t queued = -2;
  virtual ssize_t send_memory(int run, int flags) = 0;
  virtual void wait_writable() = 0;  // completes with writable()
  virtual void detach() = 0;         // cancels what is in flight and closes fd_

  // Sends what is left of out_ (memory runs by send_memory, files by sendfile), or waits for
  // room.
  void write_pending();
  // n bytes left: counts them and, when the batch is out, tells the session (returns true).
  bool sent(std::size_t n);

  // Completions, for the back-ends: each updates the state, then reaches the session only while
  // the transport is open.
  void received(const boost::system::error_code& ec, std::size_t n);
  void readable(const boost::system::error_code& ec);
  void writable(const boost::system::error_code& ec);
  // One operation fewer in flight; false when closed (the session may be released by then).
  bool finish_op();

  // Bytes one connection writes in one go before the loop's other work gets a turn: a fast
  // reader of a large file would otherwise hold the loop for the whole file.
  static constexpr std::size_t write_slice = 512 * 1024;

  Worker& worker_;
  Session& session_;
  http::OutputBuffer* out_ = nullptr;  // the batch being written
  int fd_ = -1;
  uint8_t ops_ = 0;             // operations in flight (a read side's and a write side's)
  ReadOp read_ = ReadOp::none;  // the read side's operation
  bool open_ : 1 = false;
  bool writing_ : 1 = false;        // a send, a writability wait or a yield is in flight
  bool tcp_ : 1 = false;            // TCP (not a unix socket)
  bool input_drained_ : 1 = false;  // the last receive left nothing in the socket
  bool wrote_ : 1 = false;          // something was written: input is now awaited, not expected
};

}  // namespace lithe::net
