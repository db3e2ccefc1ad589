// HTTP requests and responses as handlers see them: plain values, no transport types.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plano::http {

// Header fields in the order they were sent; names keep their case, lookups ignore it.
using Headers = std::vector<std::pair<std::string, std::string>>;

// The first value of header `name` (case-insensitive), or nullopt.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);

struct Request {
  std::string method;         // as sent, e.g. "POST"
  std::string target;         // as sent: path and query
  std::string path;           // target up to '?'
  std::string query;          // after '?', without it; empty when absent
  Headers headers;
  std::string body;
  std::string remoteAddress;  // "ip:port" of the peer
  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
};

struct Response {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
  Headers headers;  // extra fields; Content-Length and Connection are the server's

  static Response text(int status, std::string body);
  static Response json(int status, std::string body);
};

}  // namespace plano::http
