// A connection's readiness wait (lingering, or watching a client while a Responder answers)
// must live in the connection's OpSlot: if an Asio upgrade grew the operation past
// ReactorTransport::read_op_size, it would silently fall back to the heap, a block per wait. The
// receive an idle connection holds, and a receive's completion, are checked in receive_test.cpp.
#include "net/op_slot.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include "net/listener.hpp"
#include "net/reactor_transport.hpp"

namespace {

using lithe::net::OpSlot;
using lithe::net::ReactorTransport;
using lithe::net::SlotAllocator;
namespace asio = boost::asio;

TEST(OpSlot, ReadinessWaitWithAOnePointerHandlerFitsTheConnectionsSlot) {
  asio::io_context io;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  lithe::net::Socket a(io, asio::generic::stream_protocol(AF_UNIX, 0), fds[0]);
  lithe::net::Socket b(io, asio::generic::stream_protocol(AF_UNIX, 0), fds[1]);

  OpSlot<ReactorTransport::read_op_size> slot;
  bool woke = false;
  bool* flag = &woke;  // the same shape as the connection's handler: one pointer
  a.async_wait(asio::socket_base::wait_read,
               asio::bind_allocator(SlotAllocator<void, ReactorTransport::read_op_size>(&slot),
                                    [flag](const boost::system::error_code& ec) { *flag = !ec; }));
  EXPECT_TRUE(slot.in_use()) << "the wait operation outgrew ReactorTransport::read_op_size";

  const char byte = 'x';
  ASSERT_EQ(::send(fds[1], &byte, 1, 0), 1);
  io.run();
  EXPECT_TRUE(woke);
  EXPECT_FALSE(slot.in_use()) << "the slot is free again once the wait completed";
}

TEST(OpSlot, ASecondOperationWhileTheSlotIsTakenComesFromTheHeap) {
  OpSlot<64> slot;
  void* first = slot.allocate(64);
  void* second = slot.allocate(16);
  EXPECT_NE(first, second);
  void* too_big = nullptr;
  slot.deallocate(first);
  too_big = slot.allocate(65);
  EXPECT_FALSE(slot.in_use());
  slot.deallocate(second);
  slot.deallocate(too_big);
  EXPECT_EQ(slot.allocate(8), first) << "the slot is reused once free";
  slot.deallocate(first);
}

}  // namespace
