#include "core/kube/watch.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <exception>
#include <utility>
#include <vector>

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

// A watch over one HTTP request whose chunked body is a sequence of JSON
// lines, one event each. Lines are taken from the body stream as bytes
// arrive, never waiting for the end of the (possibly endless) body.
class HttpWatch final : public WatchStream {
 public:
  HttpWatch(const ClientConfig& config, const TlsSetup& tls, std::string path_and_query, std::string description,
            std::chrono::seconds inactivity_timeout)
      : config_(config),
        description_(std::move(description)),
        client_(web::uri(config.server), make_http_config(config, tls, inactivity_timeout)) {
    auto request = make_request(config, web::http::methods::GET, path_and_query);
    response_task_ = client_.request(request, cancel_.get_token());
  }

  ~HttpWatch() override {
    stop();
    // pplx raises SIGTRAP when a task holding an exception is destroyed unobserved, as a request
    // cancelled before ensure_open() waited for it is: observe it.
    if (!opened_ && !open_error_) {
      try {
        response_task_.wait();
      } catch (...) {
      }
    }
  }

  void stop() override {
    stopped_ = true;
    // Cancelling closes the socket, which ends any read in progress.
    cancel_.cancel();
  }

  void open() override {
    if (stopped_) return;
    try {
      ensure_open();
    } catch (const ApiError&) {
      if (!stopped_) throw;
    } catch (const std::exception& e) {
      if (!stopped_) throw transport_error(e, config_.server, description_);
    }
  }

  std::optional<WatchEvent> next() override {
    if (stopped_) return std::nullopt;
    try {
      ensure_open();
      while (true) {
        auto line = next_line();
        if (!line) return std::nullopt;
        if (line->find_first_not_of(" \t\r") == std::string::npos) continue;
        return parse_event(*line);
      }
    } catch (const ApiError&) {
      if (stopped_) return std::nullopt;
      throw;
    } catch (const std::exception& e) {
      if (stopped_) return std::nullopt;
      throw transport_error(e, config_.server, description_);
    }
  }

 private:
  // The API server sends the response headers once the watch is registered.
  // A failure is remembered: the response (and its body) can be consumed only once.
  void ensure_open() {
    if (opened_) return;
    if (open_error_) std::rethrow_exception(open_error_);
    try {
      response_ = response_task_.get();
      const int code = response_.status_code();
      if (code != 200) {
        std::string text = response_.extract_utf8string(/*ignore_content_type=*/true).get();
        if (code == 401 && config_.token) config_.token->invalidate();  // pick up a rotated token on the next try
        throw api_error_from_response(code, text, description_, retry_after(response_));
      }
    } catch (const ApiError&) {
      open_error_ = std::current_exception();
      throw;
    } catch (const std::exception& e) {
      if (stopped_) throw;
      open_error_ = std::make_exception_ptr(transport_error(e, config_.server, description_));
      std::rethrow_exception(open_error_);
    }
    body_ = response_.body().streambuf();
    opened_ = true;
  }

  // The next complete line, or nullopt at the end of the body. Lines are taken from the front of
  // pending_ by moving start_, not by erasing (a streaming list can buffer megabytes of events).
  std::optional<std::string> next_line() {
    while (true) {
      auto newline = pending_.find('\n', scanned_);
      if (newline != std::string::npos) {
        std::string line = pending_.substr(start_, newline - start_);
        start_ = scanned_ = newline + 1;
        return line;
      }
      scanned_ = pending_.size();
      if (!fill()) {
        if (start_ == pending_.size()) return std::nullopt;
        // The body ended without a final newline: the last line still counts.
        std::string line = pending_.substr(start_);
        start_ = scanned_ = pending_.size();
        return line;
      }
    }
  }

  // Drops the lines already taken, then appends at least one byte to pending_, blocking until data
  // arrives; false at the end of the body.
  bool fill() {
    pending_.erase(0, start_);
    scanned_ -= start_;
    start_ = 0;
    // A burst (a streaming list) can grow the buffer to megabytes; it must not stay that size for
    // the rest of a watch that then sees one event a minute.
    if (pending_.capacity() > kKeptCapacity && pending_.size() <= kKeptCapacity) pending_.shrink_to_fit();
    size_t available = body_.in_avail();
    if (available > 0) {
      const size_t before = pending_.size();
      pending_.resize(before + available);
      size_t got = body_.getn(reinterpret_cast<uint8_t*>(pending_.data() + before), available).get();
      pending_.resize(before + got);
      if (got > 0) return true;
    }
    auto c = body_.bumpc().get();
    if (c == concurrency::streams::streambuf<uint8_t>::traits::eof()) return false;
    pending_.push_back(static_cast<char>(c));
    return true;
  }

  WatchEvent parse_event(const std::string& line) {
    auto event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!event.is_object() || !event.contains("type") || !event["type"].is_string()) {
      throw ApiError(200, ErrorReason::Other, {}, "malformed watch event: " + line.substr(0, 200), description_);
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
  web::http::client::http_client client_;
  pplx::cancellation_token_source cancel_;
  pplx::task<web::http::http_response> response_task_;
  web::http::http_response response_;
  concurrency::streams::streambuf<uint8_t> body_;
  std::atomic<bool> stopped_{false};
  bool opened_ = false;
  std::exception_ptr open_error_;
  static constexpr size_t kKeptCapacity = 64 * 1024;
  std::string pending_;
  size_t start_ = 0;    // where the next line starts in pending_ (what is before it was taken)
  size_t scanned_ = 0;  // bytes of pending_ already known to hold no newline
};

}  // namespace

std::unique_ptr<WatchStream> open_watch(const ClientConfig& config, const TlsSetup& tls, std::string path_and_query,
                                        std::string description, std::chrono::seconds inactivity_timeout) {
  return std::make_unique<HttpWatch>(config, tls, std::move(path_and_query), std::move(description),
                                     inactivity_timeout);
}

}  // namespace detail
}  // namespace plano::kube
