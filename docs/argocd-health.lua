-- Argo CD health check for plano-operator.io PlanoGateway and ModelProvider.
-- Install it for both kinds (docs/install.md, "Installing the Argo CD health check").
--
-- Reads only what the operator writes: status.observedGeneration and the
-- conditions (PlanoGateway: Accepted, Programmed, Ready; ModelProvider:
-- Accepted, ResolvedRefs, Programmed), each carrying the generation it was
-- computed from.
--   Progressing  the operator has not yet judged the current spec, a condition
--                is missing or Unknown, or the gateway's Deployment is still
--                rolling out (Ready=False, DeploymentNotAvailable)
--   Degraded     the object is refused (Accepted=False), cannot be programmed
--                (Programmed=False) or its Secret is missing (ResolvedRefs=False)
--   Healthy      every condition is True for the current generation

local expected = {
  PlanoGateway = {"Accepted", "Programmed", "Ready"},
  ModelProvider = {"Accepted", "ResolvedRefs", "Programmed"},
}

local function result(status, message)
  return {status = status, message = message}
end

local types = expected[obj.kind]
if types == nil then
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

local function describe(c)
  return c.type .. "=" .. tostring(c.status) .. " (" .. tostring(c.reason) .. "): " .. tostring(c.message)
end

-- A refusal is final until someone changes something, so it wins over any
-- condition that is merely not there yet.
for _, t in ipairs(types) do
  local c = byType[t]
  local current = c ~= nil and (c.observedGeneration == nil or c.observedGeneration >= generation)
  if current and c.status == "False" and not (t == "Ready" and c.reason == "DeploymentNotAvailable") then
    return result("Degraded", describe(c))
  end
end

for _, t in ipairs(types) do
  local c = byType[t]
  if c == nil then
    return result("Progressing", "waiting for condition " .. t)
  end
  if c.observedGeneration ~= nil and c.observedGeneration < generation then
    return result("Progressing", "condition " .. t .. " is from generation " .. c.observedGeneration)
  end
  if c.status ~= "True" then
    return result("Progressing", describe(c))
  end
end

local message = "all conditions True"
if obj.kind == "PlanoGateway" and status.acceptedProviders ~= nil then
  message = message .. "; " .. status.acceptedProviders .. " provider(s) in the running config"
end
return result("Healthy", message)
