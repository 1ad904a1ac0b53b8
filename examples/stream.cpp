// Streaming from an embedding program: a server-sent event clock, a live feed that fans each
// published event out to every subscriber, an endless stream that writes only as fast as the
// client reads, and a checksum of an upload read piece by piece.
//   stream [CONFIG]   (default: stream.toml, examples/stream.toml in the source tree)
#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <lithe/body_reader.hpp>
#include <lithe/server.hpp>
#include <lithe/stream.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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

// FNV-1a (64 bits) of a request body of any size, read piece by piece (route body = "stream"):
// the upload never sits in memory, and a slow disk or CPU here slows the client, not lithe.
struct Checksum : std::enable_shared_from_this<Checksum> {
  Checksum(lithe::BodyReader b, lithe::Responder r) : body(std::move(b)), out(std::move(r)) {}

  void next() {
    body.read([self = shared_from_this()](std::string_view piece, bool last) {
      for (unsigned char c : piece) self->hash = (self->hash ^ c) * 1099511628211ULL;
      self->bytes += piece.size();
      if (!last) return self->next();
      char text[64];
      std::snprintf(text, sizeof(text), "%llu %016llx\n",
                    static_cast<unsigned long long>(self->bytes),
                    static_cast<unsigned long long>(self->hash));
      self->out.response().text(text);
      self->out.send();
    });
  }

  lithe::BodyReader body;
  lithe::Responder out;
  uint64_t hash = 14695981039346656037ULL;
  uint64_t bytes = 0;
};

// A live feed: every GET /feed is an event stream, and each POST /publish sends its body as one
// event to all of them. A stream may only be written from its own worker's loop, so a publish
// posts the event to every loop that has subscribers, and each loop writes to its own.
class Feed {
 public:
  void subscribe(lithe::EventStream events) {
    boost::asio::io_context& loop = events.stream().io();
    // Ends this loop's streams as soon as a graceful stop begins.
    events.stream().on_drain([] {
      for (auto& e : local()) e.end();
      local().clear();
    });
    std::vector<lithe::EventStream>& streams = local();
    // Streams whose client went away are dropped here too, before the vector grows.
    if (streams.size() == streams.capacity())
      std::erase_if(streams, [](lithe::EventStream& e) { return !e.active(); });
    streams.push_back(std::move(events));
    std::lock_guard lock(mutex_);
    if (std::find(loops_.begin(), loops_.end(), &loop) == loops_.end()) loops_.push_back(&loop);
  }

  void publish(std::string data) {
    auto event = std::make_shared<const std::string>(std::move(data));
    std::lock_guard lock(mutex_);
    for (boost::asio::io_context* loop : loops_) {
      boost::asio::post(*loop, [event] {
        std::vector<lithe::EventStream>& streams = local();
        // Streams whose client went away are dropped on the way.
        std::erase_if(streams, [&](lithe::EventStream& e) { return !e.active(); });
        for (auto& e : streams) e.send(*event);
      });
    }
  }

 private:
  // The streams of the calling worker's loop.
  static std::vector<lithe::EventStream>& local() {
    thread_local std::vector<lithe::EventStream> streams;
    return streams;
  }

  std::mutex mutex_;
  std::vector<boost::asio::io_context*> loops_;  // every loop that has had a subscriber
};

}  // namespace

int main(int argc, char** argv) {
  try {
    lithe::Server server(lithe::load_config(argc > 1 ? argv[1] : "stream.toml"));

    server.handle("clock", [](const lithe::Request& req, lithe::Response& res) {
      auto clock = std::make_shared<Clock>(lithe::EventStream::start(res));
      // Ends the stream as soon as a graceful stop begins; the browser reconnects elsewhere.
      // (/clock?stay leaves that to lithe, which ends it at timeouts.shutdown.)
      if (req.query() != "stay") clock->events.stream().on_drain([clock] { clock->events.end(); });
      clock->events.stream().on_cancel([clock] { clock->timer.cancel(); });
      clock->tick();
    });

    server.handle("firehose", [](const lithe::Request&, lithe::Response& res) {
      res.body_view({}, "application/octet-stream");
      auto hose = std::make_shared<Firehose>(res.stream());
      hose->stream.on_cancel([hose] {});  // keeps it alive until the stream stops
      hose->pump();
    });

    auto feed = std::make_shared<Feed>();
    server.handle("feed", [feed](const lithe::Request&, lithe::Response& res) {
      feed->subscribe(lithe::EventStream::start(res));
    });
    server.handle("publish", [feed](const lithe::Request& req, lithe::Response& res) {
      feed->publish(std::string(req.body()));
      res.status(202);
    });

    server.handle("checksum", [](const lithe::Request&, lithe::Response& res) {
      std::make_shared<Checksum>(res.body_reader(), res.defer())->next();
    });

    return server.run();  // blocks; SIGTERM/SIGINT stop it
  } catch (const lithe::ConfigErrors& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
