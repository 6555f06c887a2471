#!/usr/bin/env bash
# Validates the Kubernetes manifests in deploy/k8s offline: no cluster.
#
# 1. Renders them with `kubectl kustomize` (Debian's kubernetes-client
#    package is installed when kubectl is missing).
# 2. Validates every object against the Kubernetes API schemas of the
#    oldest supported and the newest known release with kubernetes-validate
#    (PyPI) in strict mode, which rejects unknown fields.
# 3. Checks the wiring that schemas cannot see (deploy/k8s/check_wiring.py),
#    and that a broken manifest does fail that check.
# 4. Checks that deploy/k8s/config.toml contains the same settings as
#    deploy/config.toml, which docker-compose uses.
#
# Environment:
#   DISTGAN_TOOLS  folder for the Python virtual environment, default
#                  ~/.cache/distgan-deploy (kept between runs)
set -euo pipefail

deploy_dir=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$deploy_dir")
# shellcheck source=deploy/lib.sh
. "$deploy_dir/lib.sh"

# podFailurePolicy is GA from Kubernetes 1.31 and gRPC probes from 1.27.
kubernetes_versions=(1.31.0 1.37.0)
validator_version=1.37.0
tools=${DISTGAN_TOOLS:-$HOME/.cache/distgan-deploy}
work=$(mktemp -d "${TMPDIR:-/tmp}/distgan-k8s-test.XXXXXX")
passed=0
failed=0

finish() {
    local status=$?
    rm -rf "$work"
    printf 'test-k8s: %d passed, %d failed\n' "$passed" "$failed"
    if [ "$failed" -gt 0 ] && [ "$status" -eq 0 ]; then
        status=1
    fi
    exit "$status"
}
trap finish EXIT

if ! command -v kubectl >/dev/null 2>&1; then
    ensure_packages kubernetes-client
fi
if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    ensure_packages python3-venv
fi
if [ ! -x "$tools/venv/bin/kubernetes-validate" ] ||
    [ "$("$tools/venv/bin/kubernetes-validate" --version 2>/dev/null)" != "$validator_version" ]; then
    log "installing kubernetes-validate $validator_version into $tools/venv"
    mkdir -p "$tools"
    timeout 300 python3 -m venv --clear "$tools/venv"
    timeout 300 "$tools/venv/bin/pip" install --quiet "kubernetes-validate==$validator_version"
fi

rendered=$work/rendered.yaml
check "kubectl kustomize renders deploy/k8s" \
    bash -c "kubectl kustomize '$deploy_dir/k8s' >'$rendered'"

for version in "${kubernetes_versions[@]}"; do
    check "objects valid for Kubernetes $version (strict)" \
        "$tools/venv/bin/kubernetes-validate" --strict --quiet -k "$version" "$rendered"
done

check "services, volumes, variables and probes are wired" \
    "$tools/venv/bin/python" "$deploy_dir/k8s/check_wiring.py" "$rendered" "$repo/src/cli.rs"

# The wiring check must notice a Service that selects nothing and a
# variable the binary does not read.
"$tools/venv/bin/python" - "$rendered" "$work/broken.yaml" <<'EOF'
import sys, yaml
objects = [o for o in yaml.safe_load_all(open(sys.argv[1])) if o]
for obj in objects:
    if obj["kind"] == "Service" and obj["metadata"]["name"] == "distgan-coordinator":
        obj["spec"]["selector"]["app.kubernetes.io/component"] = "coordinatr"
text = yaml.safe_dump_all(objects).replace("DISTGAN_PS_ADDR", "DISTGAN_PS_ADDRESS")
open(sys.argv[2], "w").write(text)
EOF
check "wiring check rejects a broken manifest" \
    bash -c "! '$tools/venv/bin/python' '$deploy_dir/k8s/check_wiring.py' '$work/broken.yaml' '$repo/src/cli.rs' >'$work/broken.out'"
check "wiring check names both faults" \
    bash -c "grep -q 'selector' '$work/broken.out' && grep -q 'DISTGAN_PS_ADDRESS' '$work/broken.out'"

check "k8s/config.toml and config.toml contain the same settings" \
    python3 -c 'import sys, tomllib; a, b = (tomllib.load(open(p, "rb")) for p in sys.argv[1:]); sys.exit(a != b)' \
    "$deploy_dir/k8s/config.toml" "$deploy_dir/config.toml"
