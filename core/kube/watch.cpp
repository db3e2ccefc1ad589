#include "core/kube/watch.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cpprest/base_uri.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include "core/kube/bookkeeping.h"
#include "core/kube/http.h"

namespace plano::kube {

const char* to_string(WatchEventType type) {
  switch (type) {
    case WatchEventType::Added: return "ADDED";
    case WatchEventType::Modified: return "MODIFIED";
    case WatchEventType::Deleted: return "DELETED";
    case WatchEventType::Bookmark: return "BOOKMARK";
  }
  return "UNKNOWN";
}

namespace detail {

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// A watch over one HTTP/1.1 request whose chunked body is a sequence of JSON lines, one event each.
//
// All of its I/O runs on the thread that calls next(), on an io_context of its own, and the body is
// read in pieces of up to 64 KiB straight into the line buffer. Through cpprestsdk every event (one
// HTTP chunk) went from an I/O thread to the reader through a task and a condition variable: in a
// 10,000-object streaming list those I/O threads took 29% of the operator's time to sync.
class HttpWatch final : public WatchStream {
 public:
  HttpWatch(const ClientConfig& config, const TlsSetup& tls, std::string path_and_query, std::string description,
            std::chrono::seconds inactivity_timeout, bool omit_bookkeeping)
      : config_(config),
        description_(std::move(description)),
        inactivity_timeout_(inactivity_timeout),
        omit_bookkeeping_(omit_bookkeeping),
        tls_context_(ssl::context::tls_client) {
    web::uri server(config.server);
    tls_ = server.scheme() == "https";
    host_ = server.host();
    if (host_.size() > 2 && host_.front() == '[' && host_.back() == ']') host_ = host_.substr(1, host_.size() - 2);
    port_ = server.port() > 0 ? server.port() : (tls_ ? 443 : 80);
    std::string prefix = server.path();
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    target_ = prefix + path_and_query;
    if (tls_) {
      // As cpprestsdk sets up its connections: the system roots, which a configured CA replaces.
      tls_context_.set_default_verify_paths();
      tls(tls_context_);
    }
  }

  void stop() override {
    stopped_ = true;
    // Closing the socket ends a read in progress; the io_context is only run by the reading thread,
    // so the close is handed to it (or dropped with the watch, if it never reads again).
    net::post(io_, [this] { close(); });
  }

  void open() override {
    if (stopped_) return;
    try {
      ensure_open();
    } catch (const ApiError&) {
      if (!stopped_) throw;
    }
  }

  std::optional<WatchEvent> next() override {
    if (stopped_) return std::nullopt;
    try {
      ensure_open();
      while (true) {
        auto line = next_line();
        if (!line) return std::nullopt;
        if (line->find_first_not_of(" \t\r") == std::string_view::npos) continue;
        return parse_event(*line);
      }
    } catch (const ApiError&) {
      if (stopped_) return std::nullopt;
      throw;
    }
  }

 private:
  using Parser = bhttp::response_parser<bhttp::buffer_body>;

  // Calls f with the connection's stream, TLS or plain.
  template <class F>
  void with_stream(F&& f) {
    if (tls_stream_) {
      f(*tls_stream_);
    } else {
      f(*plain_stream_);
    }
  }
  beast::tcp_stream& tcp_stream() {
    return tls_stream_ ? beast::get_lowest_layer(*tls_stream_) : *plain_stream_;
  }

  void close() {
    if (!tls_stream_ && !plain_stream_) return;
    beast::error_code ignored;
    tcp_stream().socket().close(ignored);
  }

  // Starts one asynchronous operation (start(handler)) and runs the io_context on this thread until it
  // completes: a stop() posted meanwhile runs here too and aborts it.
  template <class Start>
  beast::error_code run(Start&& start) {
    beast::error_code result;
    bool done = false;
    start([&result, &done](beast::error_code ec, auto&&...) {
      result = ec;
      done = true;
    });
    io_.restart();
    while (!done && io_.run_one() > 0) {
    }
    return result;
  }

  // An error with no HTTP response behind it (code 0), as a transport failure of the Client is.
  [[noreturn]] void fail(const char* step, const beast::error_code& ec) {
    const ErrorReason reason = ec == beast::error::timeout ? ErrorReason::Timeout : ErrorReason::Unreachable;
    throw ApiError(0, reason, {}, std::string(step) + ": " + ec.message() + " (server " + config_.server + ")",
                   description_);
  }

  // Connects, sends the request and reads the response header. The API server sends the header once
  // the watch is registered. A failure is remembered: a watch is opened at most once.
  void ensure_open() {
    if (opened_) return;
    if (open_error_) std::rethrow_exception(open_error_);
    try {
      connect_and_request();
    } catch (const ApiError&) {
      open_error_ = std::current_exception();
      throw;
    }
    opened_ = true;
  }

  void connect_and_request() {
    tcp::resolver::results_type endpoints;
    beast::error_code ec;
    const auto address = net::ip::make_address(host_, ec);
    const bool host_is_address = !ec;
    if (host_is_address) {
      endpoints = tcp::resolver::results_type::create(tcp::endpoint(address, port_), host_, std::to_string(port_));
    } else {
      tcp::resolver resolver(io_);
      ec = run([&](auto handler) {
        resolver.async_resolve(host_, std::to_string(port_),
                               [&endpoints, handler](beast::error_code e, tcp::resolver::results_type r) mutable {
                                 endpoints = std::move(r);
                                 handler(e);
                               });
      });
      if (ec) fail("resolving the server's address", ec);
    }
    if (stopped_) fail("connecting", net::error::operation_aborted);

    if (tls_) {
      tls_stream_.emplace(io_, tls_context_);
      if (config_.insecure_skip_tls_verify) {
        tls_stream_->set_verify_mode(ssl::verify_none);
      } else {
        tls_stream_->set_verify_mode(ssl::verify_peer);
        tls_stream_->set_verify_callback(ssl::host_name_verification(host_));
      }
      // SNI names hosts, never addresses (RFC 6066).
      if (!host_is_address && !SSL_set_tlsext_host_name(tls_stream_->native_handle(), host_.c_str())) {
        fail("setting the TLS server name", beast::error_code(static_cast<int>(::ERR_get_error()),
                                                                 net::error::get_ssl_category()));
      }
    } else {
      plain_stream_.emplace(io_);
    }
    tcp_stream().expires_after(inactivity_timeout_);
    ec = run([&](auto handler) { tcp_stream().async_connect(endpoints, std::move(handler)); });
    if (ec) fail("connecting", ec);
    if (tls_stream_) {
      tcp_stream().expires_after(inactivity_timeout_);
      ec = run([&](auto handler) { tls_stream_->async_handshake(ssl::stream_base::client, std::move(handler)); });
      if (ec) fail("TLS handshake", ec);
    }

    bhttp::request<bhttp::empty_body> request{bhttp::verb::get, target_, 11};
    const bool ipv6 = host_.find(':') != std::string::npos;
    request.set(bhttp::field::host, (ipv6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_));
    for (const auto& [name, value] : request_headers(config_, config_.token ? config_.token->token() : std::string())) {
      request.set(name, value);
    }
    tcp_stream().expires_after(inactivity_timeout_);
    ec = run([&](auto handler) {
      with_stream([&](auto& stream) { bhttp::async_write(stream, request, std::move(handler)); });
    });
    if (ec) fail("sending the request", ec);

    parser_.emplace();
    // A watch's body has no end but the server's timeout. (Not boost::none: Boost 1.74 compares a
    // Content-Length with the optional itself, so none refuses every error body.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    ec = read([&](auto handler) {
      with_stream([&](auto& stream) { bhttp::async_read_header(stream, buffer_, *parser_, std::move(handler)); });
    });
    if (ec) fail("reading the response", ec);

    const int code = static_cast<int>(parser_->get().result_int());
    if (code != 200) {
      std::string text = read_error_body();
      if (code == 401 && config_.token) config_.token->invalidate();  // pick up a rotated token on the next try
      throw api_error_from_response(code, text, description_,
                                    retry_after(parser_->get()[bhttp::field::retry_after].to_string()));
    }
  }

  // One read from the connection, with the inactivity timeout.
  template <class Start>
  beast::error_code read(Start&& start) {
    tcp_stream().expires_after(inactivity_timeout_);
    beast::error_code ec = run(std::forward<Start>(start));
    // buffer_body's buffer is full: not an error, the caller gives it a new one.
    if (ec == bhttp::error::need_buffer) ec = {};
    return ec;
  }

  // Reads body bytes into the chunk buffer; returns how many, 0 at the end of the body.
  std::size_t read_body() {
    while (!parser_->is_done()) {
      auto& body = parser_->get().body();
      body.data = chunk_.data();
      body.size = chunk_.size();
      beast::error_code ec = read([&](auto handler) {
        with_stream([&](auto& stream) { bhttp::async_read_some(stream, buffer_, *parser_, std::move(handler)); });
      });
      if (ec) fail("reading the watch", ec);
      const std::size_t got = chunk_.size() - parser_->get().body().size;
      if (got > 0) return got;
    }
    return 0;
  }

  // The body of an error response, up to what a message needs.
  std::string read_error_body() {
    constexpr std::size_t kMaxErrorBody = 64 * 1024;
    std::string text;
    try {
      while (text.size() < kMaxErrorBody) {
        const std::size_t got = read_body();
        if (got == 0) break;
        text.append(chunk_.data(), got);
      }
    } catch (const ApiError&) {
      // The status line already says what went wrong; keep what arrived of the body.
    }
    return text;
  }

  // The next complete line (valid until the next call), or nullopt at the end of the body. Lines are
  // taken from the front of pending_ by moving start_, not by erasing (a streaming list can buffer
  // megabytes of events).
  std::optional<std::string_view> next_line() {
    while (true) {
      auto newline = pending_.find('\n', scanned_);
      if (newline != std::string::npos) {
        std::string_view line(pending_.data() + start_, newline - start_);
        start_ = scanned_ = newline + 1;
        return line;
      }
      scanned_ = pending_.size();
      if (!fill()) {
        if (start_ == pending_.size()) return std::nullopt;
        // The body ended without a final newline: the last line still counts.
        std::string_view line(pending_.data() + start_, pending_.size() - start_);
        start_ = scanned_ = pending_.size();
        return line;
      }
    }
  }

  // Drops the lines already taken, then appends what the next read brings to pending_; false at the
  // end of the body.
  bool fill() {
    pending_.erase(0, start_);
    scanned_ -= start_;
    start_ = 0;
    // A burst (a streaming list) can grow the buffer; it must not stay that size for the rest of a
    // watch that then sees one event a minute.
    if (pending_.capacity() > kKeptCapacity && pending_.size() <= kKeptCapacity) pending_.shrink_to_fit();
    const std::size_t got = read_body();
    pending_.append(chunk_.data(), got);
    return got > 0;
  }

  WatchEvent parse_event(std::string_view line) {
    nlohmann::json event;
    if (omit_bookkeeping_) {
      event = parse_event_without_bookkeeping(line);
    } else {
      event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    }
    if (!event.is_object() || !event.contains("type") || !event["type"].is_string()) {
      throw ApiError(200, ErrorReason::Other, {}, "malformed watch event: " + std::string(line.substr(0, 200)),
                     description_);
    }
    const std::string type = event["type"].get<std::string>();
    nlohmann::json object = event.contains("object") ? std::move(event["object"]) : nlohmann::json::object();
    if (type == "ADDED") return {WatchEventType::Added, std::move(object)};
    if (type == "MODIFIED") return {WatchEventType::Modified, std::move(object)};
    if (type == "DELETED") return {WatchEventType::Deleted, std::move(object)};
    if (type == "BOOKMARK") return {WatchEventType::Bookmark, std::move(object)};
    if (type == "ERROR") throw api_error_from_status(object, description_);
    throw ApiError(200, ErrorReason::Other, {}, "unknown watch event type \"" + type + "\"", description_);
  }

  const ClientConfig config_;  // a copy: the stream may outlive its Client
  const std::string description_;
  const std::chrono::seconds inactivity_timeout_;
  const bool omit_bookkeeping_;
  bool tls_ = true;
  std::string host_;
  unsigned short port_ = 0;
  std::string target_;

  // Declared before the streams, which must go first.
  net::io_context io_{1};
  ssl::context tls_context_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_stream_;
  std::optional<beast::tcp_stream> plain_stream_;
  beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  std::array<char, 64 * 1024> chunk_;

  std::atomic<bool> stopped_{false};
  bool opened_ = false;
  std::exception_ptr open_error_;
  static constexpr std::size_t kKeptCapacity = 64 * 1024;
  std::string pending_;
  std::size_t start_ = 0;    // where the next line starts in pending_ (what is before it was taken)
  std::size_t scanned_ = 0;  // bytes of pending_ already known to hold no newline
};

}  // namespace

std::unique_ptr<WatchStream> open_watch(const ClientConfig& config, const TlsSetup& tls, std::string path_and_query,
                                        std::string description, std::chrono::seconds inactivity_timeout,
                                        bool omit_bookkeeping) {
  return std::make_unique<HttpWatch>(config, tls, std::move(path_and_query), std::move(description),
                                     inactivity_timeout, omit_bookkeeping);
}

}  // namespace detail
}  // namespace plano::kube
