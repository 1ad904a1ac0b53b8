// lithe/coro.hpp: each wait is one Asio asynchronous operation over the callback API, completed
// once by whichever comes first: the callback, or the coroutine's cancellation slot.
#include "lithe/coro.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <memory>
#include <optional>
#include <utility>

namespace lithe {

namespace {

using boost::system::error_code;

// A completion handler that runs at most once, shared by the callbacks that may complete it.
template <class Handler>
struct Once {
  std::optional<Handler> handler;

  template <class... Args>
  void complete(Args&&... args) {
    if (!handler) return;
    Handler h = std::move(*handler);
    handler.reset();
    std::move(h)(std::forward<Args>(args)...);
  }
};

// Completes `once` with operation_aborted when the coroutine is cancelled.
template <class Handler, class... Results>
std::shared_ptr<Once<Handler>> hold(Handler handler, Results... on_cancel) {
  auto slot = boost::asio::get_associated_cancellation_slot(handler);
  auto once = std::make_shared<Once<Handler>>();
  once->handler.emplace(std::move(handler));
  if (slot.is_connected()) {
    slot.assign([once, on_cancel...](boost::asio::cancellation_type) {
      once->complete(error_code(boost::asio::error::operation_aborted), on_cancel...);
    });
  }
  return once;
}

[[noreturn]] void aborted() {
  throw boost::system::system_error(boost::asio::error::operation_aborted);
}

// Until the stream has room again, after a write that reported backpressure.
boost::asio::awaitable<void> writable(Stream& stream) {
  co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(error_code)>(
      [&stream](auto handler) {
        auto once = hold(std::move(handler));
        stream.on_writable([once] { once->complete(error_code()); });
      },
      boost::asio::use_awaitable);
}

}  // namespace

boost::asio::awaitable<BodyPiece> read(BodyReader& reader) {
  if (!reader.active()) aborted();
  co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                                 void(error_code, BodyPiece)>(
      [&reader](auto handler) {
        auto once = hold(std::move(handler), BodyPiece{});
        reader.read([once](std::string_view bytes, bool last) {
          once->complete(error_code(), BodyPiece{bytes, last});
        });
      },
      boost::asio::use_awaitable);
}

boost::asio::awaitable<void> write(Stream& stream, std::string_view bytes) {
  if (!stream.active()) aborted();
  if (stream.write(bytes)) co_return;
  if (!stream.active()) aborted();
  co_await writable(stream);
}

boost::asio::awaitable<void> send(EventStream& events, std::string_view data,
                                  std::string_view event, std::string_view id) {
  if (!events.active()) aborted();
  if (events.send(data, event, id)) co_return;
  if (!events.active()) aborted();
  co_await writable(events.stream());
}

}  // namespace lithe
