-- Argo CD health check for plano-operator.io PlanoGateway and ModelProvider.
-- Install it for both kinds (docs/install.md, "Installing the Argo CD health check").
--
-- Reads what the operator writes on both kinds: status.observedGeneration and the
-- summary conditions Ready, Reconciling and Stalled (exactly one of them True),
-- each carrying the generation it was computed from. kstatus (Flux, kpt) reads the
-- same, so both tools agree (tests/e2e/health_test.sh runs both on live objects):
--   Progressing  the operator has not yet judged the current spec, or Reconciling=True:
--                something is on its way (a rollout, a Secret or gateway still to come)
--   Degraded     Stalled=True: nothing changes until someone changes something (a
--                refusal, a bad key, pods that never become available, an object the
--                API server refuses)
--   Healthy      Ready=True for the current generation

local function result(status, message)
  return {status = status, message = message}
end

if obj.kind ~= "PlanoGateway" and obj.kind ~= "ModelProvider" then
  return result("Unknown", "not a plano-operator.io kind: " .. tostring(obj.kind))
end

local generation = (obj.metadata and obj.metadata.generation) or 0
local status = obj.status or {}
if status.observedGeneration == nil or status.observedGeneration < generation then
  return result("Progressing", "waiting for plano-operator to observe generation " .. generation)
end

local byType = {}
for _, c in ipairs(status.conditions or {}) do
  if c.type ~= nil then
    byType[c.type] = c
  end
end

local function current(c)
  return c ~= nil and (c.observedGeneration == nil or c.observedGeneration >= generation)
end

local function describe(c)
  return c.type .. "=" .. tostring(c.status) .. " (" .. tostring(c.reason) .. "): " .. tostring(c.message)
end

local stalled = byType["Stalled"]
if current(stalled) and stalled.status == "True" then
  return result("Degraded", describe(stalled))
end

local ready = byType["Ready"]
if ready == nil then
  return result("Progressing", "waiting for condition Ready")
end
if not current(ready) then
  return result("Progressing", "condition Ready is from generation " .. tostring(ready.observedGeneration))
end
if ready.status == "True" then
  local message = tostring(ready.message)
  if obj.kind == "PlanoGateway" and status.acceptedProviders ~= nil then
    message = message .. "; " .. status.acceptedProviders .. " provider(s) in the running config"
  end
  return result("Healthy", message)
end

local reconciling = byType["Reconciling"]
if current(reconciling) and reconciling.status == "True" then
  return result("Progressing", describe(reconciling))
end
return result("Progressing", describe(ready))
