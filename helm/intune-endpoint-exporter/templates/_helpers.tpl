{{/* Chart name, or nameOverride. */}}
{{- define "intune-endpoint-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the objects: fullnameOverride, else the release name, plus the chart name unless the release
name already contains it. Truncated to 63 characters (some names must be DNS labels).
*/}}
{{- define "intune-endpoint-exporter.fullname" -}}
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

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "intune-endpoint-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "intune-endpoint-exporter.labels" -}}
helm.sh/chart: {{ include "intune-endpoint-exporter.chart" . }}
{{ include "intune-endpoint-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: intune-endpoint-exporter
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels selecting the pods of this release. */}}
{{- define "intune-endpoint-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "intune-endpoint-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the ServiceAccount the pods run as. */}}
{{- define "intune-endpoint-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "intune-endpoint-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The container image: repository:tag, or repository@digest. */}}
{{- define "intune-endpoint-exporter.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Where the exporter reads its configuration. */}}
{{- define "intune-endpoint-exporter.configDir" -}}
/etc/intune-exporter
{{- end }}

{{/* Name of the Secret with the proxy credentials; empty when none are configured. */}}
{{- define "intune-endpoint-exporter.proxyCredentialsSecret" -}}
{{- $creds := .Values.proxyCredentials }}
{{- if and $creds.value $creds.existingSecret }}
{{- fail "proxyCredentials: give either value or existingSecret, not both" }}
{{- end }}
{{- if $creds.existingSecret }}
{{- $creds.existingSecret }}
{{- else if $creds.value }}
{{- printf "%s-proxy-credentials" (include "intune-endpoint-exporter.fullname" .) }}
{{- end }}
{{- end }}

{{/* The proxy credentials file inside the container. */}}
{{- define "intune-endpoint-exporter.proxyCredentialsFile" -}}
{{- printf "%s/credentials" (.Values.proxyCredentials.mountPath | trimSuffix "/") }}
{{- end }}

{{/*
The exporter configuration: values.config plus the keys the chart owns (listen, state_dir and, with proxy
credentials, proxy.credentials_file). The ConfigMap holds it and its checksum rolls the pods.
*/}}
{{- define "intune-endpoint-exporter.config" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- range $key := list "listen" "state_dir" }}
{{- if hasKey $config $key }}
{{- fail (printf "config.%s is set by the chart (listenHost/containerPort, persistence.mountPath): remove it from config" $key) }}
{{- end }}
{{- end }}
{{- $_ := set $config "listen" (printf "%s:%d" .Values.listenHost (int .Values.containerPort)) }}
{{- $_ := set $config "state_dir" .Values.persistence.mountPath }}
{{- if include "intune-endpoint-exporter.proxyCredentialsSecret" . }}
{{- $proxy := deepCopy (get $config "proxy" | default dict) }}
{{- if or (hasKey $proxy "credentials_file") (hasKey $proxy "credentials_env") }}
{{- fail "config.proxy.credentials_file/credentials_env conflict with proxyCredentials: give the credentials in one place" }}
{{- end }}
{{- $_ := set $proxy "credentials_file" (include "intune-endpoint-exporter.proxyCredentialsFile" .) }}
{{- $_ := set $config "proxy" $proxy }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* Port of an http://HOST:PORT proxy URL. */}}
{{- define "intune-endpoint-exporter.urlPort" -}}
{{- regexFind ":[0-9]+/?$" . | trimPrefix ":" | trimSuffix "/" }}
{{- end }}

{{/*
Egress ports as "PROTOCOL/PORT" strings, sorted and unique: what the exporter probes (DNS, HTTP, HTTPS,
Apple push, NTP) plus what values.config adds (proxies, dns.port, extra_endpoints).
*/}}
{{- define "intune-endpoint-exporter.egressPorts" -}}
{{- $config := .Values.config | default dict }}
{{- $ports := list "UDP/53" "TCP/53" "TCP/80" "TCP/443" "TCP/5223" "UDP/123" }}
{{- $dns := get $config "dns" | default dict }}
{{- with get $dns "port" }}
{{- $ports = concat $ports (list (printf "UDP/%d" (int .)) (printf "TCP/%d" (int .))) }}
{{- end }}
{{- $proxy := get $config "proxy" | default dict }}
{{- $urls := list }}
{{- with get $proxy "url" }}
{{- $urls = append $urls . }}
{{- end }}
{{- range $setId, $route := (get $proxy "sets" | default dict) }}
{{- if ne $route "direct" }}
{{- $urls = append $urls $route }}
{{- end }}
{{- end }}
{{- range $urls }}
{{- $port := include "intune-endpoint-exporter.urlPort" . }}
{{- if $port }}
{{- $ports = append $ports (printf "TCP/%s" $port) }}
{{- end }}
{{- end }}
{{- range (get $config "extra_endpoints" | default list) }}
{{- range (get . "tcp_ports" | default list) }}
{{- $ports = append $ports (printf "TCP/%d" (int .)) }}
{{- end }}
{{- range (get . "udp_ports" | default list) }}
{{- $ports = append $ports (printf "UDP/%d" (int .)) }}
{{- end }}
{{- end }}
{{- $ports | uniq | sortAlpha | join "," }}
{{- end }}
