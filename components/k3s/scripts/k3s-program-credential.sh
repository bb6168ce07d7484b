#!/usr/bin/env bash
# Print the kubeconfig this program uses to reach the cluster: its own identity, the ServiceAccount
# kube-system/mynodeone-bootstrap bound to cluster-admin, with the token of a service-account-token Secret.
#
# Why not k3s's admin kubeconfig (/etc/rancher/k3s/k3s.yaml): its client certificate is valid for 365 days and
# k3s renews it only on the node, at a restart; a copy kept in the Pulumi state expires and every later
# `pulumi up` fails. A Secret-based token has no expiry, and unlike a certificate it can be revoked: delete the
# ServiceAccount kube-system/mynodeone-bootstrap (its token Secret goes with it; the API refuses the token within
# seconds), then re-read with `pulumi up --replace <urn of the <cluster>-kubeconfig command>`, which makes a new
# account and token (docs/disaster-recovery.md). Deleting only the Secret is not enough: a new Secret for the
# same account carries the same token.
#
# The component rewrites the server address and names. The output is a credential: the caller runs this with
# logging off and keeps stdout secret. Runs as root (sudo -n) on a k3s server once the API is up. Safe to run
# again: the objects are applied, never recreated, so a re-run prints the same token.
set -euo pipefail

NAME=mynodeone-bootstrap
NAMESPACE=kube-system
SECRET=$NAME-token
TOKEN_WAIT_SECONDS=${TOKEN_WAIT_SECONDS:-60}

die() {
  echo "k3s-program-credential: $*" >&2
  exit 1
}

[[ "$(id -u)" == 0 ]] || die "must run as root (the SSH user needs passwordless sudo)"
[[ "$TOKEN_WAIT_SECONDS" =~ ^[0-9]+$ ]] || die "TOKEN_WAIT_SECONDS must be a number of seconds"
command -v k3s >/dev/null 2>&1 || die "k3s is not installed on this host"
kubectl() { k3s kubectl "$@"; }

kubectl apply --server-side --field-manager=mynodeone-bootstrap -f - >/dev/null <<YAML
apiVersion: v1
kind: ServiceAccount
metadata:
  name: $NAME
  namespace: $NAMESPACE
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: $NAME
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - kind: ServiceAccount
    name: $NAME
    namespace: $NAMESPACE
---
apiVersion: v1
kind: Secret
metadata:
  name: $SECRET
  namespace: $NAMESPACE
  annotations:
    kubernetes.io/service-account.name: $NAME
type: kubernetes.io/service-account-token
YAML

# The token controller (kube-controller-manager) fills the Secret in within a second or so.
token=""
for ((waited = 0; waited <= TOKEN_WAIT_SECONDS; waited++)); do
  # A transient API error is one more second of waiting, not a failure.
  token=$(kubectl -n "$NAMESPACE" get secret "$SECRET" -o 'jsonpath={.data.token}' 2>/dev/null || true)
  [[ -n "$token" ]] && break
  sleep 1
done
[[ -n "$token" ]] ||
  die "no token in secret $NAMESPACE/$SECRET after ${TOKEN_WAIT_SECONDS}s: is the controller manager running? (k3s kubectl get pods -A)"
ca=$(kubectl -n "$NAMESPACE" get secret "$SECRET" -o 'jsonpath={.data.ca\.crt}')
[[ -n "$ca" ]] || die "secret $NAMESPACE/$SECRET has no ca.crt"

cat <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: default
    cluster:
      server: https://127.0.0.1:6443
      certificate-authority-data: $ca
contexts:
  - name: default
    context:
      cluster: default
      user: default
current-context: default
users:
  - name: default
    user:
      token: $(printf '%s' "$token" | base64 -d)
YAML
