{{- define "hawser-server.fullname" -}}
{{- if contains "hawser-server" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-hawser-server" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hawser-server.labels" -}}
app.kubernetes.io/name: hawser-server
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "hawser-server.selectorLabels" -}}
app.kubernetes.io/name: hawser-server
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The data directory lives on a PVC only with one replica. */}}
{{- define "hawser-server.usePvc" -}}
{{- if and .Values.persistence.enabled (eq (int .Values.replicaCount) 1) -}}true{{- end -}}
{{- end -}}

{{/*
Refuses combinations that would lose the CA or split the fleet: several
replicas need one database and one CA; without a PVC both must come from
outside or they vanish on restart.
*/}}
{{- define "hawser-server.validate" -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- if not .Values.database.existingSecret -}}
{{- fail "replicaCount > 1 needs PostgreSQL: set database.existingSecret (a Secret holding postgres://…); the embedded PGlite serves one replica" -}}
{{- end -}}
{{- if not .Values.pki.existingSecret -}}
{{- fail "replicaCount > 1 needs one CA and token signing key for all replicas: set pki.existingSecret (ca.crt, ca.key, token-signing-key.pem, admin-token)" -}}
{{- end -}}
{{- end -}}
{{- if not (include "hawser-server.usePvc" .) -}}
{{- if not .Values.pki.existingSecret -}}
{{- fail "without persistence the CA created on first start is lost on restart: set pki.existingSecret or persistence.enabled=true (one replica)" -}}
{{- end -}}
{{- if not .Values.database.existingSecret -}}
{{- fail "without persistence the embedded database is lost on restart: set database.existingSecret or persistence.enabled=true (one replica)" -}}
{{- end -}}
{{- end -}}
{{- $drain := add .Values.drain.preStopSeconds .Values.drain.timeoutSeconds 5 -}}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $drain) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must cover the drain: drain.preStopSeconds + drain.timeoutSeconds + 5 = %d; raise it or shorten the drain" (int .Values.terminationGracePeriodSeconds) (int $drain)) -}}
{{- end -}}
{{- if and .Values.oidc.enabled (or (not .Values.oidc.issuer) (not .Values.oidc.audience)) -}}
{{- fail "oidc.enabled needs oidc.issuer and oidc.audience" -}}
{{- end -}}
{{- end -}}

{{/* Several replicas: on PostgreSQL, with tunnel leases and forwarding between replicas. */}}
{{- define "hawser-server.replicated" -}}
{{- if .Values.database.existingSecret -}}true{{- end -}}
{{- end -}}
