{{/* The chart's name, overridable with nameOverride. */}}
{{- define "pier-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's resource name: the release name alone when it already holds the chart's name. */}}
{{- define "pier-server.fullname" -}}
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

{{/* The labels the selector matches on; never change them for a release once installed. */}}
{{- define "pier-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pier-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels on every resource. */}}
{{- define "pier-server.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "pier-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: pier
{{- end }}

{{/* The PersistentVolumeClaim that holds /data. */}}
{{- define "pier-server.claimName" -}}
{{- default (printf "%s-data" (include "pier-server.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/* Where the Secrets are mounted; the server's arguments name files below these. */}}
{{- define "pier-server.mtlsDir" -}}/certs/mtls{{- end }}
{{- define "pier-server.tlsDir" -}}/certs/tls{{- end }}
{{- define "pier-server.clientCaDir" -}}/certs/client-ca{{- end }}

{{/* The probe handler: an HTTPS GET of the unauthenticated status route, or a TCP check when every client must present a certificate. */}}
{{- define "pier-server.probeHandler" -}}
{{- $type := ternary "tcpSocket" .Values.probes.type (ne .Values.tls.existingCaSecret "") }}
{{- if eq $type "httpGet" }}
httpGet:
  path: /api/system/status
  port: 9443
  scheme: HTTPS
{{- else if eq $type "tcpSocket" }}
tcpSocket:
  port: 9443
{{- else }}
{{- fail (printf "probes.type must be httpGet or tcpSocket, got %q" $type) }}
{{- end }}
{{- end }}

{{/* True (non-empty) when the replicas share PostgreSQL: database.url or database.existingSecret is set. */}}
{{- define "pier-server.clustered" -}}
{{- if or .Values.database.url .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{/* Refuses values that cannot run: several replicas on SQLite, two sources for one setting. */}}
{{- define "pier-server.validate" -}}
{{- $replicas := int .Values.replicaCount }}
{{- if lt $replicas 1 }}
{{- fail (printf "replicaCount must be at least 1, got %v" .Values.replicaCount) }}
{{- end }}
{{- if and (gt $replicas 1) (not (include "pier-server.clustered" .)) }}
{{- fail (printf "replicaCount %d needs PostgreSQL: set database.url (or database.existingSecret, a Secret holding the URL under key %s); replicas cannot share the SQLite database in /data" $replicas .Values.database.existingSecretKey) }}
{{- end }}
{{- if and .Values.database.url .Values.database.existingSecret }}
{{- fail "set database.url or database.existingSecret, not both" }}
{{- end }}
{{- if and .Values.database.url (not (regexMatch "^postgres(ql)?://" .Values.database.url)) }}
{{- fail "database.url must be a postgres:// or postgresql:// URL" }}
{{- end }}
{{- if not (has .Values.podAntiAffinity (list "soft" "hard" "")) }}
{{- fail (printf "podAntiAffinity must be soft, hard or empty, got %q" .Values.podAntiAffinity) }}
{{- end }}
{{- $peerPort := int .Values.peer.port }}
{{- if or (lt $peerPort 1) (gt $peerPort 65535) (has $peerPort (list 9443 8000)) }}
{{- fail (printf "peer.port must be a free TCP port other than 9443 and 8000, got %v" .Values.peer.port) }}
{{- end }}
{{- end }}

{{/* The Secret holding the database URL, and its key. */}}
{{- define "pier-server.databaseSecret" -}}
{{- default (printf "%s-database" (include "pier-server.fullname" .)) .Values.database.existingSecret }}
{{- end }}
{{- define "pier-server.databaseSecretKey" -}}
{{- if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}database-url{{ end }}
{{- end }}

{{/* The Secret holding the cluster's secret file (--secret-file), and its key. */}}
{{- define "pier-server.secretFileSecret" -}}
{{- default (printf "%s-secret-file" (include "pier-server.fullname" .)) .Values.secretFile.existingSecret }}
{{- end }}
{{- define "pier-server.secretFileKey" -}}
{{- if .Values.secretFile.existingSecret }}{{ .Values.secretFile.existingSecretKey }}{{ else }}secret{{ end }}
{{- end }}
{{- define "pier-server.secretFileDir" -}}/run/pier/secret-file{{- end }}
{{- define "pier-server.adminPasswordDir" -}}/run/pier/admin-password{{- end }}
