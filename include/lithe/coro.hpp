// The streaming calls of SPEC §9 in coroutine form, for handlers registered with
// Server::handle_co. Each throws boost::system::system_error (operation_aborted) when what it
// waits for cannot come: the client went away, the body failed, the handler's deadline
// passed or the server stopped (the handler's cancellation slot was emitted).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "lithe/body_reader.hpp"
#include "lithe/stream.hpp"

namespace lithe {

struct BodyPiece {
  std::string_view bytes;  // valid until the coroutine's next co_await
  bool last = false;       // the body's final piece (it may be empty)
};

// The next piece of a pulled request body (`body = "stream"`; res.body_reader()).
boost::asio::awaitable<BodyPiece> read(BodyReader& reader);

// Writes bytes (copied) to a streamed body and, when more than limits.stream_buffer now waits
// unsent, waits until the client has taken enough of it.
boost::asio::awaitable<void> write(Stream& stream, std::string_view bytes);

// One server-sent event (EventStream::send), waiting for room as write() does.
boost::asio::awaitable<void> send(EventStream& events, std::string_view data,
                                  std::string_view event = {}, std::string_view id = {});

}  // namespace lithe
