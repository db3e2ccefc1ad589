#include "core/kube/resource.h"

namespace plano::kube {

std::string Resource::api_version() const { return group.empty() ? version : group + "/" + version; }

std::string Resource::name() const { return group.empty() ? plural : plural + "." + group; }

std::string Resource::path(std::string_view ns, std::string_view object_name, std::string_view subresource) const {
  std::string out = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) out += "/namespaces/" + url_encode(ns);
  out += "/" + plural;
  if (!object_name.empty()) {
    out += "/" + url_encode(object_name);
    if (!subresource.empty()) out += "/" + std::string(subresource);
  }
  return out;
}

std::string url_encode(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    bool unreserved = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' ||
                      u == '.' || u == '_' || u == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

}  // namespace plano::kube
