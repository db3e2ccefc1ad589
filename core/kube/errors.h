// Errors of the Kubernetes client: API errors parsed from Status bodies, and
// configuration errors.
#pragma once

#include <chrono>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace plano::kube {

// What went wrong, independent of the HTTP code, so callers can branch on it.
enum class ErrorReason {
  NotFound,         // 404
  Conflict,         // 409 other than AlreadyExists (stale resourceVersion, failed precondition)
  AlreadyExists,    // 409 with reason AlreadyExists
  Gone,             // 410, or a watch ERROR event with code 410 (resourceVersion compacted): relist
  Forbidden,        // 403
  Unauthorized,     // 401
  Invalid,          // 422; see causes()
  BadRequest,       // 400
  TooManyRequests,  // 429
  ServerError,      // other 5xx
  Timeout,          // 504, Status reason Timeout/ServerTimeout, or a client-side timeout
  Unreachable,      // no HTTP response at all: connection refused/reset, TLS failure
  Other,
};

const char* to_string(ErrorReason reason);
std::ostream& operator<<(std::ostream& out, ErrorReason reason);

// One entry of Status.details.causes, e.g. {field: "spec.model", message: "Required value"}.
struct StatusCause {
  std::string reason;
  std::string message;
  std::string field;
};

class ApiError : public std::runtime_error {
 public:
  // code is the HTTP status (0 when no response arrived); status_reason and
  // message come from the Status body when there is one.
  ApiError(int code, ErrorReason reason, std::string status_reason, std::string message, std::string request,
           std::vector<StatusCause> causes = {}, std::optional<std::chrono::seconds> retry_after = std::nullopt);

  int code() const { return code_; }
  ErrorReason reason() const { return reason_; }
  // The machine-readable reason the server gave ("AlreadyExists", "Expired", ...), may be empty.
  const std::string& status_reason() const { return status_reason_; }
  // The server's (or transport's) message alone, without the request prefix of what().
  const std::string& message() const { return message_; }
  // "GET /api/v1/namespaces/x/configmaps/y" (no host).
  const std::string& request() const { return request_; }
  const std::vector<StatusCause>& causes() const { return causes_; }
  std::optional<std::chrono::seconds> retry_after() const { return retry_after_; }

  bool is(ErrorReason r) const { return reason_ == r; }

 private:
  int code_;
  ErrorReason reason_;
  std::string status_reason_;
  std::string message_;
  std::string request_;
  std::vector<StatusCause> causes_;
  std::optional<std::chrono::seconds> retry_after_;
};

// Builds an ApiError from an HTTP status code and a response body that is
// usually a metav1.Status but may be anything (a proxy's HTML, empty).
ApiError api_error_from_response(int http_code, const std::string& body, const std::string& request,
                                 std::optional<std::chrono::seconds> retry_after_header = std::nullopt);

// Builds an ApiError from a metav1.Status object, e.g. the object of a watch ERROR event.
ApiError api_error_from_status(const nlohmann::json& status, const std::string& request);

// Thrown when no usable client configuration can be built (bad kubeconfig, missing files).
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace plano::kube
