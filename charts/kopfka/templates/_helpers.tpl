{{- define "kopfka.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kopfka.selectorLabels" -}}
app.kubernetes.io/name: kopfka-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kopfka.labels" -}}
{{ include "kopfka.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kopfka
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kopfka.serviceAccountName" -}}
{{- default (include "kopfka.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The operator pods' selector labels as one "key=value,key=value" string (KOPFKA_OPERATOR_POD_LABELS). */}}
{{- define "kopfka.selectorLabelsList" -}}
{{- $pairs := list -}}
{{- range $key, $value := include "kopfka.selectorLabels" . | fromYaml -}}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* Rules on the namespaced objects a KafkaCluster owns, and on the custom resources themselves. Secrets: the
     CAs and certificates the operator issues, SCRAM passwords, and the user-supplied CAs it reads. */}}
{{- define "kopfka.namespacedRules" -}}
- apiGroups: [kopfka.io]
  resources: [kafkaclusters, kafkatopics, kafkausers]
  verbs: [get, list, watch, patch, update]
- apiGroups: [kopfka.io]
  resources: [kafkaclusters/status, kafkatopics/status, kafkausers/status]
  verbs: [get, patch, update]
- apiGroups: [kopfka.io]
  resources: [kafkaclusters/finalizers, kafkatopics/finalizers, kafkausers/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, patch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end -}}

{{/* Cluster-scoped rules kopf needs whatever it watches: CRD discovery (and namespaces when cluster-wide); and
     nodes, whose addresses NodePort listeners advertise. */}}
{{- define "kopfka.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [nodes]
  verbs: [get, list, watch]
{{- end -}}
