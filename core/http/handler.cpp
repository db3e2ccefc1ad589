#include "core/http/handler.h"

#include <algorithm>
#include <cctype>

namespace plano::http {

std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) {
  auto same = [&](const std::string& candidate) {
    return candidate.size() == name.size() &&
           std::equal(candidate.begin(), candidate.end(), name.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
           });
  };
  for (const auto& [key, value] : headers) {
    if (same(key)) return std::string_view(value);
  }
  return std::nullopt;
}

Response Response::text(int status, std::string body) {
  return Response{status, "text/plain; charset=utf-8", std::move(body), {}};
}

Response Response::json(int status, std::string body) {
  return Response{status, "application/json", std::move(body), {}};
}

Router& Router::add(const std::string& path, HandlerFunction function, std::vector<std::string> methods) {
  routes_[path] = Route{std::move(function), std::move(methods)};
  return *this;
}

Router& Router::set_fallback(HandlerFunction function) {
  fallback_ = std::move(function);
  return *this;
}

Response Router::handle(const Request& request) {
  auto it = routes_.find(request.path);
  if (it == routes_.end()) {
    if (fallback_) return fallback_(request);
    return Response::text(404, "not found\n");
  }
  const Route& route = it->second;
  if (!route.methods.empty() &&
      std::find(route.methods.begin(), route.methods.end(), request.method) == route.methods.end()) {
    std::string allow;
    for (const auto& m : route.methods) allow += (allow.empty() ? "" : ", ") + m;
    Response response = Response::text(405, "method not allowed\n");
    response.headers.emplace_back("Allow", allow);
    return response;
  }
  return route.function(request);
}

}  // namespace plano::http
