#!/usr/bin/env python3
"""What a schema cannot see in the rendered chart: the promises of the chart.

kubernetes-validate checks each manifest against Kubernetes' own schemas
(and knows no ServiceMonitor, a Prometheus Operator CRD). This checks how the
manifests fit together and what docs/install.md promises: non-root, read-only
root filesystem, no privilege escalation, probes on /healthz and /readyz,
every Secret reference resolving to a rendered Secret key (or a named
existing one), the Service selecting the pods, and the ServiceMonitor
selecting the Service on a port it has.

usage: check.py RENDERED.yaml [--expect-servicemonitor]
"""

import sys

import yaml


def fail(msg: str) -> None:
    print(f"chart check: {msg}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    path = sys.argv[1]
    want_sm = "--expect-servicemonitor" in sys.argv[2:]
    with open(path, encoding="utf-8") as fh:
        docs = [d for d in yaml.safe_load_all(fh) if d]
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)

    deps = by_kind.get("Deployment", [])
    if len(deps) != 1:
        fail(f"expected one Deployment, found {len(deps)}")
    dep = deps[0]
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    spec = pod["spec"]
    psc = spec.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True or psc.get("runAsUser", 0) == 0:
        fail("the pod must run as a non-root user")
    secrets = {s["metadata"]["name"]: s for s in by_kind.get("Secret", [])}
    for c in spec["containers"]:
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True:
            fail(f"container {c['name']}: root filesystem not read-only")
        if sc.get("allowPrivilegeEscalation") is not False:
            fail(f"container {c['name']}: privilege escalation allowed")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            fail(f"container {c['name']}: capabilities not dropped")
        if c["livenessProbe"]["httpGet"]["path"] != "/healthz":
            fail("liveness probe is not /healthz")
        if c["readinessProbe"]["httpGet"]["path"] != "/readyz":
            fail("readiness probe is not /readyz")
        env = {e["name"]: e for e in c.get("env", [])}
        for name in ("ROOTLINE_DATABASE_URL", "ROOTLINE_KEK"):
            ref = env.get(name, {}).get("valueFrom", {}).get("secretKeyRef")
            if not ref:
                fail(f"{name} does not come from a Secret")
            s = secrets.get(ref["name"])
            if s is not None and ref["key"] not in s.get("stringData", s.get("data", {})):
                fail(f"{name}: Secret {ref['name']} has no key {ref['key']}")
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        if "/var/lib/rootline" not in mounts:
            fail("the data directory is not a volume (the root filesystem is read-only)")

    svcs = by_kind.get("Service", [])
    if len(svcs) != 1:
        fail(f"expected one Service, found {len(svcs)}")
    svc = svcs[0]
    sel = svc["spec"]["selector"]
    if any(labels.get(k) != v for k, v in sel.items()):
        fail(f"Service selector {sel} does not select the pods {labels}")

    sms = by_kind.get("ServiceMonitor", [])
    if want_sm and len(sms) != 1:
        fail(f"expected one ServiceMonitor, found {len(sms)}")
    for sm in sms:
        if sm["apiVersion"] != "monitoring.coreos.com/v1":
            fail(f"ServiceMonitor apiVersion {sm['apiVersion']}")
        match = sm["spec"]["selector"]["matchLabels"]
        svc_labels = svc["metadata"]["labels"]
        if any(svc_labels.get(k) != v for k, v in match.items()):
            fail(f"ServiceMonitor selects {match}, the Service is labelled {svc_labels}")
        ports = {p["name"] for p in svc["spec"]["ports"]}
        for ep in sm["spec"]["endpoints"]:
            if ep["port"] not in ports or ep.get("path") != "/metrics":
                fail(f"ServiceMonitor endpoint {ep} is not /metrics on a Service port {ports}")
    print(f"chart check: {len(docs)} manifests fit together ({', '.join(sorted(by_kind))})")


if __name__ == "__main__":
    main()
