// What the server calls for each request, and a router that dispatches by exact path.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/http/message.h"

namespace plano::http {

// Called on the server's worker threads, possibly concurrently: implementations must be
// thread-safe and should return promptly (a blocked call holds a worker). An exception becomes a
// 500 response.
class Handler {
 public:
  virtual ~Handler() = default;
  virtual Response handle(const Request& request) = 0;
};

using HandlerFunction = std::function<Response(const Request&)>;

// Routes by exact path (the query is ignored); unknown paths get the fallback, a 404 by default,
// and a known path with another method gets 405 with Allow. Configure before serving: routing
// reads the table without locks.
class Router : public Handler {
 public:
  // `methods` empty accepts any method. Adding a path twice replaces it.
  Router& add(const std::string& path, HandlerFunction function, std::vector<std::string> methods = {});
  Router& set_fallback(HandlerFunction function);
  Response handle(const Request& request) override;

 private:
  struct Route {
    HandlerFunction function;
    std::vector<std::string> methods;
  };
  std::map<std::string, Route, std::less<>> routes_;
  HandlerFunction fallback_;
};

}  // namespace plano::http
