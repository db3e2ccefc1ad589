#include "core/kube/errors.h"

#include <utility>

namespace plano::kube {

const char* to_string(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::NotFound: return "NotFound";
    case ErrorReason::Conflict: return "Conflict";
    case ErrorReason::AlreadyExists: return "AlreadyExists";
    case ErrorReason::Gone: return "Gone";
    case ErrorReason::Forbidden: return "Forbidden";
    case ErrorReason::Unauthorized: return "Unauthorized";
    case ErrorReason::Invalid: return "Invalid";
    case ErrorReason::BadRequest: return "BadRequest";
    case ErrorReason::TooManyRequests: return "TooManyRequests";
    case ErrorReason::ServerError: return "ServerError";
    case ErrorReason::Timeout: return "Timeout";
    case ErrorReason::Unreachable: return "Unreachable";
    case ErrorReason::Other: return "Other";
  }
  return "Other";
}

std::ostream& operator<<(std::ostream& out, ErrorReason reason) { return out << to_string(reason); }

namespace {

std::string describe(int code, ErrorReason reason, const std::string& message, const std::string& request) {
  std::string out = request.empty() ? std::string() : request + ": ";
  if (code != 0) out += std::to_string(code) + " ";
  out += to_string(reason);
  if (!message.empty()) out += ": " + message;
  return out;
}

ErrorReason classify(int code, const std::string& status_reason) {
  if (status_reason == "AlreadyExists") return ErrorReason::AlreadyExists;
  if (status_reason == "Timeout" || status_reason == "ServerTimeout") return ErrorReason::Timeout;
  switch (code) {
    case 400: return ErrorReason::BadRequest;
    case 401: return ErrorReason::Unauthorized;
    case 403: return ErrorReason::Forbidden;
    case 404: return ErrorReason::NotFound;
    case 409: return ErrorReason::Conflict;
    case 410: return ErrorReason::Gone;
    case 422: return ErrorReason::Invalid;
    case 429: return ErrorReason::TooManyRequests;
    case 504: return ErrorReason::Timeout;
    default: break;
  }
  if (status_reason == "Expired" || status_reason == "Gone") return ErrorReason::Gone;
  if (code >= 500 && code <= 599) return ErrorReason::ServerError;
  return ErrorReason::Other;
}

std::string string_field(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

ApiError::ApiError(int code, ErrorReason reason, std::string status_reason, std::string message, std::string request,
                   std::vector<StatusCause> causes, std::optional<std::chrono::seconds> retry_after)
    : std::runtime_error(describe(code, reason, message, request)),
      code_(code),
      reason_(reason),
      status_reason_(std::move(status_reason)),
      message_(std::move(message)),
      request_(std::move(request)),
      causes_(std::move(causes)),
      retry_after_(retry_after) {}

ApiError api_error_from_status(const nlohmann::json& status, const std::string& request) {
  int code = 0;
  if (status.is_object() && status.contains("code") && status["code"].is_number_integer()) {
    code = status["code"].get<int>();
  }
  std::string status_reason = string_field(status, "reason");
  std::string message = string_field(status, "message");
  std::vector<StatusCause> causes;
  std::optional<std::chrono::seconds> retry_after;
  if (status.is_object() && status.contains("details") && status["details"].is_object()) {
    const auto& details = status["details"];
    if (details.contains("causes") && details["causes"].is_array()) {
      for (const auto& c : details["causes"]) {
        causes.push_back({string_field(c, "reason"), string_field(c, "message"), string_field(c, "field")});
      }
    }
    if (details.contains("retryAfterSeconds") && details["retryAfterSeconds"].is_number_integer()) {
      retry_after = std::chrono::seconds(details["retryAfterSeconds"].get<long long>());
    }
  }
  const ErrorReason reason = classify(code, status_reason);  // before status_reason is moved from
  return ApiError(code, reason, std::move(status_reason), std::move(message), request, std::move(causes),
                  retry_after);
}

ApiError api_error_from_response(int http_code, const std::string& body, const std::string& request,
                                 std::optional<std::chrono::seconds> retry_after_header) {
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && string_field(parsed, "kind") == "Status") {
    // The HTTP code is authoritative: some Status bodies omit or zero `code`.
    parsed["code"] = http_code;
    ApiError from_status = api_error_from_status(parsed, request);
    auto retry_after = retry_after_header ? retry_after_header : from_status.retry_after();
    return ApiError(from_status.code(), from_status.reason(), from_status.status_reason(), from_status.message(),
                    request, from_status.causes(), retry_after);
  }
  // Not a Status (a proxy page, plain text): keep a bounded excerpt for the message.
  std::string excerpt = body.substr(0, 300);
  return ApiError(http_code, classify(http_code, {}), {}, excerpt, request, {}, retry_after_header);
}

}  // namespace plano::kube
