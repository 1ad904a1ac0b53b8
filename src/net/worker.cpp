#include "net/worker.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <ctime>

#include "net/connection.hpp"
#include "net/listener.hpp"

namespace lithe::net {

namespace asio = boost::asio;

namespace {
// Spare objects a loop keeps for the next burst; beyond that they are freed.
constexpr std::size_t pool_keep = 1024;
}  // namespace

Worker::Worker(unsigned index, std::shared_ptr<const app::Snapshot> snapshot)
    : index_(index), io_(1), snapshot_(std::move(snapshot)), clock_(io_) {
  const LimitsConfig& limits = snapshot_->config.limits;
  // A whole request head always fits, with room for the start of its body.
  buffer_size_ = std::max<std::size_t>(16 * 1024, limits.request_line + limits.header_section + 4096);
}

Worker::~Worker() {
  for (Connection* c : active_) delete c;  // still open when the loop ended without stop()
}

void Worker::add_listener(asio::ip::tcp::acceptor acceptor) {
  listeners_.push_back(std::make_unique<Listener>(*this, std::move(acceptor)));
}

void Worker::run() {
  for (auto& l : listeners_) l->start();
  tick();
  io_.run();
}

void Worker::stop() {
  asio::post(io_, [this] {
    stopping_ = true;
    for (auto& l : listeners_) l->close();
    clock_.cancel();
    // close() may hand a connection back to the pool: iterate over a copy.
    auto open = active_;
    for (Connection* c : open) c->close();
    io_.stop();
  });
}

void Worker::tick() {
  date_.refresh(std::time(nullptr));
  clock_.expires_after(std::chrono::seconds(1));
  clock_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

std::unique_ptr<ReadBuffer> Worker::take_buffer() {
  return buffer_pool_.take([this] { return std::make_unique<ReadBuffer>(buffer_size_); });
}
void Worker::give_buffer(std::unique_ptr<ReadBuffer> b) { buffer_pool_.give(std::move(b), pool_keep); }

std::unique_ptr<http::Exchange> Worker::take_exchange() {
  return exchange_pool_.take(
      [this] { return std::make_unique<http::Exchange>(snapshot_->config.limits.headers); });
}
void Worker::give_exchange(std::unique_ptr<http::Exchange> e) {
  e->next();
  exchange_pool_.give(std::move(e), pool_keep);
}

std::unique_ptr<http::OutputBuffer> Worker::take_output() {
  return output_pool_.take([] { return std::make_unique<http::OutputBuffer>(); });
}
void Worker::give_output(std::unique_ptr<http::OutputBuffer> o) { output_pool_.give(std::move(o), pool_keep); }

void Worker::on_accepted(asio::ip::tcp::socket socket) {
  if (stopping_) return;
  std::unique_ptr<Connection> c =
      connection_pool_.take([this] { return std::make_unique<Connection>(*this); });
  Connection* raw = c.release();  // owned by active_ until on_closed
  raw->active_index = active_.size();
  active_.push_back(raw);
  raw->start(std::move(socket));
}

void Worker::on_closed(Connection* c) {
  // Swap-remove from the open list, then back to the pool.
  std::size_t i = c->active_index;
  active_[i] = active_.back();
  active_[i]->active_index = i;
  active_.pop_back();
  connection_pool_.give(std::unique_ptr<Connection>(c), pool_keep);
}

}  // namespace lithe::net
