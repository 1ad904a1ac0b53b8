// The epoll transport's posted read-side completions (a readiness answer known at once, a
// cancelled wait) must live in the connection's OpSlot: if an Asio upgrade grew the operation
// past EpollTransport::read_op_size, it would silently fall back to the heap, a block per
// request. A receive's completion is checked in receive_test.cpp.
#include "net/op_slot.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "net/epoll_transport.hpp"

namespace {

using lithe::net::EpollTransport;
using lithe::net::OpSlot;
using lithe::net::SlotAllocator;
namespace asio = boost::asio;

TEST(OpSlot, APostedReadinessCompletionFitsTheConnectionsSlot) {
  asio::io_context io;
  OpSlot<EpollTransport::read_op_size> slot;
  boost::system::error_code seen;
  boost::system::error_code* out = &seen;  // the same shape as the transport's: a pointer, a code
  const boost::system::error_code ec = asio::error::operation_aborted;
  asio::post(io, asio::bind_allocator(SlotAllocator<void, EpollTransport::read_op_size>(&slot),
                                      [out, ec] { *out = ec; }));
  EXPECT_TRUE(slot.in_use()) << "the completion outgrew EpollTransport::read_op_size";
  io.run();
  EXPECT_EQ(seen, asio::error::operation_aborted);
  EXPECT_FALSE(slot.in_use()) << "the slot is free again once the completion ran";
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
