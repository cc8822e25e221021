{{/* Chart name, truncated to a DNS label. */}}
{{- define "opsbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: "<release>-opsbot", or just the release name when it
already contains the chart name. */}}
{{- define "opsbot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "opsbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "opsbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "opsbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "opsbot.labels" -}}
helm.sh/chart: {{ include "opsbot.chart" . }}
{{ include "opsbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "opsbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "opsbot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "opsbot.secretName" -}}
{{- default (include "opsbot.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "opsbot.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The namespaces opsbot may read when RBAC is namespaced, as a JSON list. */}}
{{- define "opsbot.rbacNamespaces" -}}
{{- if .Values.rbac.namespaces }}
{{- toJson (uniq .Values.rbac.namespaces) }}
{{- else }}
{{- toJson (list .Release.Namespace) }}
{{- end }}
{{- end }}

{{/* Read-only rules: what the debug, verify and trace playbooks fetch, and nothing else.
Never secrets, never pods/exec, never a write verb. */}}
{{- define "opsbot.rbacRules" -}}
- apiGroups: [""]
  resources: ["pods", "pods/log", "events"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apps"]
  resources: ["deployments", "replicasets"]
  verbs: ["get", "list", "watch"]
{{- if .Values.rbac.clusterWide }}
# a service that is not found is answered with the namespaces and similar names that do exist
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list"]
{{- end }}
{{- if .Values.rbac.daprSubscriptionCheck }}
# GET /api/v1/namespaces/NS/pods/POD:3500/proxy/dapr/subscribe: the sidecar's subscriptions
- apiGroups: [""]
  resources: ["pods/proxy"]
  verbs: ["get"]
{{- end }}
{{- end }}

{{/* The config file opsbot reads: the user's config, plus the mounted pattern files, plus a
default namespace opsbot is allowed to read. */}}
{{- define "opsbot.configYaml" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $k8s := deepCopy (default dict $cfg.kubernetes) }}
{{- if not $k8s.namespace }}
{{- $first := first (include "opsbot.rbacNamespaces" . | fromJsonArray) }}
{{- if .Values.rbac.clusterWide }}{{ $first = .Release.Namespace }}{{ end }}
{{- $_ := set $k8s "namespace" $first }}
{{- end }}
{{- $_ := set $cfg "kubernetes" $k8s }}
{{- $files := default list $cfg.patterns_files }}
{{- range $name, $_ := .Values.extraPatterns }}
{{- $files = append $files (printf "/etc/opsbot/patterns/%s" $name) }}
{{- end }}
{{- if $files }}
{{- $_ := set $cfg "patterns_files" $files }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
