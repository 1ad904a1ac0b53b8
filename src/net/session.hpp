// The HTTP/1 session of one connection: parse → dispatch → render, pipelining, 100-continue,
// keep-alive and the close policy, over a Transport (net/transport.hpp) that moves the bytes
// and knows nothing of HTTP. The session knows nothing of epoll or io_uring.
//
// The read buffer, exchange and output buffer come from the worker's pools and go back as soon
// as the session is idle, so an idle keep-alive connection holds only this object (and its
// transport, which net/connection.hpp places beside it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "base/ip.hpp"
#include "encoding/stream_compressor.hpp"
#include "http/exchange.hpp"
#include "http/output.hpp"
#include "http/response_writer.hpp"
#include "http/session_port.hpp"
#include "net/deadlines.hpp"

namespace boost::system {
class error_code;
}

namespace lithe {
class BodyReader;
class Responder;
class Stream;
}  // namespace lithe

namespace lithe::detail {
struct BodyState;
struct Pending;
struct StreamState;
}  // namespace lithe::detail

namespace lithe::log {
struct AccessRecord;
}

namespace lithe::net {

class Transport;
class Worker;
struct ReadBuffer;

class Session : public http::SessionPort,  // what a handler's handles reach
                private Deadline {         // its one timeout running
 public:
  explicit Session(Worker& worker);
  virtual ~Session();  // the pooled object is a Connection<T> (net/connection.hpp)
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Takes over an accepted socket (non-blocking; family AF_INET, AF_INET6 or AF_UNIX) and starts
  // reading.
  void start(int fd, int family);
  // Graceful stop: closes the connection when it sits idle between requests with nothing
  // waiting to be read. Returns whether it did.
  bool close_if_idle();
  // A reload swapped the snapshot: a session with a response in flight may reference the old
  // one, and keeps it alive (returns true) until that response is written.
  bool pin_retired();
  // Closes now (reset, timeout, stop); the worker reclaims the object once the transport has
  // no operation in flight.
  void close();
  // A deadline of this session expired.
  void on_timeout(Timeout kind);
  // The session whose deadline expired.
  static Session& of(Deadline& d) { return static_cast<Session&>(d); }

  // The handles' requests (http/session_port.hpp).
  lithe::Responder make_responder() override;
  lithe::Stream make_stream(bool compress) override;
  lithe::BodyReader make_body_reader() override;
  void complete_async() override;
  void complete_async_dropped() override;
  void hold_request(const std::shared_ptr<detail::Pending>& holder) override;
  bool stream_write(std::string_view bytes, bool copy) override;
  std::size_t stream_buffered() const override;
  void stream_end() override;
  void stream_abort() override;
  void stream_dropped() override;
  void body_read(std::function<void(std::string_view, bool)> fn) override;
  std::string_view client_address() override;

  // Graceful stop: a stream hears of it at once (its drain callback), and at
  // timeouts.shutdown the server ends it. False when there is no stream to end.
  void on_drain();
  bool end_stream_for_stop();

  // From the transport: the room for input (taking a pooled buffer if none is held), an
  // attempt that found none, a buffer the kernel filled (false: one is held already), and
  // the completions.
  bool holds_input() const { return rbuf_ != nullptr; }
  std::span<char> input_space();
  void input_space_unused();
  bool adopt_input(std::unique_ptr<ReadBuffer>& buffer);
  void on_received(const boost::system::error_code& ec, std::size_t n);
  void on_readable(const boost::system::error_code& ec);
  void on_write_done();
  // A write waits for the client (restarted on every progress).
  void write_waits();
  // Once the batch being written is out, the next thing is a receive for the next request.
  bool receives_after_write() const;
  // The transport is closed and has nothing in flight: the buffers go back, then the object.
  void release();

  uint32_t active_index = 0;  // position in the worker's list of open sessions

 protected:
  // The transport beside this session, once it is constructed (after this base).
  void attach(Transport& transport) { transport_ = &transport; }

 private:
  // Where the session is between the socket's events.
  enum class Phase : uint8_t {
    reading,    // parsing requests as they come, answering each in order
    handling,   // inside a handler: a Responder's send() now is a synchronous answer
    awaiting,   // a Responder holds the request; nothing after it is parsed
    answered,   // that Responder sent while a batch was being written: rendered after it
    streaming,  // a streamed body is being written; nothing after it is parsed
    last,       // the last response is decided (Connection: close, a rejection)
    lingering,  // it is out and the send side shut: input is read and dropped
  };

  // Request bytes in, parsed and answered (in flow order in session.cpp).
  void process_input();
  bool read_proxy_header();
  bool on_head();
  void handle_request();
  void assign_request_id();
  bool trusted_peer();
  void start_answer_deadline();
  void arm_answer_deadline();
  // A pulled request body (in flow order in session.cpp).
  void schedule_body_pump();
  void pump_body();
  void await_body();
  void feed_body();
  void fail_body(uint16_t status);
  bool abandon_body();
  void release_body();
  void on_answer_timeout();
  void answer_instead(uint16_t status, std::string_view text);
  void resume_after_async();
  void cancel_pending();
  // A streamed response (in flow order in session.cpp).
  http::OutputBuffer& stream_target();
  void schedule_flush();
  void flush_stream();
  void on_stream_written();
  void idle_stream();
  void give_request_back();
  void finish_stream();
  void end_stream_and_go_on();
  void abort_stream();
  void record_stream();
  void cancel_stream();
  void release_stream();
  void finish_response(std::size_t slot);
  bool count_request();
  void fail_request(uint16_t status);
  void log_access(uint16_t status, std::size_t body_bytes, std::string_view request_id = {});
  log::AccessRecord request_record(char (&client)[base::ip_text_size]);
  void resolve_peer();
  // Waiting for more.
  void wait_for_input();
  bool make_room();
  void discard_input(std::size_t n);
  // Responses out.
  void do_write();
  void end_after_write();
  void start_linger();
  void linger_read();
  // Idle again.
  void release_idle_resources();
  // A coroutine handler's request outlives the connection's use of it. The first test is the
  // one most requests meet: no coroutine ever held their exchange.
  bool leave_request_to_coroutine() {
    return exchange_ && !exchange_->holder.expired() && hand_request_to_coroutine();
  }
  bool hand_request_to_coroutine();
  std::shared_ptr<detail::Pending> coroutine_holder() const;
  void next_request();
  void unpin_retired();

  http::RenderContext render_context(bool keep_alive, bool http10, bool head) const;
  Deadline& deadline() { return *this; }
  // Nothing read waits to be parsed, and no request is half-read.
  bool between_requests() const {
    return rpos_ == rend_ && !(exchange_ && exchange_->parser.in_request());
  }
  bool closing() const { return phase_ == Phase::last || phase_ == Phase::lingering; }
  // The streamed response being written, if any.
  detail::StreamState* stream() const { return stream_; }
  void choose_stream_coding();  // compressed_stream(): its coding and headers
  // The request body the handler pulls, if any: it belongs to the request, so it lives in the
  // exchange and an idle session holds none.
  detail::BodyState* body() const { return exchange_ ? exchange_->body.get() : nullptr; }

  // Laid out to stay small (README, "Idle connection size").
  Worker& worker_;
  Transport* transport_ = nullptr;            // beside this object (net/connection.hpp)
  std::unique_ptr<ReadBuffer> rbuf_;          // null while idle
  std::unique_ptr<http::Exchange> exchange_;  // null while idle
  std::unique_ptr<http::OutputBuffer> out_;   // null while nothing is being written
  detail::Pending* pending_ = nullptr;        // the response a Responder will send, if any
  std::unique_ptr<encoding::StreamCompressor> compressor_;  // a compressed stream's coding
  detail::StreamState* stream_ = nullptr;  // the response being streamed, if any (it holds
                                           // itself alive through its `held`)
  base::IpAddress peer_{};                 // the peer (or the PROXY protocol's source)
  uint32_t rbegin_ = 0;                    // first byte of the request being parsed
  uint32_t rpos_ = 0;                      // first byte not yet given to the parser
  uint32_t rend_ = 0;                      // end of the bytes read
  uint32_t lingered_ = 0;                  // bytes dropped after the last response
  uint32_t requests_ = 0;                  // requests answered on this connection
  uint32_t batch_ = 0;                     // responses rendered since the last write
  Phase phase_ = Phase::reading;
  bool rejected_ : 1 = false;       // (last) after a rejection: the client may still send
  bool header_armed_ : 1 = false;   // the current request's header deadline is running
  bool releasing_ : 1 = false;      // the receive was cancelled for a graceful stop
  bool holds_retired_ : 1 = false;  // may reference a snapshot a reload retired
  bool expect_proxy_ : 1 = false;   // a PROXY protocol preamble must come first
  bool unix_peer_ : 1 = false;      // accepted on a unix socket: no peer address
  bool peer_known_ : 1 = false;     // peer_ / unix_peer_ were looked up (or came from PROXY)
};

}  // namespace lithe::net
