#include "core/log/logging.h"

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <mutex>
#include <stdexcept>

namespace plano::log {
namespace {

// Innermost last; a sink reads them on the logging thread (the loggers are synchronous).
thread_local std::vector<Field> tls_fields;

// The fields in force, an inner scope's value replacing an outer one's, in first-set order.
std::vector<Field> effective_fields() {
  std::vector<Field> out;
  for (const auto& field : tls_fields) {
    auto same = std::find_if(out.begin(), out.end(), [&](const Field& f) { return f.first == field.first; });
    if (same == out.end()) {
      out.push_back(field);
    } else {
      same->second = field.second;
    }
  }
  return out;
}

// " key=value" per field; values with spaces, quotes or '=' are quoted (logfmt).
class TextFieldsFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    for (const auto& [key, value] : effective_fields()) {
      std::string text(1, ' ');
      text.append(key).append(1, '=');
      const bool quote = value.empty() || value.find_first_of(" \"=\\\n") != std::string::npos;
      if (quote) {
        text += '"';
        for (char c : value) {
          if (c == '\n') {
            text += "\\n";
          } else {
            if (c == '"' || c == '\\') text += '\\';
            text += c;
          }
        }
        text += '"';
      } else {
        text += value;
      }
      dest.append(text.data(), text.data() + text.size());
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<TextFieldsFlag>(); }
};

// Writes what the logger's formatter made of a line to `out`.
class TextSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit TextSink(std::FILE* out) : out_(out) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t text;
    formatter_->format(msg, text);
    std::fwrite(text.data(), 1, text.size(), out_);
  }
  void flush_() override { std::fflush(out_); }

 private:
  std::FILE* out_;
};

// One JSON object per line; the message is escaped properly, unlike a pattern could.
class JsonSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit JsonSink(std::FILE* out) : out_(out) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto secs = std::chrono::system_clock::to_time_t(msg.time);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[40];
    std::size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(ts + n, sizeof ts - n, ".%03lldZ", static_cast<long long>(millis));
    nlohmann::ordered_json line = {{"ts", ts},
                                   {"level", spdlog::level::to_string_view(msg.level).data()},
                                   {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    for (const auto& [key, value] : effective_fields()) {
      if (!line.contains(key)) line[key] = value;
    }
    auto text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(text.data(), 1, text.size(), out_);
  }
  void flush_() override { std::fflush(out_); }

 private:
  std::FILE* out_;
};

}  // namespace

void configure(const std::string& level, const std::string& format, std::FILE* out) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    throw std::invalid_argument("--log-level must be trace, debug, info, warn or error, not \"" + level + "\"");
  }
  std::shared_ptr<spdlog::logger> logger;
  if (format == "json") {
    logger = std::make_shared<spdlog::logger>("plano", std::make_shared<JsonSink>(out));
  } else if (format == "text") {
    logger = std::make_shared<spdlog::logger>("plano", std::make_shared<TextSink>(out));
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<TextFieldsFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v%*");
    logger->set_formatter(std::move(formatter));
  } else {
    throw std::invalid_argument("--log-format must be text or json, not \"" + format + "\"");
  }
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

FieldScope::FieldScope(std::vector<Field> fields) : outer_size_(tls_fields.size()) {
  tls_fields.insert(tls_fields.end(), std::make_move_iterator(fields.begin()), std::make_move_iterator(fields.end()));
}

FieldScope::~FieldScope() { tls_fields.resize(outer_size_); }

std::vector<Field> current_fields() { return effective_fields(); }

}  // namespace plano::log
