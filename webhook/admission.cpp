#include "webhook/admission.h"

#include <algorithm>
#include <set>
#include <utility>

#include "core/api/decode.h"
#include "core/render/renderer.h"
#include "core/rules/object_rules.h"

namespace plano::webhook {
namespace {

using nlohmann::json;

// A string member, or "" when absent or of another type (bodies are untrusted).
std::string str(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// A member of an object, or null when absent or `j` is no object (bodies are untrusted: a CREATE's
// oldObject is null).
const json& member(const json& j, const char* key) {
  static const json null;
  if (!j.is_object()) return null;
  auto it = j.find(key);
  return it != j.end() ? *it : null;
}

// JSON nesting is refused beyond this before parsing: the parser allocates per level, so a body
// of 3 MiB of '[' would cost about 200 MB (which the allocator then keeps). A real review nests
// far less: a ModelProvider CREATE, managedFields and all, 11 levels.
constexpr int kMaxNesting = 64;

// Whether `text` has more than `limit` arrays and objects open at once, counting outside strings.
bool nested_deeper_than(const std::string& text, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

AdmissionOutcome bad_request(std::string reason, std::string kind = "", std::string operation = "") {
  AdmissionOutcome out;
  out.httpStatus = 400;
  out.body = {{"apiVersion", "v1"}, {"kind", "Status"}, {"status", "Failure"}, {"code", 400}, {"reason", "BadRequest"},
              {"message", std::move(reason)}};
  out.kind = std::move(kind);
  out.operation = std::move(operation);
  out.verdict = "error";
  return out;
}

void add_finding(Verdict& v, const std::string& field, const std::string& message, rules::Severity s) {
  (s == rules::Severity::Error ? v.errors : v.warnings).push_back((field.empty() ? "" : field + ": ") + message);
}

// Where the candidate stands among the gateway's providers when everyone is judged again.
enum class Standing {
  Newest,      // after everyone: a change can never take what another holds
  InPlace,     // where its earlier version stood: a change that claims nothing new keeps its place
  AheadOfIdle  // newest, but ahead of providers that cannot serve (their Secret is missing)
};

// Everyone on the gateway but `self`'s earlier version, in precedence order, with the candidate
// where `standing` puts it, evaluated together: what judge_next answers at once, when it may.
rules::Judgement judge_everyone_again(const api::ModelProvider& candidate, const rules::ObjectRef& self,
                                      const ClusterView& view, Standing standing = Standing::Newest) {
  std::vector<const api::PlanoGateway*> gateways;
  if (view.gateway) gateways.push_back(view.gateway.get());
  std::vector<const api::ModelProvider*> providers;
  bool placed = false;
  for (const auto& p : view.providers) {
    const bool is_self = rules::ref_of(*p) == self;
    if (!placed && ((standing == Standing::InPlace && is_self) || (standing == Standing::AheadOfIdle && !rules::can_serve(*p)))) {
      providers.push_back(&candidate);
      placed = true;
    }
    if (!is_self) providers.push_back(p.get());
  }
  if (!placed) providers.push_back(&candidate);
  auto ev = rules::evaluate(gateways, providers, view.namespaceLabels);
  rules::Judgement out{ev.providers.at(api::key_of(candidate.metadata)), {}};
  for (auto& f : ev.findings) {
    if (f.object == self) out.findings.push_back(std::move(f));
  }
  return out;
}

// A provider that starts to use a Secret (created with one, or pointed at another) is refused
// unless the requesting user may read that Secret: otherwise anyone allowed to write providers
// could have the gateway send any Secret of the namespace to a host of their choosing.
void check_secret_access(const api::ModelProvider& candidate, const json& request, const SecretReadAccess& may_read_secret,
                         Verdict& out) {
  const auto& ref = candidate.spec.accessKeySecretRef;
  if (!ref) return;
  const auto& old_ref = member(member(member(request, "oldObject"), "spec"), "accessKeySecretRef");
  if (str(request, "operation") == "UPDATE" && str(old_ref, "name") == ref->name) return;
  const auto& user_info = member(request, "userInfo");
  const auto user = str(user_info, "username").empty() ? std::string("the requesting user") : str(user_info, "username");
  const auto secret = candidate.metadata.namespace_ + "/" + ref->name;
  try {
    if (may_read_secret(user_info, candidate.metadata.namespace_, ref->name)) return;
    out.errors.push_back("spec.accessKeySecretRef.name: " + user + " may not read Secret " + secret +
                         ", so a provider written by them may not use it (the gateway would send its value upstream on "
                         "their behalf); reference a Secret you can read, or ask someone who can read this one to "
                         "write the provider");
  } catch (const std::exception& e) {
    out.errors.push_back("spec.accessKeySecretRef.name: could not check that " + user + " may read Secret " + secret +
                         " (" + e.what() + "); retry");
  }
}

// What the candidate adds to the gateway's config (its entry and preferences; its earlier version
// is counted in the view, so an update is judged with a little to spare) must fit in the ConfigMap,
// unless the operator would make room for it: when the config is full, the namespaces with the most
// providers on the gateway give way first (render::render_fitting), so a provider is admitted while
// another namespace has more providers than the candidate's will have.
void check_config_room(const api::ModelProvider& candidate, const ClusterView& view, Verdict& out) {
  const auto& gw = *view.gateway;
  const auto adds = render::render(gw, {&candidate}).config.size() - view.bareConfigBytes;
  if (view.configBytes + adds <= render::kMaxConfigBytes) return;
  const auto& own_namespace = candidate.metadata.namespace_;
  // The candidate counted once: its earlier version, if accepted, is among the namespace's count.
  const auto earlier = view.evaluation.providers.find(api::key_of(candidate.metadata));
  const bool counted = earlier != view.evaluation.providers.end() && earlier->second.accepted();
  const auto in_own = view.acceptedPerNamespace.find(own_namespace);
  const auto own = (in_own != view.acceptedPerNamespace.end() ? in_own->second : 0) + (counted ? 0 : 1);
  const auto& largest = view.mostAccepted.first != own_namespace ? view.mostAccepted : view.secondMostAccepted;
  if (largest.second > own) {
    out.warnings.push_back("spec: gateway " + view.gatewayKey + "'s config is full: with this provider, providers of namespace " +
                           largest.first + " (" + std::to_string(largest.second) + " on the gateway, the most) are left out "
                           "of it in its place");
    return;
  }
  out.errors.push_back("spec: gateway " + view.gatewayKey + "'s config would grow to " + std::to_string(view.configBytes + adds) +
                       " bytes, over the " + std::to_string(render::kMaxConfigBytes) + "-byte limit of a ConfigMap, and namespace " +
                       own_namespace + " would have " + std::to_string(own) + " provider(s) on the gateway, as many as any other "
                       "(the namespaces with the most give way first); make this provider smaller, remove another of yours, or "
                       "ask the gateway's owners to split providers across gateways");
}

// Whether two versions of a provider claim the same things on a gateway: name, model, default,
// upstream, routing preference names and aliases.
bool same_claims(const api::ModelProvider& a, const api::ModelProvider& b) {
  auto preference_names = [](const api::ModelProvider& mp) {
    std::set<std::string> names;
    for (const auto& p : mp.spec.routingPreferences) names.insert(p.name);
    return names;
  };
  auto aliases = [](const api::ModelProvider& mp) { return std::set<std::string>(mp.spec.aliases.begin(), mp.spec.aliases.end()); };
  return a.planoName() == b.planoName() && a.spec.model == b.spec.model && a.isDefault() == b.isDefault() &&
         a.spec.baseURL == b.spec.baseURL && a.spec.providerInterface == b.spec.providerInterface &&
         a.spec.gatewayRef.name == b.spec.gatewayRef.name && a.gatewayNamespace() == b.gatewayNamespace() &&
         preference_names(a) == preference_names(b) && aliases(a) == aliases(b);
}

Verdict judge_gateway(const api::PlanoGateway& candidate, const ClusterView& view) {
  Verdict out;
  for (const auto& f : rules::check_gateway(candidate)) add_finding(out, f.field, f.message, f.severity);
  if (!out.errors.empty()) return out;
  // Which attached providers this change would drop: allowed, but said.
  const auto key = api::key_of(candidate.metadata);
  std::vector<const api::ModelProvider*> attached;
  for (const auto& p : view.providers) attached.push_back(p.get());
  auto after = rules::evaluate({&candidate}, attached, view.namespaceLabels);
  // What the gateway refers to among its providers may come later (GitOps applies in any order):
  // said, never refused; the operator holds the last config meanwhile.
  const auto& served = after.gateways.at(key).accepted;
  if (auto problem = rules::routing_model_problem(candidate, served, after.providers)) {
    out.warnings.push_back("spec.routing.modelProviderRef: " + *problem + "; until it is served, the gateway keeps its last config");
  }
  for (const auto& f : rules::rate_limit_findings(candidate, served)) add_finding(out, f.field, f.message, f.severity);
  std::set<std::string> accepted_before;
  if (view.gateway) {
    for (const auto* p : view.evaluation.gateways.at(key).accepted) accepted_before.insert(api::key_of(p->metadata));
  }
  std::vector<std::string> dropped;
  for (const auto& name : accepted_before) {
    const auto& v = after.providers.at(name);
    if (!v.accepted()) dropped.push_back(name + " (" + rules::to_string(v.reason) + ")");
  }
  if (!dropped.empty()) {
    std::string list;
    for (const auto& d : dropped) list += (list.empty() ? "" : ", ") + d;
    out.warnings.push_back("this change drops " + std::to_string(dropped.size()) +
                           " provider(s) from the gateway's config: " + list);
  }
  return out;
}

}  // namespace

std::shared_ptr<const ClusterView> make_view(const std::string& gateway_key,
                                             const std::vector<std::shared_ptr<const api::PlanoGateway>>& gateways,
                                             const std::vector<std::shared_ptr<const api::ModelProvider>>& providers,
                                             rules::NamespaceLabels namespace_labels) {
  auto view = std::make_shared<ClusterView>();
  view->gatewayKey = gateway_key;
  for (const auto& g : gateways) {
    if (api::key_of(g->metadata) == gateway_key) view->gateway = g;
  }
  for (const auto& p : providers) {
    if (p->gatewayNamespace() + "/" + p->spec.gatewayRef.name == gateway_key) view->providers.push_back(p);
  }
  {
    // The operator's precedence (rules::by_claim), from the statuses it wrote.
    std::vector<const api::ModelProvider*> order;
    std::map<const api::ModelProvider*, std::shared_ptr<const api::ModelProvider>> owner;
    for (const auto& p : view->providers) order.push_back(owner.emplace(p.get(), p).first->first);
    rules::by_claim(order, rules::can_serve);
    for (std::size_t i = 0; i < order.size(); ++i) view->providers[i] = owner.at(order[i]);
  }
  view->namespaceLabels = std::move(namespace_labels);
  std::vector<const api::PlanoGateway*> gateway;
  if (view->gateway) gateway.push_back(view->gateway.get());
  std::vector<const api::ModelProvider*> attached;
  for (const auto& p : view->providers) attached.push_back(p.get());
  view->evaluation = rules::evaluate(gateway, attached, view->namespaceLabels);
  if (view->gateway) {
    view->configBytes = render::render(*view->gateway, view->evaluation.gateways.at(gateway_key).accepted).config.size();
    view->bareConfigBytes = render::render(*view->gateway, {}).config.size();
    for (const auto* p : view->evaluation.gateways.at(gateway_key).accepted) ++view->acceptedPerNamespace[p->metadata.namespace_];
    for (const auto& entry : view->acceptedPerNamespace) {  // by name: the first of equals stays ahead
      if (entry.second > view->mostAccepted.second) {
        view->secondMostAccepted = std::exchange(view->mostAccepted, entry);
      } else if (entry.second > view->secondMostAccepted.second) {
        view->secondMostAccepted = entry;
      }
    }
  }
  return view;
}

Verdict judge_provider(const api::ModelProvider& candidate, const ClusterView& view) {
  // The request is judged as the newest provider, so a change can never take a value another
  // provider already holds, and its own earlier version never conflicts with it. Leaving that
  // version out changes no one else's verdict unless it held something another was refused for.
  const auto self = rules::ref_of(candidate);
  const auto* gateway = view.gateway ? &view.evaluation.gateways.at(view.gatewayKey) : nullptr;
  const auto earlier = view.evaluation.providers.find(api::key_of(candidate.metadata));
  const bool earlier_held_claims = earlier != view.evaluation.providers.end() && earlier->second.accepted();
  auto judgement = earlier_held_claims && gateway && gateway->conflicts
                       ? judge_everyone_again(candidate, self, view)
                       : rules::judge_next(candidate, gateway, view.namespaceLabels, &self);
  if (judgement.verdict.reason == rules::Reason::Conflict && earlier != view.evaluation.providers.end() &&
      same_claims(*earlier->second.provider, candidate)) {
    // A change that claims nothing new (a label, a description, a re-sync) keeps the place the
    // operator gave its earlier version, so the provider the operator keeps stays updatable.
    judgement = judge_everyone_again(candidate, self, view, Standing::InPlace);
  } else if (judgement.verdict.reason == rules::Reason::Conflict && judgement.verdict.winner && gateway) {
    // A holder that cannot serve (its Secret is missing) yields to a working newcomer, as the
    // operator orders them.
    const auto holder = std::find_if(view.providers.begin(), view.providers.end(),
                                     [&](const auto& p) { return rules::ref_of(*p) == *judgement.verdict.winner; });
    if (holder != view.providers.end() && !rules::can_serve(**holder)) {
      auto ahead = judge_everyone_again(candidate, self, view, Standing::AheadOfIdle);
      if (ahead.verdict.accepted()) {
        ahead.findings.push_back(rules::Finding{rules::Severity::Warning, self, judgement.verdict.field,
                                                judgement.verdict.winner->describe() + " also claims this, but cannot serve (its "
                                                "key does not resolve), so this provider takes precedence"});
      }
      judgement = std::move(ahead);
    }
  }
  const auto& verdict = judgement.verdict;
  Verdict out;
  if (verdict.accepted() && gateway) check_config_room(candidate, view, out);
  for (const auto& f : judgement.findings) {
    const bool decided_by_verdict = !verdict.accepted() && verdict.reason != rules::Reason::Invalid && f.field == verdict.field &&
                                    f.message == rules::describe(verdict);
    // The holder of a contested value is named, whoever's it is, so the tenant knows whom to ask.
    add_finding(out, f.field, decided_by_verdict ? rules::describe(verdict) : f.message, f.severity);
  }
  return out;
}

AdmissionOutcome review(const std::string& request_body, const ClusterLookup& cluster, const SecretReadAccess& may_read_secret) {
  if (nested_deeper_than(request_body, kMaxNesting)) {
    return bad_request("the body nests deeper than " + std::to_string(kMaxNesting) + " levels; expected an AdmissionReview");
  }
  json review = json::parse(request_body, nullptr, false);
  if (review.is_discarded()) return bad_request("the body is not JSON; expected an admission.k8s.io/v1 AdmissionReview");
  if (!review.is_object() || review.value("apiVersion", json()) != "admission.k8s.io/v1" ||
      review.value("kind", json()) != "AdmissionReview") {
    return bad_request("expected apiVersion admission.k8s.io/v1, kind AdmissionReview");
  }
  auto req = review.find("request");
  if (req == review.end() || !req->is_object()) return bad_request("the AdmissionReview has no request");
  const std::string uid = str(*req, "uid");
  if (uid.empty()) return bad_request("request.uid is missing");
  const json kind_obj = req->value("kind", json::object());
  const std::string group = str(kind_obj, "group");
  const std::string kind = str(kind_obj, "kind");
  const std::string operation = str(*req, "operation");
  const std::string ns = str(*req, "namespace");
  if (group != api::kGroup || (kind != api::kGatewayKind && kind != api::kProviderKind)) {
    return bad_request("this webhook judges only plano-operator.io PlanoGateway and ModelProvider, not " +
                           (group.empty() ? std::string("core") : group) + "/" + kind,
                       kind, operation);
  }

  AdmissionOutcome out;
  out.kind = kind;
  out.operation = operation;
  out.uid = uid;
  out.namespace_ = ns;
  out.name = str(*req, "name");
  json response = {{"uid", uid}, {"allowed", true}};
  Verdict verdict;
  if (operation == "CREATE" || operation == "UPDATE") {
    auto found = req->find("object");
    if (found == req->end() || !found->is_object()) return bad_request("request.object is missing for " + operation, kind, operation);
    json object = std::move(*found);  // the review is ours, and nothing below reads the object from it
    // The API server fills metadata.namespace for namespaced objects; a stray one in the body
    // must not let the object be judged as if it lived elsewhere.
    if (!ns.empty()) {
      auto& meta = object["metadata"];
      if (meta.is_null()) meta = json::object();
      if (meta.is_object()) meta["namespace"] = ns;
    }
    if (kind == api::kProviderKind) {
      auto decoded = api::decode_provider(object);
      for (const auto& e : decoded.errors) verdict.errors.push_back(e.path + ": " + e.message);
      if (decoded.errors.empty()) {
        out.gateway = decoded.object->gatewayNamespace() + "/" + decoded.object->spec.gatewayRef.name;
        verdict = judge_provider(*decoded.object, *cluster(out.gateway));
        // Asked of the API server only for an object that passes every other rule.
        if (verdict.errors.empty()) check_secret_access(*decoded.object, *req, may_read_secret, verdict);
      }
    } else {
      auto decoded = api::decode_gateway(object);
      for (const auto& e : decoded.errors) verdict.errors.push_back(e.path + ": " + e.message);
      if (decoded.errors.empty()) {
        out.gateway = api::key_of(decoded.object->metadata);
        verdict = judge_gateway(*decoded.object, *cluster(out.gateway));
      }
    }
  }
  if (!verdict.warnings.empty()) response["warnings"] = verdict.warnings;
  if (!verdict.errors.empty()) {
    std::string message = kind + " " + ns + "/" + out.name + " is refused: ";
    for (std::size_t i = 0; i < verdict.errors.size(); ++i) message += (i ? "; " : "") + verdict.errors[i];
    response["allowed"] = false;
    response["status"] = {{"code", 422}, {"reason", "Invalid"}, {"message", message}};
  }
  out.verdict = verdict.errors.empty() ? "allowed" : "denied";
  out.body = {{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"response", response}};
  return out;
}

}  // namespace plano::webhook
