#include "core/http/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace plano::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

// Counts the bytes a connection receives, TLS records included, for the minimum-rate check. A Beast
// rate policy: the stream reports every transfer to it, and it limits nothing.
class ReceivedBytes {
 public:
  std::uint64_t total() const { return total_; }

 private:
  friend class beast::rate_policy_access;
  static std::size_t available_read_bytes() noexcept { return std::numeric_limits<std::size_t>::max(); }
  static std::size_t available_write_bytes() noexcept { return std::numeric_limits<std::size_t>::max(); }
  void transfer_read_bytes(std::size_t n) noexcept { total_ += n; }
  static void transfer_write_bytes(std::size_t) noexcept {}
  static void on_timer() noexcept {}

  std::uint64_t total_ = 0;  // on the connection's strand only
};

using TcpStream = beast::basic_stream<tcp, net::any_io_executor, ReceivedBytes>;
using TlsStream = beast::ssl_stream<TcpStream>;

// The first read of a request; the parser grows the buffer if the request needs more.
constexpr std::size_t kIdleReadBytes = 2048;
// A buffer grown past this by a large request is released before the connection idles.
constexpr std::size_t kKeepBufferBytes = 16u << 10;
// The parser reads at most this much per step on top of the header.
constexpr std::size_t kReadChunkBytes = 64u << 10;
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(2);
// After an error response the rest of the request is read and discarded for a moment: closing
// with unread data makes the kernel send a reset, which can destroy the response in flight.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr std::size_t kLingerMaxBytes = 16u << 20;
// After the drain time, connections are closed and get this long to unwind.
constexpr auto kForceCloseGrace = std::chrono::seconds(1);
constexpr auto kWarnEvery = std::chrono::seconds(10);
// How often a request waiting for body budget looks again.
constexpr auto kBudgetPoll = std::chrono::milliseconds(20);

std::string str(beast::string_view s) { return std::string(s.data(), s.size()); }

// Lets a warning through at most once per kWarnEvery, so a flood of connections cannot flood the log.
class Throttle {
 public:
  bool allow() {
    const Clock::rep now = Clock::now().time_since_epoch().count();
    const Clock::rep every = std::chrono::duration_cast<Clock::duration>(kWarnEvery).count();
    Clock::rep last = last_.load(std::memory_order_relaxed);
    if (last != 0 && now - last < every) return false;
    return last_.compare_exchange_strong(last, now);
  }

 private:
  std::atomic<Clock::rep> last_{0};
};

class Connection;

// What the listener and the connections share. Connections hold it by shared_ptr because the
// io_context may destroy them after the Server object has begun to go away.
struct Shared {
  Shared(const ServerOptions& o, std::shared_ptr<Handler> h, std::shared_ptr<TlsContextSource> t)
      : options(o), handler(std::move(h)), tls(std::move(t)) {}

  const ServerOptions options;
  const std::shared_ptr<Handler> handler;
  const std::shared_ptr<TlsContextSource> tls;

  // Takes `bytes` of the body budget if they fit in what is left.
  bool take_budget(std::size_t bytes) {
    std::size_t in_use = budgetInUse.load();
    do {
      if (bytes > options.bodyBudgetBytes - in_use) return false;
    } while (!budgetInUse.compare_exchange_weak(in_use, in_use + bytes));
    std::size_t peak = budgetPeak.load();
    while (in_use + bytes > peak && !budgetPeak.compare_exchange_weak(peak, in_use + bytes)) {
    }
    return true;
  }
  void return_budget(std::size_t bytes) { budgetInUse -= bytes; }

  std::mutex mutex;
  std::condition_variable drained;
  bool stopping = false;         // guarded by mutex
  std::size_t open = 0;          // guarded by mutex; counts Slots
  std::list<Connection*> all;    // guarded by mutex
  // Guarded by mutex: connections in a TLS handshake, idle, or receiving a request, in the order
  // their wait began (longest first): the ones a new connection at the cap may evict.
  std::list<Connection*> waiting;
  std::size_t idleCount = 0, receivingCount = 0;  // guarded by mutex; of `waiting`
  std::atomic<bool> stoppingFlag{false};  // mirrors `stopping` for lock-free reads

  std::atomic<std::uint64_t> accepted{0}, rejected{0}, evicted{0}, requests{0}, timeouts{0}, tooSlow{0}, overBudget{0};
  std::atomic<std::size_t> budgetInUse{0}, budgetPeak{0};
  Throttle capWarning, certificateWarning, acceptWarning;
};

// One counted place among maxConnections, given back when the connection holding it is destroyed.
class Slot {
 public:
  explicit Slot(Shared* shared) : shared_(shared) {}
  Slot(Slot&& other) noexcept : shared_(std::exchange(other.shared_, nullptr)) {}
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  Slot& operator=(Slot&&) = delete;
  ~Slot() {
    if (!shared_) return;
    std::lock_guard lock(shared_->mutex);
    if (--shared_->open == 0) shared_->drained.notify_all();
  }

 private:
  Shared* shared_;
};

// The transport-independent part of a connection: its place in the server's lists.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Shared> shared, Slot slot, net::any_io_executor executor)
      : shared_(std::move(shared)), slot_(std::move(slot)), executor_(std::move(executor)) {
    std::lock_guard lock(shared_->mutex);
    allPosition_ = shared_->all.insert(shared_->all.end(), this);
  }
  virtual ~Connection() {
    std::lock_guard lock(shared_->mutex);
    unlist_waiting();
    shared_->all.erase(allPosition_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  virtual void start() = 0;
  // Callable from any thread; all act on the connection's strand. close_if_idle closes a connection
  // in its handshake or waiting for a request; evict also one receiving a request.
  virtual void close_if_idle() = 0;
  virtual void evict() = 0;
  virtual void close_now() = 0;

  // Under shared.mutex: takes the connection waiting longest off the waiting list, or null.
  static std::shared_ptr<Connection> take_longest_waiting(Shared& shared) {
    while (!shared.waiting.empty()) {
      Connection* longest = shared.waiting.front();
      longest->unlist_waiting();
      // Null when it is being destroyed right now; its slot is about to come back anyway.
      if (auto alive = longest->weak_from_this().lock()) return alive;
    }
    return nullptr;
  }

 protected:
  enum class Wait { Idle, Receiving };  // Idle: in the TLS handshake or waiting for a request

  // Idle waits are refused (false) when the server is stopping: the connection should close
  // instead. A request already arriving is received, so it can be answered.
  bool enter_waiting(Wait kind) {
    std::lock_guard lock(shared_->mutex);
    if (kind == Wait::Idle && shared_->stopping) return false;
    unlist_waiting();
    waitingPosition_ = shared_->waiting.insert(shared_->waiting.end(), this);
    waitingKind_ = kind;
    ++(kind == Wait::Idle ? shared_->idleCount : shared_->receivingCount);
    return true;
  }
  void leave_waiting() {
    std::lock_guard lock(shared_->mutex);
    unlist_waiting();
  }

  const std::shared_ptr<Shared> shared_;
  const ServerOptions& options() const { return shared_->options; }

 private:
  Slot slot_;  // destroyed after the destructor body has left the lists

 protected:
  const net::any_io_executor executor_;  // the connection's strand

 private:
  // Under shared_->mutex.
  void unlist_waiting() {
    if (!waitingPosition_) return;
    shared_->waiting.erase(*waitingPosition_);
    --(waitingKind_ == Wait::Idle ? shared_->idleCount : shared_->receivingCount);
    waitingPosition_.reset();
  }

  std::list<Connection*>::iterator allPosition_;                     // guarded by shared_->mutex
  std::optional<std::list<Connection*>::iterator> waitingPosition_;  // guarded by shared_->mutex
  Wait waitingKind_ = Wait::Idle;                                    // guarded by shared_->mutex
};

bool is_token_char(char c) {
  static const std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return std::isalnum(static_cast<unsigned char>(c)) || kSpecials.find(c) != std::string_view::npos;
}

// Fields a handler may set: well-formed, and none that the server itself manages.
bool allowed_field(const std::string& name, const std::string& value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) return false;
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) return false;
  for (const char* managed : {"content-length", "transfer-encoding", "connection"}) {
    if (beast::iequals(name, managed)) return false;
  }
  return true;
}

// `head`: the answer to a HEAD request, which carries the Content-Length but not the body.
bhttp::response<bhttp::string_body> to_message(Response&& response, unsigned version, bool keep_alive, bool head) {
  bhttp::response<bhttp::string_body> out;
  out.version(version);
  int status = response.status;
  if (status < 200 || status > 999) {
    spdlog::error("handler returned HTTP status {}; sending 500", status);
    response = Response::text(500, "internal error\n");
    status = 500;
  }
  out.result(static_cast<unsigned>(status));
  if (!response.contentType.empty()) out.set(bhttp::field::content_type, response.contentType);
  for (const auto& [name, value] : response.headers) {
    if (allowed_field(name, value)) {
      out.insert(name, value);
    } else {
      std::string shown = name.substr(0, 64);
      std::replace_if(shown.begin(), shown.end(), [](char c) { return !std::isgraph(static_cast<unsigned char>(c)); }, '?');
      spdlog::warn("handler set header field \"{}\", malformed or the server's own; not sent", shown);
    }
  }
  // These statuses cannot carry a body.
  if (status != 204 && status != 304) out.body() = std::move(response.body);
  out.keep_alive(keep_alive);
  out.prepare_payload();
  if (head) out.body().clear();
  return out;
}

Request to_request(bhttp::request<bhttp::string_body>& message, const std::string& remote) {
  Request request;
  request.method = str(message.method_string());
  request.target = str(message.target());
  auto question = request.target.find('?');
  request.path = request.target.substr(0, question);
  if (question != std::string::npos) request.query = request.target.substr(question + 1);
  for (const auto& field : message) request.headers.emplace_back(str(field.name_string()), str(field.value()));
  request.body = std::move(message.body());
  request.remoteAddress = remote;
  return request;
}

// One connection, plain (Stream = TcpStream) or TLS. Every member function runs on the
// connection's strand; pending operations hold the shared_ptr that keeps it alive.
template <class Stream>
class Session final : public Connection {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Session(std::shared_ptr<Shared> shared, Slot slot, tcp::socket socket, std::shared_ptr<SslContext> context,
          std::string remote)
      : Connection(std::move(shared), std::move(slot), socket.get_executor()),
        context_(std::move(context)),
        stream_(make_stream(std::move(socket), context_.get())),
        remote_(std::move(remote)),
        buffer_(options().maxHeaderBytes + kReadChunkBytes),
        rateTimer_(executor_),
        budgetTimer_(executor_) {}

  ~Session() override { return_budget(); }

  void start() override {
    net::dispatch(executor_, [self = self()] { self->begin(); });
  }

  void close_if_idle() override {
    net::post(executor_, [self = self()] {
      if (self->state_ == State::Idle || self->state_ == State::Handshake) self->close_socket();
    });
  }

  void evict() override {
    net::post(executor_, [self = self()] {
      switch (self->state_) {
        case State::Handshake:
        case State::Idle:
        case State::Reading:
        case State::AwaitingBudget:
          spdlog::debug("{}: {}: evicted to admit a new connection", self->options().name, self->remote_);
          return self->close_socket();
        default:
          return;  // its request is complete: it is served
      }
    });
  }

  void close_now() override {
    net::post(executor_, [self = self()] { self->close_socket(); });
  }

 private:
  enum class State { Handshake, Idle, Reading, AwaitingBudget, Handling, Writing, Closing };

  static Stream make_stream(tcp::socket&& socket, SslContext* context) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *context);
    } else {
      return Stream(std::move(socket));
    }
  }

  std::shared_ptr<Session> self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  TcpStream& tcp() { return beast::get_lowest_layer(stream_); }
  std::uint64_t received() { return tcp().rate_policy().total(); }

  void begin() {
    if constexpr (kTls) {
      // A connection that has not finished its handshake does no work yet, so it may be evicted
      // like an idle one: otherwise clients that never send a ClientHello could hold every slot.
      if (!enter_waiting(Wait::Idle)) return close_gracefully();  // stopping
      state_ = State::Handshake;
      tcp().expires_after(options().handshakeTimeout);
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = self()](error_code ec) { self->on_handshake(ec); });
    } else {
      wait_for_request();
    }
  }

  void on_handshake(error_code ec) {
    leave_waiting();
    if (ec) return finish("TLS handshake", ec);
    wait_for_request();
  }

  // Waits for the first byte under the idle timeout; the request timeout starts once it arrives.
  void wait_for_request() {
    receivedBeforeRequest_ = received();
    if (buffer_.size() > 0) return read_request();  // the next request came with the last one
    if (!enter_waiting(Wait::Idle)) return close_gracefully();  // stopping
    state_ = State::Idle;
    tcp().expires_after(options().idleTimeout);
    stream_.async_read_some(buffer_.prepare(kIdleReadBytes),
                            [self = self()](error_code ec, std::size_t n) { self->on_first_bytes(ec, n); });
  }

  void on_first_bytes(error_code ec, std::size_t n) {
    leave_waiting();
    if (ec) return finish("waiting for a request", ec);
    buffer_.commit(n);
    read_request();
  }

  void read_request() {
    enter_waiting(Wait::Receiving);
    state_ = State::Reading;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(options().maxHeaderBytes, UINT32_MAX)));
    parser_->body_limit(static_cast<std::uint64_t>(options().maxBodyBytes));
    // One deadline for the whole request however its bytes trickle in.
    tcp().expires_after(options().requestTimeout);
    watch_rate(receivedBeforeRequest_);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = self()](error_code ec, std::size_t) { self->on_header(ec); });
  }

  // Every kRateWindow while the request is incomplete: cuts it if the window brought fewer bytes
  // than the minimum rate asks. Windows spent waiting for body budget are not counted.
  void watch_rate(std::uint64_t baseline) {
    if (options().minRequestBytesPerSecond == 0) return;
    rateBaseline_ = baseline;
    rateTimer_.expires_after(ServerOptions::kRateWindow);
    rateTimer_.async_wait([self = self(), generation = ++rateGeneration_](error_code ec) {
      if (ec || generation != self->rateGeneration_) return;  // stopped, or a later request's watch
      self->on_rate_window();
    });
  }

  void on_rate_window() {
    if (state_ != State::Reading && state_ != State::AwaitingBudget) return;
    const std::uint64_t now_received = received();
    const std::uint64_t wanted = static_cast<std::uint64_t>(options().minRequestBytesPerSecond) *
                                 static_cast<std::uint64_t>(ServerOptions::kRateWindow.count());
    if (state_ == State::Reading && now_received - rateBaseline_ < wanted) {
      ++shared_->tooSlow;
      spdlog::debug("{}: {}: request cut: {} bytes in {} s, below the minimum of {} bytes/s", options().name, remote_,
                    now_received - rateBaseline_, ServerOptions::kRateWindow.count(), options().minRequestBytesPerSecond);
      return close_socket();
    }
    watch_rate(now_received);
  }

  // Ends the rate watch and any wait for budget: the request is complete or the connection ends.
  void stop_watching() {
    ++rateGeneration_;
    rateTimer_.cancel();
    budgetTimer_.cancel();
  }

  void on_header(error_code ec) {
    if (ec) return on_read_error(ec);
    // curl and others wait for this before sending a large body; one that is too large, or finds
    // no body budget, never gets it.
    expectContinue_ = !parser_->is_done() && beast::iequals(parser_->get()[bhttp::field::expect], "100-continue");
    read_body();
  }

  // The body budget this request needs before its next bytes are read: none while its body is
  // small; its declared length; a chunked body past the small size, the most a body may hold.
  std::size_t body_budget_needed() {
    constexpr std::size_t small = ServerOptions::kSmallBodyBytes;
    if (auto declared = parser_->content_length()) return *declared > small ? static_cast<std::size_t>(*declared) : 0;
    return parser_->get().body().size() > small ? options().maxBodyBytes : 0;
  }

  void return_budget() {
    shared_->return_budget(budgetHeld_);
    budgetHeld_ = 0;
  }

  // One step of the body at a time, so that a chunked body takes budget as it grows.
  void read_body() {
    if (parser_->is_done()) return on_request();
    const std::size_t needed = body_budget_needed();
    if (needed > budgetHeld_) {
      if (needed > options().bodyBudgetBytes) {
        return send_error(413, "request body of " + std::to_string(needed) + " bytes is more than the " +
                                   std::to_string(options().bodyBudgetBytes) + " bytes this server holds at once\n");
      }
      if (!shared_->take_budget(needed - budgetHeld_)) return await_budget();
      budgetHeld_ = needed;
    }
    if (state_ == State::AwaitingBudget) watch_rate(received());  // the wait is not the client's
    state_ = State::Reading;
    if (expectContinue_) {
      expectContinue_ = false;
      interim_.emplace(bhttp::status::continue_, parser_->get().version());
      bhttp::async_write(stream_, *interim_, [self = self()](error_code ec, std::size_t) {
        self->interim_.reset();
        if (ec) return self->finish("writing 100 Continue", ec);
        self->read_body();
      });
      return;
    }
    bhttp::async_read_some(stream_, buffer_, *parser_, [self = self()](error_code ec, std::size_t) {
      if (ec) return self->on_read_error(ec);
      self->read_body();
    });
  }

  // Over budget: looks again every kBudgetPoll until bodyBudgetWait has passed, then answers 503.
  void await_budget() {
    const auto now = Clock::now();
    if (state_ != State::AwaitingBudget) {
      state_ = State::AwaitingBudget;
      budgetDeadline_ = now + options().bodyBudgetWait;
    }
    if (now >= budgetDeadline_) {
      ++shared_->overBudget;
      return send_error(503, "the server is holding as many request bodies as it may; retry shortly\n",
                        {{"Retry-After", "1"}});
    }
    budgetTimer_.expires_after(kBudgetPoll);
    budgetTimer_.async_wait([self = self()](error_code ec) {
      if (!ec) self->read_body();
    });
  }

  void on_read_error(error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return send_error(413, "request body larger than " + std::to_string(options().maxBodyBytes) + " bytes\n");
    }
    if (ec == bhttp::error::header_limit) return send_error(431, "request header fields too large\n");
    bool parse_error = ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
                       ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
    if (parse_error) return send_error(400, "malformed request: " + ec.message() + "\n");
    finish("reading a request", ec);  // timed out (the stream has closed the socket), cut, reset, or EOF
  }

  void on_request() {
    leave_waiting();
    stop_watching();
    state_ = State::Handling;
    tcp().expires_never();
    auto& message = parser_->get();
    const unsigned version = message.version();
    const bool client_keeps_alive = message.keep_alive();
    const bool head = message.method() == bhttp::verb::head;
    Response response;
    {
      Request request = to_request(message, remote_);
      parser_.reset();
      try {
        response = shared_->handler->handle(request);
      } catch (const std::exception& e) {
        spdlog::error("{}: {} {}: handler failed: {}", options().name, request.method, request.path, e.what());
        response = Response::text(500, "internal error\n");
      } catch (...) {
        spdlog::error("{}: {} {}: handler failed", options().name, request.method, request.path);
        response = Response::text(500, "internal error\n");
      }
    }  // the body is gone: its budget goes back in send()
    // Decided after the handler: a stop that began meanwhile closes this connection after it.
    const bool keep_alive = client_keeps_alive && !shared_->stoppingFlag.load();
    send(std::move(response), version, keep_alive, false, head);
  }

  void send_error(int status, std::string text, Headers headers = {}) {
    spdlog::debug("{}: {}: answering {}: {}", options().name, remote_, status, text);
    leave_waiting();
    parser_.reset();  // what it holds of the body will not be answered
    Response response = Response::text(status, std::move(text));
    response.headers = std::move(headers);
    send(std::move(response), 11, false, true);
  }

  void send(Response response, unsigned version, bool keep_alive, bool linger, bool head = false) {
    stop_watching();
    return_budget();
    state_ = State::Writing;
    response_.emplace(to_message(std::move(response), version, keep_alive, head));
    ++shared_->requests;
    tcp().expires_after(options().writeTimeout);
    bhttp::async_write(stream_, *response_, [self = self(), keep_alive, linger](error_code ec, std::size_t) {
      self->on_written(ec, keep_alive, linger);
    });
  }

  void on_written(error_code ec, bool keep_alive, bool linger) {
    response_.reset();
    if (ec) return finish("writing a response", ec);
    if (linger) return linger_close();
    if (!keep_alive) return close_gracefully();
    if (buffer_.size() == 0 && buffer_.capacity() > kKeepBufferBytes) buffer_.shrink_to_fit();
    wait_for_request();
  }

  // Half-closes, then discards what the client is still sending (bounded in time and bytes)
  // from the raw socket, below TLS: none of it will be answered.
  void linger_close() {
    state_ = State::Closing;
    error_code ignored;
    tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    tcp().expires_after(kLingerTime);
    discard_.resize(16u << 10);
    drain();
  }

  void drain() {
    tcp().async_read_some(net::buffer(discard_), [self = self()](error_code ec, std::size_t n) {
      self->discarded_ += n;
      if (ec || self->discarded_ > kLingerMaxBytes) return;  // done; the destructor closes the socket
      self->drain();
    });
  }

  void close_gracefully() {
    state_ = State::Closing;
    if constexpr (kTls) {
      // Sends close_notify and waits briefly for the client's.
      tcp().expires_after(kTlsShutdownTimeout);
      stream_.async_shutdown([self = self()](error_code) {});
    } else {
      error_code ignored;
      tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  // Pending reads and writes end with operation_aborted; the timers let go of the connection.
  void close_socket() {
    stop_watching();
    tcp().close();
  }

  // The connection ends: nothing more is scheduled, so the last reference goes and the
  // destructor closes the socket.
  void finish(const char* during, error_code ec) {
    stop_watching();
    if (ec == beast::error::timeout) {
      ++shared_->timeouts;
      spdlog::debug("{}: {}: timed out {}", options().name, remote_, during);
    } else if (ec != net::error::operation_aborted && ec != net::error::eof && ec != bhttp::error::end_of_stream) {
      spdlog::debug("{}: {}: {}: {}", options().name, remote_, during, ec.message());
    }
  }

  std::shared_ptr<SslContext> context_;  // declared before stream_: outlives it
  Stream stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  State state_ = State::Handshake;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool expectContinue_ = false;
  std::optional<bhttp::response<bhttp::empty_body>> interim_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  std::vector<char> discard_;
  std::size_t discarded_ = 0;

  net::steady_timer rateTimer_;
  std::uint64_t rateGeneration_ = 0;  // a watch whose generation has passed ignores its timer
  std::uint64_t rateBaseline_ = 0;    // received() when the current window began
  std::uint64_t receivedBeforeRequest_ = 0;
  net::steady_timer budgetTimer_;
  Clock::time_point budgetDeadline_;
  std::size_t budgetHeld_ = 0;  // of the server's body budget
};

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& options, std::shared_ptr<Handler> handler, std::shared_ptr<TlsContextSource> tls)
      : shared_(std::make_shared<Shared>(options, std::move(handler), std::move(tls))),
        acceptor_(net::make_strand(ioc_)),
        retry_(acceptor_.get_executor()),
        work_(ioc_.get_executor()) {
    if (!shared_->handler) throw std::invalid_argument("start_server: no handler");
    tcp::endpoint endpoint(net::ip::make_address(options.address), options.port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();
    accept();
    for (int i = 0; i < std::max(1, options.threads); ++i) workers_.emplace_back([this] { run(); });
    spdlog::info("{}: serving {} on {}:{}", options.name, shared_->tls ? "HTTPS" : "HTTP", options.address, port_);
  }

  ~ServerImpl() override { stop(std::chrono::milliseconds(0)); }

  std::uint16_t port() const override { return port_; }

  void stop(std::chrono::milliseconds drain) override {
    std::call_once(stopped_, [&] { shutdown(drain); });
  }

  ServerStats stats() const override {
    ServerStats s;
    {
      std::lock_guard lock(shared_->mutex);
      s.openConnections = shared_->open;
      s.idleConnections = shared_->idleCount;
      s.receivingConnections = shared_->receivingCount;
    }
    s.acceptedConnections = shared_->accepted;
    s.rejectedConnections = shared_->rejected;
    s.evictedConnections = shared_->evicted;
    s.requests = shared_->requests;
    s.timeouts = shared_->timeouts;
    s.tooSlowRequests = shared_->tooSlow;
    s.overBudgetRequests = shared_->overBudget;
    s.bodyBudgetInUse = shared_->budgetInUse;
    s.bodyBudgetPeak = shared_->budgetPeak;
    return s;
  }

 private:
  void run() {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (const std::exception& e) {  // nothing should throw here; keep the worker alive if it does
        spdlog::error("{}: worker: {}", shared_->options.name, e.what());
      }
    }
  }

  void accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           [this](error_code ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
  }

  void on_accept(error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors, typically: pause rather than spin on a failing accept.
      if (shared_->acceptWarning.allow()) spdlog::warn("{}: accept: {}", shared_->options.name, ec.message());
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([this](error_code wait_ec) {
        if (!wait_ec && acceptor_.is_open()) accept();
      });
      return;
    }
    admit(std::move(socket));
    accept();
  }

  // Takes a slot for the new connection, evicting the connection waiting longest at the cap.
  std::optional<Slot> reserve_slot() {
    std::shared_ptr<Connection> victim;
    std::optional<Slot> slot;
    {
      std::lock_guard lock(shared_->mutex);
      if (shared_->stopping) return std::nullopt;
      if (shared_->open >= shared_->options.maxConnections) {
        victim = Connection::take_longest_waiting(*shared_);
        if (!victim) return std::nullopt;
      }
      ++shared_->open;
      slot.emplace(shared_.get());
    }
    if (victim) {
      ++shared_->evicted;
      victim->evict();
    }
    return slot;
  }

  void admit(tcp::socket socket) {
    std::shared_ptr<SslContext> context;
    if (shared_->tls) {
      context = shared_->tls->current();
      if (!context) {
        ++shared_->rejected;
        if (shared_->certificateWarning.allow()) {
          spdlog::warn("{}: no TLS certificate loaded; closing new connections", shared_->options.name);
        }
        return;
      }
    }
    std::optional<Slot> slot = reserve_slot();
    if (!slot) {
      if (shared_->stoppingFlag) return;
      ++shared_->rejected;
      if (shared_->capWarning.allow()) {
        spdlog::warn("{}: {} connections open, each with a complete request; closing new connections",
                     shared_->options.name, shared_->options.maxConnections);
      }
      return;
    }
    ++shared_->accepted;
    error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    auto peer = socket.remote_endpoint(ec);
    std::string remote = ec ? "?" : peer.address().to_string() + ":" + std::to_string(peer.port());
    try {
      std::shared_ptr<Connection> connection;
      if (context) {
        connection = std::make_shared<Session<TlsStream>>(shared_, std::move(*slot), std::move(socket),
                                                          std::move(context), std::move(remote));
      } else {
        connection = std::make_shared<Session<TcpStream>>(shared_, std::move(*slot), std::move(socket),
                                                                  nullptr, std::move(remote));
      }
      connection->start();
    } catch (const std::exception& e) {
      spdlog::error("{}: cannot set up a connection: {}", shared_->options.name, e.what());
    }
  }

  void shutdown(std::chrono::milliseconds drain) {
    for (const auto& worker : workers_) {
      if (worker.get_id() == std::this_thread::get_id()) throw std::logic_error("Server::stop called from a handler");
    }
    const auto deadline = Clock::now() + drain;
    std::vector<std::shared_ptr<Connection>> targets;
    {
      std::lock_guard lock(shared_->mutex);
      shared_->stopping = true;
      shared_->stoppingFlag = true;
      for (Connection* c : shared_->waiting) {
        if (auto alive = c->weak_from_this().lock()) targets.push_back(std::move(alive));
      }
    }
    net::post(acceptor_.get_executor(), [this] {
      error_code ignored;
      acceptor_.close(ignored);
      retry_.cancel();
    });
    for (auto& c : targets) c->close_if_idle();
    targets.clear();  // outside the lock: this may destroy connections

    bool drained = false;
    {
      std::unique_lock lock(shared_->mutex);
      drained = shared_->drained.wait_until(lock, deadline, [&] { return shared_->open == 0; });
      if (!drained) {
        for (Connection* c : shared_->all) {
          if (auto alive = c->weak_from_this().lock()) targets.push_back(std::move(alive));
        }
      }
    }
    if (!drained) {
      if (!targets.empty()) {
        spdlog::warn("{}: closing {} connections still open after the drain time", shared_->options.name,
                     targets.size());
      }
      for (auto& c : targets) c->close_now();
      targets.clear();
      std::unique_lock lock(shared_->mutex);
      shared_->drained.wait_for(lock, kForceCloseGrace, [&] { return shared_->open == 0; });
    }
    work_.reset();
    ioc_.stop();
    for (auto& worker : workers_) worker.join();
    spdlog::info("{}: stopped", shared_->options.name);
  }

  net::io_context ioc_;  // first: destroyed last, after everything that refers to it
  std::shared_ptr<Shared> shared_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_;
  // Keeps run() from returning when no I/O is pending, as during a stop: what stop() posts to
  // connections must still run. stop() ends the workers explicitly.
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::vector<std::thread> workers_;
  std::uint16_t port_ = 0;
  std::once_flag stopped_;
};

}  // namespace

std::unique_ptr<Server> start_server(const ServerOptions& options, std::shared_ptr<Handler> handler,
                                     std::shared_ptr<TlsContextSource> tls) {
  return std::make_unique<ServerImpl>(options, std::move(handler), std::move(tls));
}

}  // namespace plano::http
