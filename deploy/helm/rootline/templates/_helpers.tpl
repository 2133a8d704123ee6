{{/* Names and labels shared by every manifest of the chart. */}}
{{- define "rootline.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rootline.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rootline.labels" -}}
{{ include "rootline.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Secret holding KEY for a block of values with existingSecret. */}}
{{- define "rootline.databaseSecret" -}}
{{- .Values.database.existingSecret | default (printf "%s-database" (include "rootline.fullname" .)) -}}
{{- end -}}
{{- define "rootline.kekSecret" -}}
{{- .Values.kek.existingSecret | default (printf "%s-kek" (include "rootline.fullname" .)) -}}
{{- end -}}
{{- define "rootline.adminSecret" -}}
{{- .Values.admin.existingSecret | default (printf "%s-admin" (include "rootline.fullname" .)) -}}
{{- end -}}
{{- define "rootline.adminEnabled" -}}
{{- if or .Values.admin.existingSecret .Values.admin.publicKey -}}true{{- end -}}
{{- end -}}
