#include "core/http/handler.h"

#include <gtest/gtest.h>

namespace plano::http {
namespace {

Request get(const std::string& path, const std::string& method = "GET") {
  Request request;
  request.method = method;
  request.path = path;
  request.target = path;
  return request;
}

TEST(Router, ExactPathMethodsAndFallback) {
  Router router;
  router.add("/healthz", [](const Request&) { return Response::text(200, "ok"); }, {"GET", "HEAD"});
  router.add("/any", [](const Request& r) { return Response::text(200, r.method); });

  EXPECT_EQ(router.handle(get("/healthz")).body, "ok");
  EXPECT_EQ(router.handle(get("/healthz/")).status, 404);
  EXPECT_EQ(router.handle(get("/any", "PATCH")).body, "PATCH");

  Response refused = router.handle(get("/healthz", "POST"));
  EXPECT_EQ(refused.status, 405);
  EXPECT_EQ(find_header(refused.headers, "allow"), "GET, HEAD");

  router.set_fallback([](const Request&) { return Response::text(418, "teapot"); });
  EXPECT_EQ(router.handle(get("/nowhere")).status, 418);
}

TEST(Router, HeaderLookupIgnoresCase) {
  Headers headers{{"Content-Type", "application/json"}, {"X-A", "1"}, {"x-a", "2"}};
  EXPECT_EQ(find_header(headers, "content-type"), "application/json");
  EXPECT_EQ(find_header(headers, "X-A"), "1");
  EXPECT_FALSE(find_header(headers, "X-B"));
}

}  // namespace
}  // namespace plano::http
