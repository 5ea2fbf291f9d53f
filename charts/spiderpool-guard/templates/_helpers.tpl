{{/* Chart name, truncated to 63 chars. */}}
{{- define "spiderpool-guard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; also the name of the Deployment, Service and both webhook configurations. */}}
{{- define "spiderpool-guard.fullname" -}}
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

{{- define "spiderpool-guard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "spiderpool-guard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spiderpool-guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "spiderpool-guard.labels" -}}
helm.sh/chart: {{ include "spiderpool-guard.chart" . }}
{{ include "spiderpool-guard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "spiderpool-guard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spiderpool-guard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Secret holding the serving certificate: self-managed (written at runtime), cert-manager, or user-provided. */}}
{{- define "spiderpool-guard.tlsSecretName" -}}
{{- if eq .Values.certs.mode "selfManaged" }}
{{- default (printf "%s-tls" (include "spiderpool-guard.fullname" .)) .Values.certs.selfManaged.secretName }}
{{- else if eq .Values.certs.mode "certManager" }}
{{- default (printf "%s-tls" (include "spiderpool-guard.fullname" .)) .Values.certs.certManager.secretName }}
{{- else }}
{{- required "certs.files.secretName is required when certs.mode=files" .Values.certs.files.secretName }}
{{- end }}
{{- end }}

{{- define "spiderpool-guard.leaseName" -}}
{{- default (printf "%s-reconciler" (include "spiderpool-guard.fullname" .)) .Values.reconciler.leaderElection.leaseName }}
{{- end }}

{{- define "spiderpool-guard.webhookConfigName" -}}
{{- default (include "spiderpool-guard.fullname" .) .Values.webhook.configurationName }}
{{- end }}

{{- define "spiderpool-guard.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Refuse failurePolicy=Fail without a way out of the cold-start deadlock (see README "No deadlock").
*/}}
{{/*
A stopping replica needs, within its grace period: the preStop pause, the drain (--shutdown-drain-seconds), the calls
in flight then (each answered within webhook.timeoutSeconds) and a moment to exit. A shorter grace period SIGKILLs it
mid-call, and that call fails open.
*/}}
{{- define "spiderpool-guard.checkTermination" -}}
{{- $needed := add .Values.preStopSleepSeconds .Values.shutdownDrainSeconds .Values.webhook.timeoutSeconds 2 }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds=%v is shorter than preStopSleepSeconds + shutdownDrainSeconds + webhook.timeoutSeconds + 2 = %v: a stopping replica would be killed with calls in flight (see docs/operations.md, Stopping a replica)" .Values.terminationGracePeriodSeconds $needed) }}
{{- end }}
{{- end }}

{{- define "spiderpool-guard.checkDeadlock" -}}
{{- if and (eq .Values.webhook.failurePolicy "Fail") (not .Values.hostNetwork) (empty .Values.webhook.exemptPoolNames) (not .Values.webhook.acknowledgeFailDeadlockRisk) }}
{{- fail "webhook.failurePolicy=Fail needs a way out of the cold-start deadlock: set hostNetwork=true, or run the guard's pods from a dedicated pool listed in webhook.exemptPoolNames, or set webhook.acknowledgeFailDeadlockRisk=true (see the chart README)" }}
{{- end }}
{{- end }}

{{/* caBundle / annotations for the webhook configurations, per cert mode. */}}
{{- define "spiderpool-guard.webhookAnnotations" -}}
{{- if eq .Values.certs.mode "certManager" }}
cert-manager.io/inject-ca-from: {{ printf "%s/%s-serving" .Release.Namespace (include "spiderpool-guard.fullname" .) }}
{{- else if and (eq .Values.certs.mode "files") .Values.certs.files.injectCaFromSecret }}
cert-manager.io/inject-ca-from-secret: {{ printf "%s/%s" .Release.Namespace (include "spiderpool-guard.tlsSecretName" .) }}
{{- end }}
{{- with .Values.webhook.annotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* clientConfig of one webhook; arg: dict "root" $ "path" "/validate/..." */}}
{{- define "spiderpool-guard.clientConfig" -}}
{{- $root := .root -}}
service:
  name: {{ include "spiderpool-guard.fullname" $root }}
  namespace: {{ $root.Release.Namespace }}
  path: {{ .path }}
  port: {{ $root.Values.service.port }}
{{- if and (eq $root.Values.certs.mode "files") $root.Values.certs.files.caBundle }}
caBundle: {{ $root.Values.certs.files.caBundle | b64enc }}
{{- end }}
{{- end }}

{{/* matchConditions for the pool-status webhooks. */}}
{{- define "spiderpool-guard.poolMatchConditions" -}}
{{- $conds := list }}
{{- if .Values.webhook.exemptPoolNames }}
{{- $conds = append $conds (dict "name" "exempt-guard-pools" "expression" (printf "!(request.name in %s)" (toJson .Values.webhook.exemptPoolNames))) }}
{{- end }}
{{- range .Values.webhook.extraMatchConditions }}
{{- $conds = append $conds . }}
{{- end }}
{{- if $conds -}}
matchConditions:
{{ toYaml $conds }}
{{- end }}
{{- end }}

{{/* matchConditions for the SpiderEndpoint webhook. */}}
{{- define "spiderpool-guard.endpointMatchConditions" -}}
{{- $conds := list }}
{{- if .Values.webhook.exemptOwnEndpoints }}
{{- $expr := printf "!(request.namespace == %s && request.name.startsWith(%s))" (toJson .Release.Namespace) (toJson (printf "%s-" (include "spiderpool-guard.fullname" .))) }}
{{- $conds = append $conds (dict "name" "exempt-guard-own-endpoints" "expression" $expr) }}
{{- end }}
{{- range .Values.webhook.extraMatchConditions }}
{{- $conds = append $conds . }}
{{- end }}
{{- if $conds -}}
matchConditions:
{{ toYaml $conds }}
{{- end }}
{{- end }}

{{/*
Label matchers that select this release's series in the alert expressions: by default the labels the chart's
ServiceMonitor gives them (job = the Service name, namespace = the release namespace).
*/}}
{{- define "spiderpool-guard.alertSelector" -}}
{{- default (printf "job=%s,namespace=%s" (include "spiderpool-guard.fullname" . | quote) (.Release.Namespace | quote)) .Values.metrics.prometheusRule.selector }}
{{- end }}

{{/*
"This counter went up within the window", grouped by the given labels. increase() alone misses a labelled
counter's first increment: its series appears already at 1, so no sample shows the rise from 0. The second half
catches series that exist now but did not a window ago.
arg: dict "metric" "spiderpool_guard_..." "matchers" `rule="x"` (optional) "by" "namespace, job" "window" "5m" "root" $
*/}}
{{- define "spiderpool-guard.counterRose" -}}
{{- $sel := include "spiderpool-guard.alertSelector" .root }}
{{- $series := printf "%s{%s}" .metric (ternary $sel (printf "%s,%s" $sel .matchers) (empty .matchers)) }}
{{- printf "(sum by (%s) (increase(%s[%s])) > 0) or (sum by (%s) (%s unless %s offset %s) > 0)" .by $series .window .by $series $series .window }}
{{- end }}

{{/* --metrics-host: explicit, else 127.0.0.1 under hostNetwork (not open on the node), else 0.0.0.0 (pod IP). */}}
{{- define "spiderpool-guard.metricsHost" -}}
{{- if .Values.metrics.host }}{{ .Values.metrics.host }}{{- else if .Values.hostNetwork }}127.0.0.1{{- else }}0.0.0.0{{- end }}
{{- end }}

{{/* The volume source of the client CA bundle (clientAuth): exactly one of a Secret or a ConfigMap. */}}
{{- define "spiderpool-guard.clientCaVolume" -}}
{{- $c := .Values.clientAuth }}
{{- if and $c.caSecretName $c.caConfigMapName }}{{ fail "clientAuth: set caSecretName or caConfigMapName, not both" }}{{ end }}
{{- if $c.caSecretName -}}
secret:
  secretName: {{ $c.caSecretName }}
{{- else if $c.caConfigMapName -}}
configMap:
  name: {{ $c.caConfigMapName }}
{{- else }}{{ fail "clientAuth.enabled needs clientAuth.caSecretName or clientAuth.caConfigMapName" }}
{{- end }}
{{- end }}

{{/*
The container memory limit in MiB (resources.limits.memory as Mi, Gi, M or G; required: the heap and the in-flight
budget are derived from it, see values.yaml "memory").
*/}}
{{- define "spiderpool-guard.memoryLimitMiB" -}}
{{- $limit := (.Values.resources.limits | default dict).memory | default "" | toString }}
{{- $n := regexFind "^[0-9]+" $limit | default "0" | int }}
{{- if hasSuffix "Gi" $limit }}{{ mul $n 1024 }}
{{- else if hasSuffix "Mi" $limit }}{{ $n }}
{{- else if hasSuffix "G" $limit }}{{ div (mul $n 1000000000) 1048576 }}
{{- else if hasSuffix "M" $limit }}{{ div (mul $n 1000000) 1048576 }}
{{- else }}{{ fail "resources.limits.memory must be set in Mi, Gi, M or G (the heap size and the in-flight budget derive from it)" }}
{{- end }}
{{- end }}

{{/* --max-old-space-size: memory.heapPercent of the limit, unless memory.maxOldSpaceMiB is set. */}}
{{- define "spiderpool-guard.maxOldSpaceMiB" -}}
{{- .Values.memory.maxOldSpaceMiB | default (div (mul (include "spiderpool-guard.memoryLimitMiB" . | int) .Values.memory.heapPercent) 100) }}
{{- end }}

{{/* --max-inflight-mib: the heap divided by memory.inflightHeapRatio, unless memory.maxInflightMiB is set. */}}
{{- define "spiderpool-guard.maxInflightMiB" -}}
{{- .Values.memory.maxInflightMiB | default (max 16 (div (include "spiderpool-guard.maxOldSpaceMiB" . | int) .Values.memory.inflightHeapRatio)) }}
{{- end }}

{{/* Labels of the uninstall-drain hook's objects: no selector labels, so its pod never counts as a guard pod (Service, PDB, the drain's own wait). */}}
{{- define "spiderpool-guard.uninstallDrainLabels" -}}
helm.sh/chart: {{ include "spiderpool-guard.chart" . }}
app.kubernetes.io/part-of: {{ include "spiderpool-guard.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: uninstall-drain
{{- end }}
