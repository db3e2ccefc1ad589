#include "core/rules/base_url.h"

#include <gtest/gtest.h>

namespace plano::rules {
namespace {

TEST(BaseUrl, DefaultsPortFromScheme) {
  auto u = parse_base_url("https://API.example.com/v1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "api.example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/v1");
  EXPECT_EQ(parse_base_url("http://h")->port, 80);
}

TEST(BaseUrl, ExplicitPortAndIpv6) {
  EXPECT_EQ(parse_base_url("http://vllm:8000/v1")->port, 8000);
  auto v6 = parse_base_url("http://[fd00::1]:9000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "fd00::1");
  EXPECT_EQ(v6->port, 9000);
}

TEST(BaseUrl, SeesUserinfo) {
  auto u = parse_base_url("https://user:secret@example.com");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->hasUserinfo);
  EXPECT_EQ(u->host, "example.com");
}

TEST(BaseUrl, RejectsMalformed) {
  EXPECT_FALSE(parse_base_url("example.com"));
  EXPECT_FALSE(parse_base_url("https://"));
  EXPECT_FALSE(parse_base_url("http://h:99999"));
  EXPECT_FALSE(parse_base_url("http://h:80a"));
  EXPECT_FALSE(parse_base_url("http://[::1"));
}

}  // namespace
}  // namespace plano::rules
