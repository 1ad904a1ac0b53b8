// bench/load/app.sh's application on Boost.Beast: POST /api/echo sums an order's items, GET
// /plaintext answers "Hello, World!". One thread, keep-alive; the structure of Beast's
// http_server_async example (listener, session with do_read/on_read/send_response/on_write,
// http::message_generator, a 30 s timer per read), without its strands: one thread needs none.
//   beast_app PORT   (listens on 127.0.0.1)
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "order_summary.hpp"

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

simdjson::dom::parser json_parser;  // one thread: one parser, reused

http::response<http::string_body> make_response(const http::request<http::string_body>& req,
                                                http::status status, std::string_view type,
                                                std::string body) {
  http::response<http::string_body> res{status, req.version()};
  res.set(http::field::server, BOOST_BEAST_VERSION_STRING);
  res.set(http::field::content_type, type);
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

http::message_generator handle_request(http::request<http::string_body>&& req) {
  if (req.target() == "/api/echo") {
    if (req.method() != http::verb::post) {
      return make_response(req, http::status::method_not_allowed, "text/plain", "");
    }
    if (auto answer = bench_app::summarize(json_parser, req.body())) {
      return make_response(req, http::status::ok, bench_app::kJsonType, std::move(*answer));
    }
    return make_response(req, http::status::bad_request, bench_app::kJsonType,
                         std::string(bench_app::kBadRequest));
  }
  if (req.target() == "/plaintext") {
    if (req.method() != http::verb::get) {
      return make_response(req, http::status::method_not_allowed, "text/plain", "");
    }
    return make_response(req, http::status::ok, bench_app::kPlaintextType,
                         std::string(bench_app::kPlaintext));
  }
  return make_response(req, http::status::not_found, "text/plain", "not found");
}

void fail(beast::error_code ec, const char* what) {
  std::fprintf(stderr, "beast_app: %s: %s\n", what, ec.message().c_str());
}

// One connection.
class session : public std::enable_shared_from_this<session> {
 public:
  explicit session(tcp::socket&& socket) : stream_(std::move(socket)) {}

  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&session::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    req_ = {};  // a new message for each read
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, req_,
                     beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return do_close();
    if (ec) return fail(ec, "read");
    send_response(handle_request(std::move(req_)));
  }

  void send_response(http::message_generator&& msg) {
    bool keep_alive = msg.keep_alive();
    beast::async_write(
        stream_, std::move(msg),
        beast::bind_front_handler(&session::on_write, shared_from_this(), keep_alive));
  }

  void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
    if (ec) return fail(ec, "write");
    if (!keep_alive) return do_close();
    do_read();
  }

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
};

// Accepts connections and starts a session for each.
class listener : public std::enable_shared_from_this<listener> {
 public:
  listener(net::io_context& ioc, const tcp::endpoint& endpoint) : ioc_(ioc), acceptor_(ioc) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
  }

  void run() { do_accept(); }

 private:
  void do_accept() {
    acceptor_.async_accept(ioc_,
                           beast::bind_front_handler(&listener::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec) {
      fail(ec, "accept");
      return;
    }
    std::make_shared<session>(std::move(socket))->run();
    do_accept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: beast_app PORT\n");
    return 2;
  }
  auto port = static_cast<unsigned short>(std::atoi(argv[1]));
  try {
    net::io_context ioc{1};
    std::make_shared<listener>(ioc, tcp::endpoint{net::ip::make_address("127.0.0.1"), port})->run();
    ioc.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beast_app: %s\n", e.what());
    return 1;
  }
}
