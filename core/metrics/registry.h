// A small Prometheus registry: counters, gauges and fixed-bucket histograms with labels,
// rendered in the text exposition format 0.0.4.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace plano::metrics {

// Monotonic; negative increments are ignored.
class Counter {
 public:
  void inc(double by = 1);
  // For a total counted elsewhere (the kernel's CPU time, informers' watch restarts), copied in
  // at scrape time: the value becomes `total` unless it is already larger, so a counter never
  // goes down even when two scrapes race.
  void advance_to(double total);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  void inc(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  void dec(double by = 1) { value_.fetch_sub(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: strictly increasing finite upper bounds; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);  // NaN is ignored

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mutex_;          // one lock keeps buckets, sum and count consistent
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
};

// Prometheus' default latency buckets, in seconds.
std::vector<double> default_buckets();

enum class Type { Counter, Gauge, Histogram };

// A named metric and its series, one per combination of label values.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return labelNames_; }
  const std::vector<double>& bounds() const { return bounds_; }
  virtual void render(std::string& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> label_names,
             std::vector<double> bounds);
  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> labelNames_;
  const std::vector<double> bounds_;  // histograms only
};

template <class Metric>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> bounds);

  // The series with these label values (in label-name order), created on first use. The
  // reference stays valid as long as the registry. Throws std::invalid_argument on a count mismatch.
  Metric& labels(const std::vector<std::string>& values = {});
  void render(std::string& out) const override;

 private:
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> series_;
};

// Families are registered once (typically at start-up) and live as long as the registry. Asking
// again for a name returns the same family if type, labels and buckets agree and throws
// std::invalid_argument otherwise, as for names that Prometheus would not accept.
class Registry {
 public:
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  Family<Counter>& counter(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                               std::vector<std::string> label_names = {});

  // Runs before each render(), e.g. to copy a value kept elsewhere into a gauge. Must not
  // register collectors itself.
  void on_collect(std::function<void()> collector);

  // Families sorted by name, series by label values; families without series are left out
  // (a family without labels always has its one series).
  std::string render() const;

 private:
  template <class Metric>
  Family<Metric>& get_or_add(const std::string& name, const std::string& help, Type type,
                             std::vector<std::string> label_names, std::vector<double> bounds);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<FamilyBase>> families_;
  std::vector<std::function<void()>> collectors_;
};

}  // namespace plano::metrics
