#include "core/http/probes.h"

#include <spdlog/spdlog.h>

#include "core/http/address.h"
#include "core/http/handler.h"

namespace plano::http {

std::unique_ptr<Server> start_probe_server(const std::string& address, std::function<bool()> ready,
                                           std::string not_ready, metrics::Registry& registry) {
  auto router = std::make_shared<Router>();
  router->add("/healthz", [](const Request&) { return Response::text(200, "ok\n"); }, {"GET"});
  router->add("/readyz", [ready = std::move(ready), not_ready = std::move(not_ready)](const Request&) {
    return ready() ? Response::text(200, "ok\n") : Response::text(503, not_ready + "\n");
  }, {"GET"});
  router->add("/metrics", [&registry](const Request&) {
    auto r = Response::text(200, registry.render());
    r.contentType = metrics::Registry::kContentType;
    return r;
  }, {"GET"});
  auto [host, port] = parse_address(address, "--probe-address");
  ServerOptions options;
  options.address = host;
  options.port = port;
  options.threads = 1;
  options.name = "probes";
  auto server = start_server(options, router);
  spdlog::info("serving /metrics, /healthz, /readyz on {}:{}", host, server->port());
  return server;
}

}  // namespace plano::http
