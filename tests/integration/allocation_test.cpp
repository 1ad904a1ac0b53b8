// SPEC §8: no heap allocation per request in steady state for `static`, `json`, `health` and
// `files`, with the access log off and on.
// This binary replaces the global operator new/delete to count allocations made by any thread
// other than the test's main thread (the client): that is, by the server's threads. The first
// allocations caught in the measured window keep their call stacks, printed on failure.
#include <execinfo.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_count{0};
std::thread::id g_main_thread;  // written before g_counting is set

constexpr int kMaxTraces = 8;
constexpr int kMaxFrames = 48;
struct Trace {
  std::size_t size;
  int frames;
  void* stack[kMaxFrames];
};
Trace g_traces[kMaxTraces];
std::atomic<int> g_trace_count{0};
thread_local bool t_in_hook = false;

void record(std::size_t size) {
  if (!g_counting.load(std::memory_order_acquire)) return;
  if (std::this_thread::get_id() == g_main_thread) return;
  if (t_in_hook) return;  // backtrace() itself
  g_count.fetch_add(1, std::memory_order_relaxed);
  int slot = g_trace_count.fetch_add(1, std::memory_order_relaxed);
  if (slot < kMaxTraces) {
    t_in_hook = true;
    g_traces[slot].size = size;
    g_traces[slot].frames = ::backtrace(g_traces[slot].stack, kMaxFrames);
    t_in_hook = false;
  }
}

void* allocate(std::size_t size) {
  record(size);
  void* p = std::malloc(size ? size : 1);
  if (!p) throw std::bad_alloc();
  return p;
}

void* allocate_nothrow(std::size_t size) noexcept {
  record(size);
  return std::malloc(size ? size : 1);
}

void* allocate_aligned(std::size_t size, std::align_val_t al) {
  record(size);
  std::size_t align = static_cast<std::size_t>(al);
  if (align < sizeof(void*)) align = sizeof(void*);
  void* p = nullptr;
  if (::posix_memalign(&p, align, size ? size : 1) != 0) throw std::bad_alloc();
  return p;
}

void* allocate_aligned_nothrow(std::size_t size, std::align_val_t al) noexcept {
  record(size);
  std::size_t align = static_cast<std::size_t>(al);
  if (align < sizeof(void*)) align = sizeof(void*);
  void* p = nullptr;
  if (::posix_memalign(&p, align, size ? size : 1) != 0) return nullptr;
  return p;
}

void start_counting() {
  g_count.store(0, std::memory_order_relaxed);
  g_trace_count.store(0, std::memory_order_relaxed);
  g_counting.store(true, std::memory_order_release);
}

std::size_t stop_counting() {
  g_counting.store(false, std::memory_order_release);
  return g_count.load(std::memory_order_relaxed);
}

void print_traces() {
  int n = std::min(g_trace_count.load(), kMaxTraces);
  for (int i = 0; i < n; ++i) {
    std::fprintf(stderr, "--- server-side allocation %d of %zu bytes:\n", i + 1, g_traces[i].size);
    std::fflush(stderr);
    ::backtrace_symbols_fd(g_traces[i].stack, g_traces[i].frames, STDERR_FILENO);
  }
}

}  // namespace

// --- the replaced global allocation functions ---
void* operator new(std::size_t n) {
  return allocate(n);
}
void* operator new[](std::size_t n) {
  return allocate(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return allocate_nothrow(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return allocate_nothrow(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return allocate_aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return allocate_aligned(n, a);
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_aligned_nothrow(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_aligned_nothrow(n, a);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace lithe::test {
namespace {

// A body worth compressing (compressed once at load; a request picks a form).
std::string page() {
  std::string s;
  for (int i = 0; s.size() < 2048; ++i)
    s += "<p>paragraph " + std::to_string(i) + " of lithe</p>\n";
  return s;
}

// Larger than what the kernel buffers for a connection whose client fixes its receive
// buffer (the server's send buffer grows to net.ipv4.tcp_wmem's 4 MiB at most), so that
// serving it waits on the client.
constexpr std::size_t kBigFile = 8u << 20;

// A files root made once per test binary (removed with the temp dir at exit).
const std::string& files_root() {
  static const TempDir dir;
  static const std::string root = [] {
    dir.write("hello.txt", "hello files");
    // Its gzip sidecar, as the server sees one (the server sends it as it is, unread): the
    // files requests below ask for gzip, so every one goes through the sidecar lookup.
    dir.write("hello.txt.gz", "hello files");
    dir.write("big.bin", std::string(kBigFile, 'b'));
    return dir.path().string();
  }();
  return root;
}

std::string config() {
  return std::string(R"(
[server]
workers = 1
request_id_header = "X-Request-Id"   # made for each request, without allocating

[[route]]
path = "/plaintext"
handler = "static"
body = "Hello, World!"

[[route]]
path = "/json"
handler = "json"
value = { message = "Hello, World!" }

[[route]]
path = "/health"
handler = "health"

[[route]]
path = "/page"
handler = "static"
content_type = "text/html"
body = """)" + page() +
                     R"("""

[[route]]
path = "/files/*path"
handler = "files"
max_age = "1h"
root = ")") +
         files_root() + "\"\n";
}

// The last route answers in the coding its request asks for (zstd), its identity form being
// page(): checked by length and Content-Encoding.
constexpr int kRoutes = 5;
const char* const kPaths[kRoutes] = {"/plaintext", "/json", "/health", "/files/hello.txt", "/page"};
const char* const kBodies[kRoutes] = {"Hello, World!", R"({"message":"Hello, World!"})", "ok",
                                      "hello files", nullptr};
constexpr int kBatch = 16;

class AllocationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_main_thread = std::this_thread::get_id();
    void* warm[4];
    ::backtrace(warm, 4);  // loads the unwinder now, not inside the hook
  }

  // count requests, one at a time on c; returns how many were answered correctly.
  static int sequential(RawClient& c, int count, int offset = 0) {
    int ok = 0;
    for (int i = 0; i < count; ++i) {
      int k = (i + offset) % kRoutes;
      c.send(requests_[k]);
      HttpResponse r = c.read_response();
      ok += answered(r, k);
    }
    return ok;
  }

  // count requests in batches of kBatch sent with one send() each.
  static int pipelined(RawClient& c, int count) {
    int ok = 0;
    for (int done = 0; done < count; done += kBatch) {
      int n = std::min(kBatch, count - done);
      std::string batch;
      for (int i = 0; i < n; ++i) batch += requests_[(done + i) % kRoutes];
      c.send(batch);
      for (int i = 0; i < n; ++i) {
        HttpResponse r = c.read_response();
        ok += answered(r, (done + i) % kRoutes);
      }
    }
    return ok;
  }

  // One pipelined batch on every connection, then every answer: the server has all of them
  // ready at once.
  static int pipelined_across(std::vector<std::unique_ptr<RawClient>>& clients, int rounds) {
    int ok = 0;
    for (int round = 0; round < rounds; ++round) {
      for (std::size_t ci = 0; ci < clients.size(); ++ci) {
        std::string batch;
        for (int i = 0; i < kBatch; ++i) batch += requests_[(i + ci) % kRoutes];
        clients[ci]->send(batch);
      }
      for (std::size_t ci = 0; ci < clients.size(); ++ci) {
        for (int i = 0; i < kBatch; ++i) {
          HttpResponse r = clients[ci]->read_response();
          ok += answered(r, static_cast<int>((i + ci) % kRoutes));
        }
      }
    }
    return ok;
  }

  // The answer to route k's request is right.
  static bool answered(const HttpResponse& r, int k) {
    if (r.status != 200) return false;
    if (k == 3 && r.header("Content-Encoding") != "gzip") return false;  // the sidecar
    if (kBodies[k]) return r.body == kBodies[k];
    return r.header("Content-Encoding") == "zstd" && !r.body.empty() && r.body.size() < page_size_;
  }

  static inline const std::size_t page_size_ = page().size();
  static inline const std::string requests_[kRoutes] = {
      get(kPaths[0]), get(kPaths[1]), get(kPaths[2]), get(kPaths[3], "Accept-Encoding: gzip\r\n"),
      get(kPaths[4], "Accept-Encoding: gzip, deflate, br, zstd\r\n")};
};

TEST_F(AllocationTest, SteadyStateSingleConnection) {
  TestServer server(config());
  RawClient c(server.port());
  // Warm-up: pools, arenas and the event loop's caches reach their working size.
  ASSERT_EQ(sequential(c, 200), 200);
  ASSERT_EQ(pipelined(c, 200), 200);

  constexpr int kRequests = 2000;
  start_counting();
  int ok = sequential(c, kRequests / 2, 1) + pipelined(c, kRequests / 2);
  std::size_t allocations = stop_counting();
  EXPECT_EQ(ok, kRequests);
  EXPECT_EQ(allocations, 0u) << "server threads allocated " << allocations << " times during "
                             << kRequests << " requests; call stacks follow on stderr";
  if (allocations) print_traces();
}

TEST_F(AllocationTest, SteadyStateConcurrentConnections) {
  TestServer server(config());
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 8; ++i) clients.push_back(std::make_unique<RawClient>(server.port()));
  // Warm-up on every connection, interleaved and all at once.
  for (auto& c : clients) ASSERT_EQ(sequential(*c, 30), 30);
  for (auto& c : clients) ASSERT_EQ(pipelined(*c, 32), 32);
  ASSERT_EQ(pipelined_across(clients, 4), 4 * 8 * kBatch);
  // Every connection holds a request at the same moment (its head read, its body awaited
  // after 100 Continue): the pools reach this test's peak, 8 exchanges and 8 read buffers, on
  // any timing of the rounds above (under load they may never overlap all 8). Each exchange
  // then serves a file, whose headers grow its arena.
  const std::string held =
      "GET /files/hello.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
      "Content-Length: 1\r\n\r\n";
  for (auto& c : clients) c->send(held);
  for (auto& c : clients) ASSERT_EQ(c->read_response().status, 100);
  for (auto& c : clients) c->send("x");
  for (auto& c : clients) ASSERT_EQ(c->read_response().body, "hello files");
  // Every connection holds an output buffer at the same moment: with io_uring a buffer stays
  // taken until its send completes, so the rounds below may overlap all 8 writes even when
  // the rounds above never did. A file the kernel cannot buffer keeps each write pending
  // until its client reads.
  for (auto& c : clients) {
    const int rcvbuf = 64 << 10;  // and no autotuning
    ASSERT_EQ(::setsockopt(c->fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    c->send(get("/files/big.bin"));
  }
  for (auto& c : clients) c->peek_until("\r\n\r\n");
  for (auto& c : clients) ASSERT_EQ(c->read_response().body.size(), kBigFile);

  start_counting();
  int ok = 0;
  for (std::size_t i = 0; i < clients.size(); ++i)
    ok += sequential(*clients[i], 50, static_cast<int>(i));
  ok += pipelined_across(clients, 12);
  std::size_t allocations = stop_counting();
  const int expected = 8 * 50 + 12 * 8 * kBatch;  // 1936
  EXPECT_EQ(ok, expected);
  EXPECT_EQ(allocations, 0u) << "server threads allocated " << allocations << " times during "
                             << expected << " requests on 8 connections; stacks on stderr";
  if (allocations) print_traces();
}

TEST_F(AllocationTest, AFirstPipelinedBatchAfterSequentialTraffic) {
  // Which pooled output buffer a connection gets depends on timing: each must hold a whole
  // batch (every route, files included) from the start, not grow on the first deep one.
  TestServer server(config());
  RawClient c(server.port());
  ASSERT_EQ(sequential(c, 200), 200);

  start_counting();
  const int ok = pipelined(c, kBatch);
  std::size_t allocations = stop_counting();
  EXPECT_EQ(ok, kBatch);
  EXPECT_EQ(allocations, 0u) << "server threads allocated " << allocations
                             << " times for one pipelined batch; call stacks on stderr";
  if (allocations) print_traces();
}

TEST_F(AllocationTest, SteadyStateWithAccessLogAndLongLines) {
  // Production runs with the access log on, and a browser's line (user agent, referer) is
  // longer than the few hundred bytes a logging library keeps inline: no allocation either.
  const TempDir dir;
  const std::string log_path = (dir.path() / "access.log").string();
  TestServer server(config() + "\n[log]\naccess = \"" + log_path + "\"\n");
  const std::string ua(400, 'u');
  const std::string referer = "https://example.com/" + std::string(200, 'r');
  const std::string request =
      get("/plaintext", "User-Agent: " + ua + "\r\nReferer: " + referer + "\r\n");
  RawClient c(server.port());
  auto send_some = [&](int count) {
    int ok = 0;
    for (int i = 0; i < count; ++i) {
      c.send(request);
      ok += c.read_response().status == 200;
    }
    return ok;
  };
  ASSERT_EQ(send_some(300), 300);

  constexpr int kRequests = 1000;
  start_counting();
  const int ok = send_some(kRequests);
  // Lines are written on the log's own thread: wait until all are out, still counting.
  const bool written = wait_until([&] {
    const std::string text = read_file(log_path);
    return std::count(text.begin(), text.end(), '\n') == 300 + kRequests;
  });
  std::size_t allocations = stop_counting();
  EXPECT_EQ(ok, kRequests);
  EXPECT_TRUE(written) << "the access log did not get every line";
  EXPECT_EQ(allocations, 0u) << "server threads allocated " << allocations << " times during "
                             << kRequests << " logged requests; call stacks follow on stderr";
  if (allocations) print_traces();
  EXPECT_NE(read_file(log_path).find(ua), std::string::npos);
}

TEST_F(AllocationTest, ColdServerIsSeenAllocating) {
  // A positive control on the server's own threads: a fresh worker fills its pools (connection,
  // read buffer, exchange, output buffer) on its first requests, and the hook must see that.
  TestServer server(config());
  RawClient c(server.port());
  start_counting();
  int ok = sequential(c, 3);
  std::size_t allocations = stop_counting();
  EXPECT_EQ(ok, 3);
  EXPECT_GT(allocations, 0u);
}

TEST_F(AllocationTest, HookCountsOtherThreadsOnly) {
  // The counter itself: allocations on this thread do not count, one on another thread does.
  start_counting();
  auto* mine = new std::string(100, 'x');
  delete mine;
  EXPECT_EQ(stop_counting(), 0u);
  std::thread other;
  start_counting();
  other = std::thread([] {
    auto* theirs = new std::vector<int>(64);
    delete theirs;
  });
  other.join();
  EXPECT_GE(stop_counting(), 1u);
}

}  // namespace
}  // namespace lithe::test
