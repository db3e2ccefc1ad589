{{/*
Naming. The full name is the release name, unless it lacks the chart name,
then "<release>-<chart>". Kubernetes names are at most 63 characters for
labels and Services, so everything is cut there and suffixes stay short.
*/}}
{{- define "plano-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "plano-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Names shared between objects and the operator's flags: one definition each. */}}
{{- define "plano-operator.operatorName" -}}{{ include "plano-operator.fullname" . }}-operator{{- end -}}
{{- define "plano-operator.webhookName" -}}{{ include "plano-operator.fullname" . }}-webhook{{- end -}}
{{- define "plano-operator.webhookConfigurationName" -}}{{ include "plano-operator.fullname" . }}{{- end -}}
{{- define "plano-operator.leaseName" -}}{{ default (include "plano-operator.fullname" .) .Values.operator.leaseName }}{{- end -}}

{{- define "plano-operator.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "plano-operator.operatorName" .) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "plano-operator.webhookServiceAccountName" -}}
{{- if .Values.webhook.serviceAccount.create -}}
{{- default (include "plano-operator.webhookName" .) .Values.webhook.serviceAccount.name -}}
{{- else -}}
{{- required "webhook.serviceAccount.name is required when webhook.serviceAccount.create is false" .Values.webhook.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret the webhook serves its certificate from, in every mode. */}}
{{- define "plano-operator.webhookSecretName" -}}
{{- if eq .Values.webhook.certificates.mode "existingSecret" -}}
{{- required "webhook.certificates.existingSecret.name is required when mode is existingSecret" .Values.webhook.certificates.existingSecret.name -}}
{{- else -}}
{{- include "plano-operator.webhookName" . }}-tls
{{- end -}}
{{- end -}}

{{/* cert-manager's Certificate object (not the Secret it writes). */}}
{{- define "plano-operator.certificateName" -}}{{ include "plano-operator.webhookName" . }}-serving{{- end -}}

{{/*
An image reference: repository@digest when a digest is given, else repository:tag.
Usage: include "plano-operator.imageRef" (dict "image" .Values.image "defaultTag" .Chart.AppVersion)
*/}}
{{- define "plano-operator.imageRef" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .defaultTag .image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "plano-operator.image" -}}
{{- include "plano-operator.imageRef" (dict "image" .Values.image "defaultTag" .Chart.AppVersion) -}}
{{- end -}}

{{/* imagePullSecrets items from the value's list: {name: ...} objects, plain names turned into them. */}}
{{- define "plano-operator.imagePullSecrets" -}}
{{- range . }}
{{- if kindIs "string" . }}
- name: {{ . }}
{{- else }}
- name: {{ .name }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Labels. Selector labels never change between upgrades (a Deployment's
selector is immutable); the rest may. The component label tells the
operator's pods from the webhook's.
*/}}
{{- define "plano-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "plano-operator.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "plano-operator.labels" -}}
{{ include "plano-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: plano-operator
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- with .labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
metadata.labels and metadata.annotations for an object.
Usage: include "plano-operator.metadata" (dict "root" $ "component" "webhook" "annotations" $extra "labels" $extra)
*/}}
{{- define "plano-operator.metadata" -}}
labels:
  {{- include "plano-operator.labels" . | nindent 2 }}
{{- $annotations := merge (dict) (.annotations | default dict) .root.Values.commonAnnotations }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Identity and namespace from the downward API; the binary reads both as flag defaults. */}}
{{- define "plano-operator.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}

{{/* Whether the metrics Services exist: asked for directly or needed by the ServiceMonitor. */}}
{{- define "plano-operator.metricsServices" -}}
{{- if or .Values.metrics.enabled .Values.metrics.serviceMonitor.enabled -}}true{{- end -}}
{{- end -}}
