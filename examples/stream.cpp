// Streamed responses from an embedding program: a server-sent event clock and an endless
// stream that writes only as fast as the client reads.
//   stream [CONFIG]   (default: stream.toml, examples/stream.toml in the source tree)
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <lithe/server.hpp>
#include <lithe/stream.hpp>
#include <memory>
#include <string>

namespace {

// One event a second until the client goes away or the server stops.
struct Clock : std::enable_shared_from_this<Clock> {
  explicit Clock(lithe::EventStream s) : events(std::move(s)), timer(events.stream().io()) {}

  void tick() {
    if (!events.active()) return;
    const std::time_t now = std::time(nullptr);
    char text[32];
    std::strftime(text, sizeof(text), "%H:%M:%S", std::gmtime(&now));
    events.send(text, "tick", std::to_string(++count));
    timer.expires_after(std::chrono::seconds(1));
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->tick();
    });
  }

  lithe::EventStream events;
  boost::asio::steady_timer timer;
  unsigned count = 0;
};

// Writes 64 KiB pieces for as long as the client reads: write() says when to wait, and
// on_writable when to go on, so a slow client holds about limits.stream_buffer, not more.
struct Firehose : std::enable_shared_from_this<Firehose> {
  explicit Firehose(lithe::Stream s) : stream(std::move(s)) {}

  void pump() {
    while (stream.active()) {
      std::string piece(64 * 1024, static_cast<char>('a' + count++ % 26));
      if (!stream.write(piece)) {
        stream.on_writable([self = shared_from_this()] { self->pump(); });
        return;
      }
    }
  }

  lithe::Stream stream;
  unsigned count = 0;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    lithe::Server server(lithe::load_config(argc > 1 ? argv[1] : "stream.toml"));

    server.handle("clock", [](const lithe::Request&, lithe::Response& res) {
      auto clock = std::make_shared<Clock>(lithe::EventStream::start(res));
      // Ends the stream as soon as a graceful stop begins; the browser reconnects elsewhere.
      clock->events.stream().on_drain([clock] { clock->events.end(); });
      clock->events.stream().on_cancel([clock] { clock->timer.cancel(); });
      clock->tick();
    });

    server.handle("firehose", [](const lithe::Request&, lithe::Response& res) {
      res.body_view({}, "application/octet-stream");
      auto hose = std::make_shared<Firehose>(res.stream());
      hose->stream.on_cancel([hose] {});  // keeps it alive until the stream stops
      hose->pump();
    });

    return server.run();  // blocks; SIGTERM/SIGINT stop it
  } catch (const lithe::ConfigErrors& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
