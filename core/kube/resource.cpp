#include "core/kube/resource.h"

namespace plano::kube {

std::string Resource::api_version() const { return group.empty() ? version : group + "/" + version; }

std::string Resource::name() const { return group.empty() ? plural : plural + "." + group; }

std::string Resource::path(std::string_view ns, std::string_view object_name, std::string_view subresource) const {
  // Appended piece by piece: `"literal" + std::string(...)` here makes GCC 12 at -O3 report a
  // memcpy overlap that cannot happen (-Wrestrict false positive, GCC bug 105329).
  std::string out = group.empty() ? "/api/" : "/apis/";
  if (!group.empty()) out.append(group).append("/");
  out.append(version);
  if (namespaced && !ns.empty()) out.append("/namespaces/").append(url_encode(ns));
  out.append("/").append(plural);
  if (!object_name.empty()) {
    out.append("/").append(url_encode(object_name));
    if (!subresource.empty()) out.append("/").append(subresource);
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
