#include "core/http/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <limits>
#include <thread>
#include <vector>

#include "core/metrics/registry.h"
#include "tests/unit/core/http/test_support.h"

namespace plano::http {
namespace {

using namespace std::chrono_literals;
using test::Client;
using Clock = std::chrono::steady_clock;

// The RSS bound for 1,000 idle TLS connections. Under sanitizers (shadow memory, ASan's
// quarantine of freed blocks) RSS says nothing about the server, so there is no bound.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr long long kRssBoundKib = std::numeric_limits<long long>::max();
#else
constexpr long long kRssBoundKib = 200 * 1024;
#endif

long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Polls `condition` every 10 ms for at most `limit`.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit = 3s) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

// Round trips on fresh connections until `stop`, recording the slowest and any failure.
struct NormalTraffic {
  std::uint16_t port;
  SSL_CTX* tls;
  std::atomic<bool> stop{false};
  std::atomic<int> served{0};
  std::atomic<int> failed{0};
  std::atomic<long long> slowestMs{0};

  void run() {
    for (int i = 0; i < 200 && !stop; ++i) {
      auto start = Clock::now();
      Client client(port, tls);
      auto response = client.round_trip("GET", "/hello");
      long long took = ms_since(start);
      if (response && response->status == 200) {
        ++served;
      } else {
        ++failed;
      }
      if (took > slowestMs) slowestMs = took;
      std::this_thread::sleep_for(100ms);
    }
  }
};

TEST(Server, PlainRequestsAndRouting) {
  auto server = start_server(test::local_options(), test::demo_router());
  ASSERT_NE(server->port(), 0);
  Client client(server->port());
  ASSERT_TRUE(client.ok()) << client.error();

  auto hello = client.round_trip("GET", "/hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
  EXPECT_EQ(hello->body, "hello");
  EXPECT_EQ(hello->header("content-type"), "text/plain; charset=utf-8");

  auto echo = client.round_trip("POST", "/echo?dryRun=true", R"({"kind":"AdmissionReview"})",
                                "Content-Type: application/json\r\n");
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->status, 200);
  EXPECT_EQ(echo->body, R"({"kind":"AdmissionReview"})");
  EXPECT_EQ(echo->header("X-Method"), "POST");

  auto missing = client.round_trip("GET", "/missing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  auto wrong_method = client.round_trip("DELETE", "/hello");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
  EXPECT_EQ(wrong_method->header("Allow"), "GET");
  server->stop(1s);
}

TEST(Server, HandlerSeesRequestFields) {
  auto router = std::make_shared<Router>();
  Request seen;
  std::mutex mutex;
  router->add("/review", [&](const Request& request) {
    std::lock_guard lock(mutex);
    seen = request;
    Response response = Response::json(201, "{}");
    response.headers.emplace_back("X-Extra", "1");
    response.headers.emplace_back("Bad\r\nField", "x");  // dropped: it would split the response
    response.headers.emplace_back("Content-Length", "999");  // dropped: the server's own
    return response;
  });
  auto server = start_server(test::local_options(), router);
  Client client(server->port());
  auto response = client.round_trip("POST", "/review?timeout=10s", "body", "X-Custom: Yes\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->header("Content-Type"), "application/json");
  EXPECT_EQ(response->header("X-Extra"), "1");
  EXPECT_EQ(response->header("Content-Length"), "2");
  EXPECT_FALSE(response->header("Bad"));

  std::lock_guard lock(mutex);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/review?timeout=10s");
  EXPECT_EQ(seen.path, "/review");
  EXPECT_EQ(seen.query, "timeout=10s");
  EXPECT_EQ(seen.header("x-custom"), "Yes");
  EXPECT_EQ(seen.body, "body");
  EXPECT_EQ(seen.remoteAddress.rfind("127.0.0.1:", 0), 0u) << seen.remoteAddress;
}

TEST(Server, HandlerExceptionIs500AndServerStaysUp) {
  auto router = test::demo_router();
  router->add("/throw", [](const Request&) -> Response { throw std::runtime_error("boom"); });
  auto server = start_server(test::local_options(), router);
  Client client(server->port());
  auto failed = client.round_trip("GET", "/throw");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 500);
  auto after = client.round_trip("GET", "/hello");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST(Server, TlsRequestAndResponse) {
  auto pair = test::make_certificate("webhook.test", 7);
  auto server = start_server(test::local_options(), test::demo_router(), test::fixed_tls(pair));
  auto tls = test::client_context();
  Client client(server->port(), tls.get());
  ASSERT_TRUE(client.ok()) << client.error();
  EXPECT_EQ(client.peer_serial(), 7);
  EXPECT_EQ(client.tls_version(), "TLSv1.3");
  auto echo = client.round_trip("POST", "/echo", "over TLS");
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->status, 200);
  EXPECT_EQ(echo->body, "over TLS");
}

TEST(Server, KeepAliveServesTwoRequestsOnOneConnection) {
  auto pair = test::make_certificate("webhook.test", 1);
  auto tls = test::client_context();
  for (bool use_tls : {false, true}) {
    SCOPED_TRACE(use_tls ? "TLS" : "plain");
    auto server = start_server(test::local_options(), test::demo_router(), use_tls ? test::fixed_tls(pair) : nullptr);
    Client client(server->port(), use_tls ? tls.get() : nullptr);
    auto first = client.round_trip("GET", "/hello");
    auto second = client.round_trip("POST", "/echo", "again");
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(second->body, "again");
    EXPECT_NE(first->header("Connection"), "close");
    auto stats = server->stats();
    EXPECT_EQ(stats.acceptedConnections, 1u);
    EXPECT_EQ(stats.requests, 2u);
  }
}

TEST(Server, HeadGetsTheLengthButNoBody) {
  auto router = std::make_shared<Router>();
  router->add("/healthz", [](const Request&) { return Response::text(200, "ok\n"); }, {"GET", "HEAD"});
  auto server = start_server(test::local_options(), router);
  Client client(server->port());
  ASSERT_TRUE(client.send(test::request_text("HEAD", "/healthz") + test::request_text("GET", "/healthz")));
  auto head = client.read_response(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("Content-Length"), "3");
  // Had the HEAD response carried the body, it would now stand before this status line.
  auto get = client.read_response();
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "ok\n");
}

TEST(Server, PipelinedRequestsAreAnsweredInOrder) {
  auto server = start_server(test::local_options(), test::demo_router());
  Client client(server->port());
  ASSERT_TRUE(client.send(test::request_text("POST", "/echo", "one") + test::request_text("POST", "/echo", "two")));
  auto first = client.read_response();
  auto second = client.read_response();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->body, "one");
  EXPECT_EQ(second->body, "two");
}

TEST(Server, ConnectionCloseIsHonoured) {
  auto server = start_server(test::local_options(), test::demo_router());
  Client client(server->port());
  auto response = client.round_trip("GET", "/hello", "", "Connection: close\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->header("Connection"), "close");
  EXPECT_TRUE(client.wait_closed(2s));
}

TEST(Server, MalformedRequestsGet400AndServerStaysUp) {
  auto server = start_server(test::local_options(), test::demo_router());
  for (const char* bad : {"NOT A REQUEST\r\n\r\n", "GET /hello HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
                          "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
                          "GET /hello HTTP/9.9\r\nHost: x\r\n\r\n"}) {
    SCOPED_TRACE(bad);
    Client client(server->port());
    ASSERT_TRUE(client.send(bad));
    auto response = client.read_response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 400);
    EXPECT_EQ(response->header("Connection"), "close");
    EXPECT_TRUE(client.wait_closed(3s));
  }
  Client normal(server->port());
  auto response = normal.round_trip("GET", "/hello");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST(Server, HeaderOverTheLimitGets431) {
  auto server = start_server(test::local_options(), test::demo_router());
  Client client(server->port());
  auto response = client.round_trip("GET", "/hello", "", "X-Big: " + std::string(20000, 'a') + "\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
}

TEST(Server, DeclaredBodyOverTheLimitGets413BeforeTheBodyIsSent) {
  auto server = start_server(test::local_options(), test::demo_router());
  const std::size_t limit = ServerOptions{}.maxBodyBytes;
  ASSERT_EQ(limit, 3u << 20);

  // The body of exactly the limit is fine.
  Client at_limit(server->port());
  auto fine = at_limit.round_trip("POST", "/echo", std::string(limit, 'x'));
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
  EXPECT_EQ(fine->body.size(), limit);

  // One byte more is refused on the header alone: nothing of the body has been sent.
  Client over(server->port());
  ASSERT_TRUE(over.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(limit + 1) + "\r\n\r\n"));
  auto refused = over.read_response();
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 413);
  EXPECT_EQ(refused->header("Connection"), "close");
  EXPECT_TRUE(over.wait_closed(3s));
}

TEST(Server, ChunkedBodyOverTheLimitGets413) {
  auto options = test::local_options();
  options.maxBodyBytes = 1000;
  auto server = start_server(options, test::demo_router());
  Client client(server->port());
  std::string chunk(600, 'c');
  ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n" + chunk +
                          "\r\n258\r\n" + chunk + "\r\n0\r\n\r\n"));
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
}

TEST(Server, TenMiBBodyIsRefusedWhileOthersAreServed) {
  auto server = start_server(test::local_options(), test::demo_router());
  const std::string body(10u << 20, 'z');
  NormalTraffic normal{server->port(), nullptr};
  std::thread traffic([&] { normal.run(); });

  auto upload = [&](bool chunked) {
    Client client(server->port());
    std::string head = "POST /echo HTTP/1.1\r\nHost: x\r\n";
    if (chunked) {
      // 1 MiB chunks with no declared total: refused once past the limit.
      std::string chunks;
      for (int i = 0; i < 10; ++i) chunks += "100000\r\n" + std::string(1u << 20, 'z') + "\r\n";
      client.send(head + "Transfer-Encoding: chunked\r\n\r\n" + chunks + "0\r\n\r\n");
    } else {
      client.send(head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    }
    auto response = client.read_response();
    return response ? response->status : 0;
  };
  auto start = Clock::now();
  EXPECT_EQ(upload(false), 413);
  EXPECT_EQ(upload(true), 413);
  long long took = ms_since(start);
  std::this_thread::sleep_for(300ms);
  normal.stop = true;
  traffic.join();
  EXPECT_GE(normal.served, 2);
  EXPECT_EQ(normal.failed, 0);
  EXPECT_LT(normal.slowestMs, 1000);
  std::printf("[ measured ] two 10 MiB uploads refused in %lld ms; normal client: %d served, slowest %lld ms\n",
              took, normal.served.load(), normal.slowestMs.load());
}

TEST(Server, ExpectContinueGetsInterimResponse) {
  auto server = start_server(test::local_options(), test::demo_router());
  Client client(server->port());
  ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto interim = client.read_response();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.send("12345"));
  auto final_response = client.read_response();
  ASSERT_TRUE(final_response);
  EXPECT_EQ(final_response->status, 200);
  EXPECT_EQ(final_response->body, "12345");
}

// A client sending one header byte per 500 ms is cut off once the request has taken longer than
// the read timeout as a whole, while other clients are served.
TEST(Server, SlowLorisIsCutOffAfterTheReadTimeout) {
  auto pair = test::make_certificate("webhook.test", 1);
  auto tls = test::client_context();
  for (bool use_tls : {false, true}) {
    SCOPED_TRACE(use_tls ? "TLS" : "plain");
    auto options = test::local_options();
    options.readTimeout = 1500ms;
    auto server = start_server(options, test::demo_router(), use_tls ? test::fixed_tls(pair) : nullptr);
    NormalTraffic normal{server->port(), use_tls ? tls.get() : nullptr};
    std::thread traffic([&] { normal.run(); });

    Client slow(server->port(), use_tls ? tls.get() : nullptr);
    ASSERT_TRUE(slow.ok()) << slow.error();
    const std::string request = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + std::string(100, 'p');
    auto start = Clock::now();
    long long cut_after = -1;
    std::size_t bytes_sent = 0;
    for (std::size_t i = 0; i < 20 && i < request.size(); ++i) {
      if (!slow.send(std::string_view(&request[i], 1))) {
        cut_after = ms_since(start);
        break;
      }
      ++bytes_sent;
      if (slow.wait_closed(500ms)) {
        cut_after = ms_since(start);
        break;
      }
    }
    normal.stop = true;
    traffic.join();
    EXPECT_GE(cut_after, 1300) << "cut off too early";
    EXPECT_LE(cut_after, 3000) << "not cut off in time";
    EXPECT_GE(normal.served, 5);
    EXPECT_EQ(normal.failed, 0);
    EXPECT_LT(normal.slowestMs, 1000);
    EXPECT_GE(server->stats().timeouts, 1u);
    std::printf("[ measured ] %s slow-loris cut off after %lld ms (%zu bytes); normal client: %d served, slowest %lld ms\n",
                use_tls ? "TLS" : "plain", cut_after, bytes_sent, normal.served.load(), normal.slowestMs.load());
  }
}

TEST(Server, IdleConnectionsTimeOut) {
  auto options = test::local_options();
  options.idleTimeout = 300ms;
  auto server = start_server(options, test::demo_router());

  Client used(server->port());
  ASSERT_TRUE(used.round_trip("GET", "/hello"));
  auto start = Clock::now();
  EXPECT_TRUE(used.wait_closed(3s));
  long long after_request = ms_since(start);

  start = Clock::now();
  Client silent(server->port());
  EXPECT_TRUE(silent.wait_closed(3s));
  long long silent_for = ms_since(start);

  EXPECT_GE(after_request, 200);
  EXPECT_LE(after_request, 1500);
  EXPECT_GE(silent_for, 200);
  EXPECT_LE(silent_for, 1500);
  EXPECT_TRUE(eventually([&] { return server->stats().timeouts >= 2; }));
}

TEST(Server, StalledTlsHandshakeTimesOut) {
  auto options = test::local_options();
  options.handshakeTimeout = 300ms;
  auto server = start_server(options, test::demo_router(), test::fixed_tls(test::make_certificate("w", 1)));
  Client raw(server->port());  // TCP only: never sends a ClientHello
  auto start = Clock::now();
  EXPECT_TRUE(raw.wait_closed(3s));
  long long took = ms_since(start);
  EXPECT_GE(took, 200);
  EXPECT_LE(took, 1500);
}

TEST(Server, AtTheCapWithNoneIdleNewConnectionsAreClosedThenServedWhenASlotFrees) {
  auto options = test::local_options();
  options.maxConnections = 2;
  auto server = start_server(options, test::demo_router());

  // Two connections in the middle of a request: busy, not evictable.
  Client first(server->port());
  Client second(server->port());
  ASSERT_TRUE(first.send("GET /hello HTTP/1.1\r\n"));
  ASSERT_TRUE(second.send("GET /hello HTTP/1.1\r\n"));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(eventually([&] {
    auto stats = server->stats();
    return stats.openConnections == 2 && stats.idleConnections == 0;
  }));

  Client third(server->port());
  EXPECT_TRUE(third.wait_closed(2s));
  EXPECT_EQ(server->stats().rejectedConnections, 1u);

  // Finishing a request makes that connection idle, so a newcomer evicts it.
  ASSERT_TRUE(first.send("Host: x\r\n\r\n"));
  auto done = first.read_response();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 200);
  // The response can reach the client before the server has put the connection back to idle.
  ASSERT_TRUE(eventually([&] { return server->stats().idleConnections == 1; }));
  Client fourth(server->port());
  auto served = fourth.round_trip("GET", "/hello");
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);
  EXPECT_TRUE(first.wait_closed(2s));
  EXPECT_EQ(server->stats().evictedConnections, 1u);

  ASSERT_TRUE(second.send("Host: x\r\n\r\n"));
  auto late = second.read_response();
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 200);
}

TEST(Server, AtTheCapTheLongestIdleConnectionIsEvicted) {
  auto options = test::local_options();
  options.maxConnections = 3;
  auto server = start_server(options, test::demo_router());
  std::vector<std::unique_ptr<Client>> clients;
  for (std::size_t i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<Client>(server->port()));
    ASSERT_TRUE(clients.back()->round_trip("GET", "/hello"));
    ASSERT_TRUE(eventually([&] { return server->stats().idleConnections == i + 1; }));
  }
  Client newcomer(server->port());
  ASSERT_TRUE(newcomer.round_trip("GET", "/hello"));
  EXPECT_TRUE(clients[0]->wait_closed(2s));
  auto still = clients[1]->round_trip("GET", "/hello");
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);
}

struct IdleResult {
  long long connectMs = 0;
  long long normalMs = 0;
  long long rssGrowthKib = 0;
  ServerStats stats;
};

// Opens `count` TLS connections that complete their handshakes and then say nothing, then times
// a normal client's request.
IdleResult hold_idle_tls_connections(const ServerOptions& options, int count) {
  IdleResult result;
  auto server = start_server(options, test::demo_router(), test::fixed_tls(test::make_certificate("webhook", 1)));
  auto tls = test::client_context();
  {
    Client warm_up(server->port(), tls.get());  // thread stacks, OpenSSL tables: not per connection
    EXPECT_TRUE(warm_up.round_trip("GET", "/hello"));
  }
  std::size_t rss_before = test::rss_kib();
  std::vector<std::unique_ptr<Client>> idle;
  auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    idle.push_back(std::make_unique<Client>(server->port(), tls.get()));
    if (!idle.back()->ok()) {
      ADD_FAILURE() << "connection " << i << ": " << idle.back()->error();
      break;
    }
  }
  result.connectMs = ms_since(start);
  std::size_t expected_open = std::min<std::size_t>(count, options.maxConnections);
  EXPECT_TRUE(eventually([&] { return server->stats().openConnections <= expected_open; }));

  start = Clock::now();
  Client normal(server->port(), tls.get());
  auto response = normal.round_trip("GET", "/hello");
  result.normalMs = ms_since(start);
  EXPECT_TRUE(normal.ok()) << normal.error();
  EXPECT_TRUE(response && response->status == 200);
  result.rssGrowthKib = static_cast<long long>(test::rss_kib()) - static_cast<long long>(rss_before);
  result.stats = server->stats();
  server->stop(1s);
  return result;
}

TEST(Server, ThousandIdleTlsClientsAtTheDefaultCapDoNotLockOutARealClient) {
  ASSERT_GE(test::raise_fd_limit(4096), 2200u);
  auto options = test::local_options();
  ASSERT_EQ(options.maxConnections, 512u);
  IdleResult r = hold_idle_tls_connections(options, 1000);
  EXPECT_LT(r.normalMs, 1000);
  EXPECT_LE(r.stats.openConnections, 513u);
  EXPECT_GE(r.stats.evictedConnections, 489u);  // 1,000 + the normal client - 512
  EXPECT_EQ(r.stats.rejectedConnections, 0u);
  EXPECT_LT(r.rssGrowthKib, kRssBoundKib);
  std::printf("[ measured ] 1000 idle TLS clients, cap 512: handshakes %lld ms, normal request %lld ms, "
              "evicted %llu, open %zu, RSS +%lld KiB\n",
              r.connectMs, r.normalMs, static_cast<unsigned long long>(r.stats.evictedConnections),
              r.stats.openConnections, r.rssGrowthKib);
}

TEST(Server, ThousandClientsThatNeverStartTlsDoNotLockOutARealClient) {
  ASSERT_GE(test::raise_fd_limit(4096), 2200u);
  auto options = test::local_options();
  auto server = start_server(options, test::demo_router(), test::fixed_tls(test::make_certificate("webhook", 1)));
  // Plain TCP connections that never send a ClientHello: stuck in the handshake for its timeout.
  std::vector<std::unique_ptr<Client>> stalled;
  for (int i = 0; i < 1000; ++i) {
    stalled.push_back(std::make_unique<Client>(server->port()));
    ASSERT_TRUE(stalled.back()->ok()) << stalled.back()->error();
  }
  ASSERT_TRUE(eventually([&] { return server->stats().acceptedConnections + server->stats().rejectedConnections >= 1000u; }));
  auto tls = test::client_context();
  auto start = Clock::now();
  Client normal(server->port(), tls.get());
  auto response = normal.round_trip("GET", "/hello");
  const long long took = ms_since(start);
  ASSERT_TRUE(normal.ok()) << normal.error();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_LT(took, 1000) << "a real client waited behind stalled handshakes";
  EXPECT_GE(server->stats().evictedConnections, 489u);
  std::printf("[ measured ] 1000 stalled handshakes, cap 512: normal TLS request in %lld ms, evicted %llu\n", took,
              static_cast<unsigned long long>(server->stats().evictedConnections));
}

TEST(Server, ThousandIdleTlsConnectionsHeldOpenKeepMemoryBounded) {
  ASSERT_GE(test::raise_fd_limit(4096), 2200u);
  auto options = test::local_options();
  options.maxConnections = 2000;
  IdleResult r = hold_idle_tls_connections(options, 1000);
  EXPECT_LT(r.normalMs, 1000);
  EXPECT_EQ(r.stats.evictedConnections, 0u);
  EXPECT_GE(r.stats.openConnections, 1000u);
  EXPECT_LT(r.rssGrowthKib, kRssBoundKib);
  std::printf("[ measured ] 1000 idle TLS connections held open: handshakes %lld ms, normal request %lld ms, "
              "RSS +%lld KiB (%lld KiB per connection, client and server side together)\n",
              r.connectMs, r.normalMs, r.rssGrowthKib, r.rssGrowthKib / 1000);
}

TEST(Server, GracefulStopLetsAnInFlightRequestFinish) {
  auto router = test::demo_router();
  std::atomic<bool> started{false};
  router->add("/slow", [&](const Request&) {
    started = true;
    std::this_thread::sleep_for(800ms);
    return Response::text(200, "done");
  });
  auto server = start_server(test::local_options(), router);
  Client idle(server->port());
  ASSERT_TRUE(idle.round_trip("GET", "/hello"));
  ASSERT_TRUE(eventually([&] { return server->stats().idleConnections == 1; }));
  Client busy(server->port());
  ASSERT_TRUE(busy.send(test::request_text("GET", "/slow")));
  ASSERT_TRUE(eventually([&] { return started.load(); }));

  auto stop_started = Clock::now();
  auto stopping = std::async(std::launch::async, [&] {
    server->stop(5s);
    return ms_since(stop_started);
  });

  EXPECT_TRUE(idle.wait_closed(2s));
  long long idle_closed_after = ms_since(stop_started);

  auto response = busy.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "done");
  EXPECT_EQ(response->header("Connection"), "close");
  EXPECT_TRUE(busy.wait_closed(3s));

  ASSERT_EQ(stopping.wait_for(6s), std::future_status::ready);
  long long stop_took = stopping.get();
  EXPECT_LT(idle_closed_after, 500);
  EXPECT_GE(stop_took, 500);
  EXPECT_LT(stop_took, 3000);

  Client late(server->port());
  EXPECT_FALSE(late.ok() && late.round_trip("GET", "/hello"));
  std::printf("[ measured ] stop: idle connection closed after %lld ms, returned after %lld ms (handler 800 ms)\n",
              idle_closed_after, stop_took);
}

TEST(Server, StopClosesUnfinishedRequestsAfterTheDrainTime) {
  auto server = start_server(test::local_options(), test::demo_router());
  Client partial(server->port());
  ASSERT_TRUE(partial.send("GET /hello HTTP/1.1\r\nHost:"));
  // Reading a request, not idle: stop() must wait for it, then close it.
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(eventually([&] {
    auto stats = server->stats();
    return stats.openConnections == 1 && stats.idleConnections == 0;
  }));
  auto start = Clock::now();
  server->stop(300ms);
  long long took = ms_since(start);
  EXPECT_GE(took, 250);
  EXPECT_LT(took, 1500);
  EXPECT_TRUE(partial.wait_closed(1s));
}

TEST(Server, ServesMetricsFromARegistry) {
  metrics::Registry registry;
  registry.counter("plano_test_total", "Things.").labels().inc(3);
  auto router = std::make_shared<Router>();
  router->add("/metrics", [&](const Request&) {
    return Response{200, metrics::Registry::kContentType, registry.render(), {}};
  }, {"GET"});
  auto server = start_server(test::local_options(), router);
  Client client(server->port());
  auto response = client.round_trip("GET", "/metrics");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response->body, "# HELP plano_test_total Things.\n# TYPE plano_test_total counter\nplano_test_total 3\n");
}

TEST(Server, BindFailureThrows) {
  auto first = start_server(test::local_options(), test::demo_router());
  auto options = test::local_options();
  options.port = first->port();
  EXPECT_THROW(start_server(options, test::demo_router()), std::runtime_error);
}

}  // namespace
}  // namespace plano::http
