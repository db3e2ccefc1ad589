#include "core/kube/bookkeeping.h"

namespace plano::kube {

namespace {

constexpr const char* kManagedFields = "managedFields";
constexpr const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

// Builds a watch event's tree without the object's bookkeeping, about half of a typical object's
// bytes and most of its nodes.
class EventWithoutBookkeeping {
 public:
  using json = nlohmann::json;
  explicit EventWithoutBookkeeping(json& event) : dom_(event, /*allow_exceptions=*/false) {}

  bool errored() const { return dom_.is_errored(); }

  bool null() { return skipped_value() || dom_.null(); }
  bool boolean(bool value) { return skipped_value() || dom_.boolean(value); }
  bool number_integer(json::number_integer_t value) { return skipped_value() || dom_.number_integer(value); }
  bool number_unsigned(json::number_unsigned_t value) { return skipped_value() || dom_.number_unsigned(value); }
  bool number_float(json::number_float_t value, const json::string_t& text) {
    return skipped_value() || dom_.number_float(value, text);
  }
  bool string(json::string_t& value) { return skipped_value() || dom_.string(value); }
  bool binary(json::binary_t& value) { return skipped_value() || dom_.binary(value); }
  bool start_object(std::size_t size) {
    ++depth_;
    return skipping_ || dom_.start_object(size);
  }
  bool end_object() { return closed() || dom_.end_object(); }
  bool start_array(std::size_t size) {
    ++depth_;
    return skipping_ || dom_.start_array(size);
  }
  bool end_array() { return closed() || dom_.end_array(); }
  bool key(json::string_t& key) {
    if (skipping_) return true;
    // Where this key is: depth 1 is the event, 2 its object, 3 the metadata, 4 the annotations.
    switch (depth_) {
      case 1: in_object_ = key == "object"; break;
      case 2: in_metadata_ = in_object_ && key == "metadata"; break;
      case 3:
        in_annotations_ = in_metadata_ && key == "annotations";
        if (in_metadata_ && key == kManagedFields) return skip();
        break;
      case 4:
        if (in_annotations_ && key == kLastApplied) return skip();
        break;
    }
    return dom_.key(key);
  }
  bool parse_error(std::size_t position, const std::string& token, const nlohmann::detail::exception& error) {
    return dom_.parse_error(position, token, error);
  }

 private:
  // The value of the key just seen is skipped: a scalar, or everything until its container closes.
  bool skip() {
    skipping_ = true;
    skip_depth_ = depth_;
    return true;
  }
  // Consumes a scalar that is being skipped, or one that is the whole skipped value.
  bool skipped_value() {
    if (!skipping_) return false;
    if (depth_ == skip_depth_) skipping_ = false;
    return true;
  }
  // A container closes: true when it belongs to the skipped value.
  bool closed() {
    --depth_;
    if (!skipping_) return false;
    if (depth_ == skip_depth_) skipping_ = false;
    return true;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  int depth_ = 0;
  bool in_object_ = false, in_metadata_ = false, in_annotations_ = false;
  bool skipping_ = false;
  int skip_depth_ = 0;
};

}  // namespace

nlohmann::json without_bookkeeping(nlohmann::json object) {
  auto metadata = object.find("metadata");
  if (metadata != object.end() && metadata->is_object()) {
    metadata->erase(kManagedFields);
    if (auto annotations = metadata->find("annotations"); annotations != metadata->end() && annotations->is_object()) {
      annotations->erase(kLastApplied);
      if (annotations->empty()) metadata->erase(annotations);
    }
  }
  return object;
}

nlohmann::json parse_event_without_bookkeeping(std::string_view event) {
  nlohmann::json parsed;
  EventWithoutBookkeeping builder(parsed);
  if (!nlohmann::json::sax_parse(event, &builder) || builder.errored()) return nlohmann::json::value_t::discarded;
  return parsed;
}

}  // namespace plano::kube
