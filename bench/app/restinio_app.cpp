// bench/load/app.sh's application on RESTinio (Debian's librestinio-dev, on Boost.Asio:
// RESTINIO_USE_BOOST_ASIO): POST /api/echo sums an order's items, GET /plaintext answers
// "Hello, World!". One thread (on_this_thread, single-thread traits), keep-alive, a plain
// request handler (no express router: the same dispatch as beast_app).
//   restinio_app PORT   (listens on 127.0.0.1)
#include <cstdio>
#include <cstdlib>
#include <restinio/all.hpp>
#include <string>
#include <utility>

#include "order_summary.hpp"

namespace {

simdjson::dom::parser json_parser;  // one thread: one parser, reused

restinio::request_handling_status_t answer(const restinio::request_handle_t& req,
                                           restinio::http_status_line_t status,
                                           std::string_view type, std::string body) {
  return req->create_response(std::move(status))
      .append_header(restinio::http_field::server, "RESTinio")
      .append_header(restinio::http_field::content_type, std::string(type))
      .set_body(std::move(body))
      .done();
}

restinio::request_handling_status_t handle(restinio::request_handle_t req) {
  const auto& head = req->header();
  if (head.path() == "/api/echo") {
    if (head.method() != restinio::http_method_post()) {
      return answer(req, restinio::status_method_not_allowed(), "text/plain", "");
    }
    if (auto summary = bench_app::summarize(json_parser, req->body())) {
      return answer(req, restinio::status_ok(), bench_app::kJsonType, std::move(*summary));
    }
    return answer(req, restinio::status_bad_request(), bench_app::kJsonType,
                  std::string(bench_app::kBadRequest));
  }
  if (head.path() == "/plaintext") {
    if (head.method() != restinio::http_method_get()) {
      return answer(req, restinio::status_method_not_allowed(), "text/plain", "");
    }
    return answer(req, restinio::status_ok(), bench_app::kPlaintextType,
                  std::string(bench_app::kPlaintext));
  }
  return answer(req, restinio::status_not_found(), "text/plain", "not found");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: restinio_app PORT\n");
    return 2;
  }
  auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  try {
    restinio::asio_ns::io_context ioc{1};
    restinio::run(ioc, restinio::on_this_thread<restinio::default_single_thread_traits_t>()
                           .port(port)
                           .address("127.0.0.1")
                           .request_handler(handle));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "restinio_app: %s\n", e.what());
    return 1;
  }
}
