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
