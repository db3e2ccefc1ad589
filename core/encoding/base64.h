// Base64 as Kubernetes uses it for Secret data (standard alphabet, padded).
#pragma once

#include <optional>
#include <string>

namespace plano::encoding {

std::string base64_encode(const std::string& bytes);
// nullopt when `text` is not valid padded base64.
std::optional<std::string> base64_decode(const std::string& text);

}  // namespace plano::encoding
