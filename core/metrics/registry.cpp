#include "core/metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <stdexcept>
#include <type_traits>

namespace plano::metrics {
namespace {

bool valid_name(const std::string& name, bool allow_colon) {
  if (name.empty()) return false;
  auto letter = [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
  };
  if (!letter(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(), [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

void check_label_names(const std::string& metric, const std::vector<std::string>& names, Type type) {
  std::set<std::string> seen;
  for (const auto& n : names) {
    if (!valid_name(n, false) || n.rfind("__", 0) == 0) {
      throw std::invalid_argument("metric " + metric + ": invalid label name \"" + n + "\"");
    }
    if (type == Type::Histogram && n == "le") {
      throw std::invalid_argument("metric " + metric + ": \"le\" is the histogram's own label");
    }
    if (!seen.insert(n).second) throw std::invalid_argument("metric " + metric + ": label \"" + n + "\" twice");
  }
}

// Shortest text that reads back as the same double, in the forms Prometheus parses.
std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char text[64];
  auto result = std::to_chars(text, text + sizeof text, v);
  return std::string(text, result.ptr);
}

void append_escaped(std::string& out, const std::string& text, bool quotes) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// {a="x",b="y"} plus an optional le; nothing when there are no labels at all.
void append_labels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                   const std::string* le = nullptr) {
  if (names.empty() && !le) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    append_escaped(out, values[i], true);
    out += '"';
  }
  if (le) {
    if (!names.empty()) out += ',';
    out += "le=\"" + *le + "\"";
  }
  out += '}';
}

const char* type_name(Type type) {
  switch (type) {
    case Type::Counter:
      return "counter";
    case Type::Gauge:
      return "gauge";
    case Type::Histogram:
      return "histogram";
  }
  return "untyped";
}

template <class Metric>
std::unique_ptr<Metric> make_series(const std::vector<double>& bounds) {
  if constexpr (std::is_same_v<Metric, Histogram>) {
    return std::make_unique<Histogram>(bounds);
  } else {
    (void)bounds;
    return std::make_unique<Metric>();
  }
}

void render_series(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                   const std::vector<std::string>& values, const Counter& c) {
  out += name;
  append_labels(out, label_names, values);
  out += ' ' + format_value(c.value()) + '\n';
}

void render_series(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                   const std::vector<std::string>& values, const Gauge& g) {
  out += name;
  append_labels(out, label_names, values);
  out += ' ' + format_value(g.value()) + '\n';
}

void render_series(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                   const std::vector<std::string>& values, const Histogram& h) {
  Histogram::Snapshot s = h.snapshot();
  for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
    std::string le = i < h.bounds().size() ? format_value(h.bounds()[i]) : "+Inf";
    out += name + "_bucket";
    append_labels(out, label_names, values, &le);
    out += ' ' + std::to_string(s.cumulative[i]) + '\n';
  }
  out += name + "_sum";
  append_labels(out, label_names, values);
  out += ' ' + format_value(s.sum) + '\n';
  out += name + "_count";
  append_labels(out, label_names, values);
  out += ' ' + std::to_string(s.count) + '\n';
}

}  // namespace

void Counter::inc(double by) {
  if (by > 0) value_.fetch_add(by, std::memory_order_relaxed);
}

void Counter::advance_to(double total) {
  double current = value_.load(std::memory_order_relaxed);
  while (total > current && !value_.compare_exchange_weak(current, total, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      throw std::invalid_argument("histogram bounds must be finite and strictly increasing");
    }
  }
}

void Histogram::observe(double value) {
  if (std::isnan(value)) return;
  // The first bound >= value: buckets are "less than or equal".
  auto bucket = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  std::lock_guard lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  std::lock_guard lock(mutex_);
  s.cumulative.reserve(counts_.size());
  std::uint64_t running = 0;
  for (auto c : counts_) {
    running += c;
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_;
  return s;
}

std::vector<double> default_buckets() { return {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}; }

FamilyBase::FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> label_names,
                       std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      labelNames_(std::move(label_names)),
      bounds_(std::move(bounds)) {}

template <class Metric>
Family<Metric>::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
                       std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names), std::move(bounds)) {
  if (labelNames_.empty()) series_.emplace(std::vector<std::string>{}, make_series<Metric>(bounds_));
}

template <class Metric>
Metric& Family<Metric>::labels(const std::vector<std::string>& values) {
  if (values.size() != labelNames_.size()) {
    throw std::invalid_argument("metric " + name_ + ": " + std::to_string(labelNames_.size()) + " label values expected, got " +
                                std::to_string(values.size()));
  }
  std::lock_guard lock(mutex_);
  auto it = series_.find(values);
  if (it == series_.end()) it = series_.emplace(values, make_series<Metric>(bounds_)).first;
  return *it->second;
}

template <class Metric>
void Family<Metric>::render(std::string& out) const {
  std::lock_guard lock(mutex_);
  if (series_.empty()) return;
  out += "# HELP " + name_ + ' ';
  append_escaped(out, help_, false);
  out += '\n';
  out += "# TYPE " + name_ + ' ' + type_name(type_) + '\n';
  for (const auto& [values, metric] : series_) render_series(out, name_, labelNames_, values, *metric);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <class Metric>
Family<Metric>& Registry::get_or_add(const std::string& name, const std::string& help, Type type,
                                     std::vector<std::string> label_names, std::vector<double> bounds) {
  if (!valid_name(name, true)) throw std::invalid_argument("invalid metric name \"" + name + "\"");
  check_label_names(name, label_names, type);
  std::lock_guard lock(mutex_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    const FamilyBase& existing = *it->second;
    if (existing.type() != type || existing.label_names() != label_names || existing.bounds() != bounds) {
      throw std::invalid_argument("metric " + name + " is already registered with another type, labels or buckets");
    }
    return static_cast<Family<Metric>&>(*it->second);
  }
  auto family = std::make_unique<Family<Metric>>(name, help, type, std::move(label_names), std::move(bounds));
  auto& ref = *family;
  families_.emplace(name, std::move(family));
  return ref;
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> label_names) {
  return get_or_add<Counter>(name, help, Type::Counter, std::move(label_names), {});
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help, std::vector<std::string> label_names) {
  return get_or_add<Gauge>(name, help, Type::Gauge, std::move(label_names), {});
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                                       std::vector<std::string> label_names) {
  Histogram check(bounds);  // validates the bounds before anything is registered
  return get_or_add<Histogram>(name, help, Type::Histogram, std::move(label_names), std::move(bounds));
}

void Registry::on_collect(std::function<void()> collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::render() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard lock(mutex_);
    collectors = collectors_;
  }
  for (const auto& collect : collectors) collect();  // unlocked: collectors update metrics
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) family->render(out);
  return out;
}

}  // namespace plano::metrics
