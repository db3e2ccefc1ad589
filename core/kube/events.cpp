#include "core/kube/events.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>
#include <stdexcept>

namespace plano::kube {

namespace {

// Server-side limits of events.k8s.io/v1 (validation rejects longer values).
constexpr size_t kMaxNoteBytes = 1024;
constexpr size_t kMaxShortField = 128;

}  // namespace

std::string micro_time(std::chrono::system_clock::time_point at) {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(at.time_since_epoch()).count() % 1000000;
  std::time_t seconds = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[96];  // generous: the compiler cannot bound the year
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<long long>(micros));
  return buffer;
}

namespace {

// Cuts at a UTF-8 character boundary so the result stays valid UTF-8.
std::string truncate_utf8(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

std::string field(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "<object>.<hex nanoseconds><hex random>", like client-go's recorder: unique
// without coordination between replicas, and sorted by time under one object.
std::string event_name(const std::string& regarding_name, std::chrono::system_clock::time_point at) {
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  thread_local std::mt19937 rng{std::random_device{}()};
  char suffix[48];
  std::snprintf(suffix, sizeof suffix, ".%llx%04x", static_cast<unsigned long long>(nanos),
                static_cast<unsigned>(rng() & 0xFFFF));
  return regarding_name.substr(0, 200) + suffix;
}

void require(const std::string& value, const char* name) {
  if (value.empty()) throw std::invalid_argument(std::string("event: ") + name + " is required");
  if (value.size() > kMaxShortField) {
    throw std::invalid_argument(std::string("event: ") + name + " is longer than 128 bytes: " + value);
  }
}

}  // namespace

nlohmann::json object_reference(const nlohmann::json& object) {
  nlohmann::json ref = nlohmann::json::object();
  const nlohmann::json metadata = object.contains("metadata") ? object["metadata"] : nlohmann::json::object();
  for (const char* key : {"apiVersion", "kind"}) {
    if (auto v = field(object, key); !v.empty()) ref[key] = v;
  }
  for (const char* key : {"namespace", "name", "uid", "resourceVersion"}) {
    if (auto v = field(metadata, key); !v.empty()) ref[key] = v;
  }
  return ref;
}

nlohmann::json make_event(const EventRecord& record, std::chrono::system_clock::time_point at) {
  require(record.reason, "reason");
  require(record.action, "action");
  require(record.reporting_controller, "reporting_controller");
  require(record.reporting_instance, "reporting_instance");
  const nlohmann::json& regarding = record.regarding;
  if (!regarding.contains("name")) throw std::invalid_argument("event: the regarding reference has no name");
  std::string ns = regarding.value("namespace", "default");
  std::string name = regarding["name"].get<std::string>();
  nlohmann::json event = {
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      {"metadata", {{"name", event_name(name, at)}, {"namespace", ns}}},
      {"eventTime", micro_time(at)},
      {"type", record.type == EventType::Warning ? "Warning" : "Normal"},
      {"reason", record.reason},
      {"action", record.action},
      {"note", truncate_utf8(record.note, kMaxNoteBytes)},
      {"regarding", regarding},
      {"reportingController", record.reporting_controller},
      {"reportingInstance", record.reporting_instance},
  };
  if (record.related) event["related"] = *record.related;
  return event;
}

nlohmann::json create_event(ApiClient& client, const EventRecord& record, std::chrono::system_clock::time_point at) {
  nlohmann::json event = make_event(record, at);
  std::string ns = event["metadata"]["namespace"].get<std::string>();
  return client.create(resources::kEvents, ns, event);
}

void patch_event_series(ApiClient& client, const std::string& ns, const std::string& name, std::int64_t count,
                        std::chrono::system_clock::time_point last_observed) {
  const nlohmann::json patch = {{"series", {{"count", count}, {"lastObservedTime", micro_time(last_observed)}}}};
  client.patch(resources::kEvents, ns, name, PatchType::Merge, patch);
}

}  // namespace plano::kube
