#include "core/metrics/registry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

namespace plano::metrics {
namespace {

TEST(Registry, ExpositionTextIsExactAndSorted) {
  Registry registry;
  auto& latency = registry.histogram("webhook_latency_seconds", "Admission latency.", {0.1, 0.5, 1});
  auto& requests = registry.counter("http_requests_total", "Requests served.", {"code", "method"});
  auto& up = registry.gauge("up", "Whether it is up.");
  registry.gauge("unused_labelled", "Never given a series.", {"x"});

  requests.labels({"404", "GET"}).inc();
  requests.labels({"200", "POST"}).inc(2);
  requests.labels({"200", "POST"}).inc();
  up.labels().set(1);
  for (double v : {0.0625, 0.25, 0.5, 0.5, 2.0}) latency.labels().observe(v);

  EXPECT_EQ(registry.render(),
            "# HELP http_requests_total Requests served.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{code=\"200\",method=\"POST\"} 3\n"
            "http_requests_total{code=\"404\",method=\"GET\"} 1\n"
            "# HELP up Whether it is up.\n"
            "# TYPE up gauge\n"
            "up 1\n"
            "# HELP webhook_latency_seconds Admission latency.\n"
            "# TYPE webhook_latency_seconds histogram\n"
            "webhook_latency_seconds_bucket{le=\"0.1\"} 1\n"
            "webhook_latency_seconds_bucket{le=\"0.5\"} 4\n"
            "webhook_latency_seconds_bucket{le=\"1\"} 4\n"
            "webhook_latency_seconds_bucket{le=\"+Inf\"} 5\n"
            "webhook_latency_seconds_sum 3.3125\n"
            "webhook_latency_seconds_count 5\n");
}

TEST(Registry, HistogramBucketsAreCumulativeWithLabels) {
  Registry registry;
  auto& h = registry.histogram("d", "D.", {1, 2, 3}, {"path"});
  auto& series = h.labels({"/validate"});
  for (double v : {0.5, 1.5, 1.5, 2.5, 2.5, 2.5, 9.0}) series.observe(v);
  series.observe(std::nan(""));  // ignored
  auto s = series.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{1, 3, 6, 7}));
  EXPECT_EQ(s.count, 7u);
  EXPECT_DOUBLE_EQ(s.sum, 20.0);
  std::string text = registry.render();
  EXPECT_NE(text.find("d_bucket{path=\"/validate\",le=\"2\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("d_bucket{path=\"/validate\",le=\"+Inf\"} 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("d_count{path=\"/validate\"} 7\n"), std::string::npos) << text;
}

TEST(Registry, EscapingAndSpecialValues) {
  Registry registry;
  registry.gauge("g", "Help with \\ and\nnewline.", {"v"}).labels({"a\"b\\c\nd"}).set(
      std::numeric_limits<double>::infinity());
  registry.gauge("h", "H.").labels().set(-0.5);
  registry.gauge("n", "N.").labels().set(std::nan(""));
  registry.gauge("z", "Z.").labels().set(1e21);
  EXPECT_EQ(registry.render(),
            "# HELP g Help with \\\\ and\\nnewline.\n"
            "# TYPE g gauge\n"
            "g{v=\"a\\\"b\\\\c\\nd\"} +Inf\n"
            "# HELP h H.\n# TYPE h gauge\nh -0.5\n"
            "# HELP n N.\n# TYPE n gauge\nn NaN\n"
            "# HELP z Z.\n# TYPE z gauge\nz 1e+21\n");
}

TEST(Registry, CountersOnlyGoUpGaugesGoBothWays) {
  Registry registry;
  auto& c = registry.counter("c_total", "C.").labels();
  c.inc(2);
  c.inc(-1);
  EXPECT_EQ(c.value(), 2);
  auto& g = registry.gauge("g", "G.").labels();
  g.inc(5);
  g.dec(2);
  EXPECT_EQ(g.value(), 3);
}

TEST(Registry, ACounterAdvancedToATotalKeptElsewhereNeverGoesDown) {
  Registry registry;
  auto& c = registry.counter("restarts_total", "R.").labels();
  c.advance_to(4);
  EXPECT_EQ(c.value(), 4);
  c.advance_to(3);  // an older reading, from a scrape that raced this one
  EXPECT_EQ(c.value(), 4);
  c.inc();
  c.advance_to(9);
  EXPECT_EQ(c.value(), 9);
}

TEST(Registry, RegistrationRules) {
  Registry registry;
  auto& first = registry.counter("a_total", "A.", {"x"});
  EXPECT_EQ(&registry.counter("a_total", "A.", {"x"}), &first);
  EXPECT_THROW(registry.counter("a_total", "A.", {"y"}), std::invalid_argument);
  EXPECT_THROW(registry.gauge("a_total", "A.", {"x"}), std::invalid_argument);
  EXPECT_THROW(registry.counter("0bad", "B."), std::invalid_argument);
  EXPECT_THROW(registry.counter("bad-name", "B."), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok", "B.", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok", "B.", {"x", "x"}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("hist", "H.", {1, 1}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("hist", "H.", {1}, {"le"}), std::invalid_argument);
  EXPECT_THROW(first.labels({}), std::invalid_argument);
  EXPECT_THROW(first.labels({"1", "2"}), std::invalid_argument);
  EXPECT_NO_THROW(registry.counter("ns:sub_total", "Colons are allowed in metric names."));
  EXPECT_EQ(default_buckets().size(), 11u);
}

TEST(Registry, CollectorsRunBeforeRendering) {
  Registry registry;
  auto& open = registry.gauge("open_connections", "Open.").labels();
  int calls = 0;
  registry.on_collect([&] {
    ++calls;
    open.set(7);
  });
  EXPECT_NE(registry.render().find("open_connections 7\n"), std::string::npos);
  EXPECT_EQ(calls, 1);
}

TEST(Registry, ConcurrentUpdatesAndRendering) {
  Registry registry;
  auto& counter = registry.counter("events_total", "Events.", {"worker"});
  auto& shared = registry.counter("shared_total", "Shared.").labels();
  auto& histogram = registry.histogram("sizes", "Sizes.", {10, 100}).labels();
  constexpr int kThreads = 4;
  constexpr int kIterations = 50000;
  std::atomic<bool> done{false};
  std::thread renderer([&] {
    for (int i = 0; i < 1000 && !done; ++i) {
      std::string text = registry.render();
      ASSERT_NE(text.find("# TYPE shared_total counter"), std::string::npos);
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        shared.inc();
        counter.labels({std::to_string(t)}).inc();
        histogram.observe(i % 200);
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  renderer.join();
  EXPECT_EQ(shared.value(), kThreads * kIterations);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(counter.labels({std::to_string(t)}).value(), kIterations);
  auto s = histogram.snapshot();
  EXPECT_EQ(s.count, static_cast<std::uint64_t>(kThreads * kIterations));
  EXPECT_EQ(s.cumulative[0], static_cast<std::uint64_t>(kThreads * kIterations / 200 * 11));  // 0..10 of each 200
}

}  // namespace
}  // namespace plano::metrics
