{{/*
Names, labels and images shared by every template.
*/}}

{{- define "govchain.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The resource name prefix: <release>-<chart>, or just the release name when it
already contains the chart name. Truncated so "-operator" still fits in 63.
*/}}
{{- define "govchain.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "govchain.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every resource. Call with (dict "ctx" $ "component" "operator").
*/}}
{{- define "govchain.labels" -}}
helm.sh/chart: {{ include "govchain.chart" .ctx }}
{{ include "govchain.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: govchain
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The labels a Deployment selects its pods by; never change across upgrades.
*/}}
{{- define "govchain.selectorLabels" -}}
app.kubernetes.io/name: {{ include "govchain.name" .ctx }}-{{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "govchain.operator.fullname" -}}
{{- printf "%s-operator" (include "govchain.fullname" .) }}
{{- end }}

{{- define "govchain.api.fullname" -}}
{{- printf "%s-api" (include "govchain.fullname" .) }}
{{- end }}

{{- define "govchain.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "govchain.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "govchain.api.serviceAccountName" -}}
{{- if .Values.api.serviceAccount.create }}
{{- default (include "govchain.api.fullname" .) .Values.api.serviceAccount.name }}
{{- else }}
{{- required "api.serviceAccount.name is required when api.serviceAccount.create is false" .Values.api.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
repository:tag, the tag defaulting to the chart's appVersion. Call with the
component's image values and the root context: (dict "image" .Values.x.image "ctx" $).
*/}}
{{- define "govchain.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}

{{- define "govchain.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ .name }}
{{- end }}
{{- end }}
{{- end }}
