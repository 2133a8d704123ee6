#!/usr/bin/env python3
"""Render the rootline chart offline, as `helm template` would, and lint it.

Debian 12 packages no helm; this uses helm-python-sdk (PyPI), whose wheel
carries Helm's own Go SDK (v4) as a shared library: the same template engine,
no cluster and no network. scripts/test installs it in a virtual environment
and validates what this prints with kubernetes-validate.

usage: render.py CHART [--values FILE]... [--name NAME] [--namespace NS]
Prints one YAML stream (templates sorted by path, NOTES.txt left out) and
exits 1 when lint reports an error or rendering fails.
"""

import argparse
import sys

import helm_python as helm


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chart")
    ap.add_argument("--values", action="append", default=[], help="values YAML; repeatable, later wins")
    ap.add_argument("--name", default="rootline")
    ap.add_argument("--namespace", default="rootline")
    a = ap.parse_args()

    values: dict = {}
    for f in a.values:
        with open(f, encoding="utf-8") as fh:
            values = merge(values, helm.values_from_yaml(fh.read()))

    report = helm.lint(a.chart, values, strict=True, namespace=a.namespace)
    # Severity 3 is an error; strict lint also fails on warnings (2).
    bad = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    for m in report.get("messages", []):
        print(f"lint: {m.get('path')}: {m.get('error')}", file=sys.stderr)
    if bad or report.get("errors"):
        for e in report.get("errors") or []:
            print(f"lint error: {e}", file=sys.stderr)
        return 1

    try:
        with helm.Chart.load(a.chart) as chart:
            manifests = chart.render(values, name=a.name, namespace=a.namespace, is_install=True)
    except helm.HelmError as e:
        print(f"render: {e}", file=sys.stderr)
        return 1
    for path in sorted(manifests):
        text = manifests[path].strip()
        if path.endswith("NOTES.txt") or not text:
            continue
        print(f"---\n# Source: {path}\n{text}")
    return 0


def merge(base: dict, over: dict) -> dict:
    """Helm's rule for several values files: maps merge, the rest is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


if __name__ == "__main__":
    sys.exit(main())
