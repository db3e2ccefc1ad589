// What a string written by a tenant must not hold to reach Plano's config unchanged. Plano's image
// runs envsubst over the whole rendered config (no escape for a literal "$NAME") and then reads it
// with PyYAML, which takes U+0085, U+2028 and U+2029 as line breaks; a header also goes out on the
// wire, where a control character ends or splits it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace plano::rules {

// Why `text` cannot be carried into the config byte for byte, as a message fragment ("contains
// ..."), or nullopt when it can.
std::optional<std::string> tenant_text_problem(std::string_view text);

// Whether `name` is an HTTP field name (RFC 9110 token: letters, digits and !#$%&'*+-.^_`|~).
bool is_http_token(std::string_view name);

// "spec.headers.<name>" for a token, else spec.headers["<name with escapes>"] so that a hostile
// name cannot break the line it is reported on.
std::string header_field(std::string_view name);

}  // namespace plano::rules
