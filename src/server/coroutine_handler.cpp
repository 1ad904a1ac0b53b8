#include "server/coroutine_handler.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>

#include "http/response.hpp"

namespace lithe::server {

namespace {

struct Coroutine {
  std::string name;  // the handler's, for its errors
  Server::CoHandlerFn fn;
};

// co is kept alive by the completion handler, which outlives this frame. While fn runs, its
// request and response stay its own whatever the connection does (detail::hold_request); they
// are let go before send(), so that the connection reuses them for its next request.
boost::asio::awaitable<void> answer(const Coroutine* co, Responder r) {
  detail::hold_request(r, true);
  try {
    co_await co->fn(r.request(), r.response());
  } catch (...) {
    detail::hold_request(r, false);
    throw;
  }
  detail::hold_request(r, false);
  r.send();
}

// The coroutine threw while its client still waits: log it and answer 500, as for handle().
void fail(const std::string& name, std::exception_ptr error, Responder& r) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("coroutine handler '{}' threw: {}", name, e.what());
  } catch (...) {
    spdlog::error("coroutine handler '{}' threw a non-exception", name);
  }
  auto& res = static_cast<http::ResponseImpl&>(r.response());
  res.reset();
  res.status(500);
  res.body_view("Internal Server Error", "text/plain; charset=utf-8");
  r.send();
}

}  // namespace

Server::AsyncHandlerFn coroutine_handler(std::string name, Server::CoHandlerFn fn) {
  // Shared with every coroutine still running, which a reload must not cut short.
  auto co = std::make_shared<const Coroutine>(Coroutine{std::move(name), std::move(fn)});
  return [co](const Request&, Responder r) {
    auto cancel = std::make_shared<boost::asio::cancellation_signal>();
    r.on_cancel([cancel] { cancel->emit(boost::asio::cancellation_type::terminal); });
    boost::asio::co_spawn(r.io(), answer(co.get(), r),
                          boost::asio::bind_cancellation_slot(
                              cancel->slot(), [co, cancel, r](std::exception_ptr error) mutable {
                                if (error && r.active()) fail(co->name, error, r);
                              }));
  };
}

}  // namespace lithe::server
