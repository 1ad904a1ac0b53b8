// Driving a worker's loop by hand from a unit test, one step at a time, so that a test can act
// between two completions (a timeout that meets a receive, a cancelled accept).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>

namespace lithe::test {

// Runs the loop's ready handlers until done() holds; false after a few seconds.
template <class Done>
bool run_until(boost::asio::io_context& io, Done done) {
  using namespace std::chrono_literals;
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    io.restart();
    io.run_for(1ms);
  }
  return true;
}

// Runs handlers one at a time until none is ready; false if the loop keeps finding work (a wait
// that completes at once, over and over).
inline bool settle(boost::asio::io_context& io) {
  for (int handlers = 0; handlers < 10000; ++handlers) {
    io.restart();
    if (io.poll_one() == 0) return true;
  }
  return false;
}

}  // namespace lithe::test
