// The socket types of the loop.
#pragma once

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>

namespace lithe::net {

// Bound to io_context's own executor rather than any_io_executor: a socket then carries an
// 8-byte executor instead of a type-erased one, which matters per idle connection.
using Executor = boost::asio::io_context::executor_type;
using Acceptor =
    boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol, Executor>;
using Socket = boost::asio::basic_stream_socket<boost::asio::generic::stream_protocol, Executor>;

}  // namespace lithe::net
