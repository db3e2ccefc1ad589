// YAML scalars as text, for the renderer's block-style output. The renderer used yaml-cpp's
// emitter, which costs about 200 us an object; these write the same bytes it wrote (checked
// against yaml-cpp itself in tests/unit/core/render/yaml_text_test.cpp) at a fraction of the cost.
#pragma once

#include <string>
#include <string_view>

namespace plano::render::yaml {

// Appends `text` as a double-quoted scalar that any YAML reader reads back as exactly `text`
// (for valid UTF-8; an invalid byte becomes U+FFFD, as yaml-cpp wrote it): quotes, backslashes
// and line breaks are escaped, so a value can never end the scalar or start another key.
void append_double_quoted(std::string& out, std::string_view text);

// Whether a YAML 1.1 reader (Plano's, PyYAML) or a 1.2 one reads `text`, written plain, as
// something other than a string: null, a boolean (true, on, yes, ...), a number or a timestamp.
// A superset: anything that starts like a number counts.
bool resolves_to_another_type(std::string_view text);

// Whether `text` is written bare (plain): as yaml-cpp 0.7 did (no indicator first, no ": " or
// " #", no breaks, tabs or non-printables), except that nothing that resolves_to_another_type is;
// yaml-cpp wrote a header named 8080 or on bare, and Plano read it as a number or as true.
bool writes_plain(std::string_view text);

// Appends `text` plain when writes_plain, double-quoted otherwise.
void append_scalar(std::string& out, std::string_view text);

// yaml-cpp wrote a mapping key longer than this in the explicit form "? key\n: value".
inline constexpr std::size_t kMaxSimpleKeyBytes = 1024;

}  // namespace plano::render::yaml
