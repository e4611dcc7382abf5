{{/* The chart's name, overridable with nameOverride. */}}
{{- define "pier-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's resource name: the release name alone when it already holds the chart's name. */}}
{{- define "pier-agent.fullname" -}}
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
{{- define "pier-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pier-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Standard labels on every resource. */}}
{{- define "pier-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "pier-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: pier
{{- end }}

{{/* The PersistentVolumeClaim that holds /data. */}}
{{- define "pier-agent.claimName" -}}
{{- default (printf "%s-data" (include "pier-agent.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/* The ServiceAccount the pod runs as. */}}
{{- define "pier-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pier-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the edge key, under key "edge-key". */}}
{{- define "pier-agent.edgeKeySecret" -}}
{{- default (printf "%s-edge-key" (include "pier-agent.fullname" .)) .Values.edge.existingSecret }}
{{- end }}

{{/* EDGE_ID, checked here so a bad value fails the install rather than the pod. */}}
{{- define "pier-agent.edgeId" -}}
{{- $id := required "edge.id is required: this device's unique id, e.g. --set edge.id=$(cat /proc/sys/kernel/random/uuid) (the Pier UI prints the whole helm install command)" .Values.edge.id | toString }}
{{- if not (regexMatch "^[A-Za-z0-9._:@-]{1,128}$" $id) }}
{{- fail (printf "edge.id %q may hold only up to 128 letters, digits and . _ : @ - characters" $id) }}
{{- end }}
{{- $id }}
{{- end }}

{{/* Fails the install on missing or bad required values, the Edge ID first; each template that uses them starts with it, so the message is the same whichever renders first. */}}
{{- define "pier-agent.validate" -}}
{{- $_ := include "pier-agent.edgeId" . }}
{{- if not .Values.edge.existingSecret }}
{{- $_ = required "edge.key is required: the edge key from the Pier UI (Add environment), e.g. --set edge.key=<key>, or a Secret of your own with --set edge.existingSecret=<name> (key edge-key)" .Values.edge.key }}
{{- end }}
{{- end }}

{{/* Where the mTLS Secret is mounted; the agent's arguments name files below it. */}}
{{- define "pier-agent.mtlsDir" -}}/certs/mtls{{- end }}
