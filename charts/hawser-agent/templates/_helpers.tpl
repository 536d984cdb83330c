{{/* Name of namespaced objects: the contract fixes the ServiceAccount as hawser-agent. */}}
{{- define "hawser-agent.name" -}}hawser-agent{{- end -}}

{{/*
Prefix of cluster-scoped objects (ClusterRoles, ClusterRoleBindings). They
carry the release name and namespace so several releases (and test runs) can
live side by side in one cluster.
*/}}
{{- define "hawser-agent.clusterName" -}}
{{- printf "%s-%s" .Release.Name .Release.Namespace | trunc 200 | trimSuffix "-" -}}
{{- end -}}

{{- define "hawser-agent.labels" -}}
app.kubernetes.io/name: hawser-agent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "hawser-agent.selectorLabels" -}}
app.kubernetes.io/name: hawser-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
True (non-empty) when the impersonation RBAC uses constrained impersonation
(KEP-5284): verbs impersonate:user-info and impersonate-on:user-info:<verb>.
Beta and on by default from Kubernetes 1.36; impersonation.constrained
overrides the detection.
*/}}
{{- define "hawser-agent.constrained" -}}
{{- $c := .Values.impersonation.constrained | default "auto" -}}
{{- if eq $c "enabled" -}}true
{{- else if eq $c "auto" -}}
{{- if semverCompare ">=1.36-0" .Capabilities.KubeVersion.Version -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/* Verbs the impersonated identities may use, by agent mode (the verb ceiling). */}}
{{- define "hawser-agent.verbs" -}}
{{- $verbs := list "get" "list" "watch" -}}
{{- if has .Values.agent.mode (list "read-write" "full") -}}
{{- $verbs = concat $verbs (list "create" "update" "patch" "delete" "deletecollection") -}}
{{- end -}}
{{- toJson $verbs -}}
{{- end -}}

{{/* The tier groups, e.g. hawser:tier:read. */}}
{{- define "hawser-agent.tierGroups" -}}
{{- $groups := list -}}
{{- range .Values.authorization.tiers -}}
{{- $groups = append $groups (printf "%stier:%s" $.Values.impersonation.prefix .) -}}
{{- end -}}
{{- toJson $groups -}}
{{- end -}}

{{- define "hawser-agent.bootstrapSecret" -}}
{{- if and .Values.bootstrap.token .Values.bootstrap.existingSecret -}}
{{- fail "set bootstrap.token or bootstrap.existingSecret, not both" -}}
{{- end -}}
{{- if .Values.bootstrap.existingSecret -}}{{ .Values.bootstrap.existingSecret }}
{{- else if .Values.bootstrap.token -}}hawser-agent-bootstrap
{{- end -}}
{{- end -}}

{{/*
The protected namespaces as a JSON list: agent.protectedNamespaces plus the
release namespace when agent.protectOwnNamespace (the agent adds its own
namespace the same way, from POD_NAMESPACE).
*/}}
{{- define "hawser-agent.protectedNamespaces" -}}
{{- $names := .Values.agent.protectedNamespaces | default list -}}
{{- if and .Values.agent.protectOwnNamespace (not (has .Release.Namespace $names)) -}}
{{- $names = append $names .Release.Namespace -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}
