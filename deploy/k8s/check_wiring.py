"""Check how the rendered Kubernetes manifests connect, offline.

Schema validation accepts a Service whose selector matches no pod, or an
environment variable the binary never reads. This script checks those
links in the output of `kubectl kustomize deploy/k8s`:

- every Service selects the pods of one workload and targets a named
  container port of theirs;
- every ConfigMap and PersistentVolumeClaim that a pod mounts is in the
  bundle;
- every DISTGAN_* variable set on a container is one that the binary
  reads (an `env = "..."` attribute in src/cli.rs);
- every gRPC probe targets a port that its container declares.

Usage: check_wiring.py RENDERED_YAML CLI_RS
Prints one line per problem and exits 1 when there is any.
"""

import re
import sys

import yaml

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "DaemonSet"}


def pod_templates(objects):
    """Yield (workload name, pod template) for every workload."""
    for obj in objects:
        if obj["kind"] in WORKLOAD_KINDS:
            yield obj["metadata"]["name"], obj["spec"]["template"]


def containers_of(template):
    spec = template["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def check_services(objects, problems):
    templates = list(pod_templates(objects))
    for service in (o for o in objects if o["kind"] == "Service"):
        name = service["metadata"]["name"]
        selector = service["spec"].get("selector", {})
        matched = [
            (workload, template)
            for workload, template in templates
            if selector and selector.items() <= template["metadata"].get("labels", {}).items()
        ]
        if len(matched) != 1:
            problems.append(f"service {name}: selector {selector} matches {len(matched)} workloads, expected 1")
            continue
        port_names = {
            port.get("name")
            for container in matched[0][1]["spec"]["containers"]
            for port in container.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if isinstance(target, str) and target not in port_names:
                problems.append(f"service {name}: targetPort {target!r} is not a port name of {matched[0][0]}")


def check_volumes(objects, problems):
    config_maps = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    claims = {o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"}
    for workload, template in pod_templates(objects):
        for volume in template["spec"].get("volumes", []):
            if "configMap" in volume and volume["configMap"]["name"] not in config_maps:
                problems.append(f"{workload}: volume {volume['name']} mounts missing ConfigMap {volume['configMap']['name']}")
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim is not None and claim not in claims:
                problems.append(f"{workload}: volume {volume['name']} mounts missing PVC {claim}")


def check_environment(objects, known_variables, problems):
    for workload, template in pod_templates(objects):
        for container in containers_of(template):
            for variable in container.get("env", []):
                name = variable["name"]
                if name.startswith("DISTGAN_") and name not in known_variables:
                    problems.append(f"{workload}/{container['name']}: {name} is not read by the binary")


def check_probes(objects, problems):
    for workload, template in pod_templates(objects):
        for container in template["spec"]["containers"]:
            ports = {port["containerPort"] for port in container.get("ports", [])}
            for probe_kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                grpc = container.get(probe_kind, {}).get("grpc")
                if grpc is not None and grpc["port"] not in ports:
                    problems.append(f"{workload}/{container['name']}: {probe_kind} port {grpc['port']} is not declared")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_wiring.py RENDERED_YAML CLI_RS")
    with open(sys.argv[1]) as rendered:
        objects = [o for o in yaml.safe_load_all(rendered) if o]
    with open(sys.argv[2]) as cli:
        known_variables = set(re.findall(r'env = "(DISTGAN_[A-Z_]+)"', cli.read()))
    if not known_variables:
        sys.exit(f"no DISTGAN_* variables found in {sys.argv[2]}")

    problems = []
    check_services(objects, problems)
    check_volumes(objects, problems)
    check_environment(objects, known_variables, problems)
    check_probes(objects, problems)
    for problem in problems:
        print(f"error: {problem}")
    print(f"checked {len(objects)} objects: {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
