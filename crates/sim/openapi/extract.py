#!/usr/bin/env python3
"""Extracts from VAST's VMS OpenAPI description (vms-openapi.json, published
by VAST Data under the Apache-2.0 licence in its Go client) the operations
the simulator serves and every schema, parameter and request body they
reference, into vms-subset.json beside this script.

    python3 extract.py /path/to/vms-openapi.json
"""
import json
import os
import sys

SERVED = [
    "/token/", "/token/refresh/", "/clusters/", "/versions/",
    "/views/", "/views/{id}/", "/viewpolicies/", "/quotas/", "/quotas/{id}/",
    "/tenants/", "/tenants/{id}/", "/users/", "/users/{id}/", "/users/{id}/access_keys/",
    "/localproviders/", "/localproviders/{id}/", "/s3keys/", "/apitokens/", "/vippools/",
    "/snapshots/", "/snapshots/{id}/",
]


def refs(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.add(v)
            refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def main(source):
    spec = json.load(open(source))
    paths = {p: spec["paths"][p] for p in SERVED if p in spec["paths"]}
    wanted, todo = set(), set()
    refs(paths, todo)
    components = {}
    while todo:
        ref = todo.pop()
        if ref in wanted:
            continue
        wanted.add(ref)
        _, _, kind, name = ref.split("/")
        node = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = node
        found = set()
        refs(node, found)
        todo |= found - wanted
    subset = {
        "openapi": spec["openapi"],
        "info": {
            "title": spec["info"].get("title", "VAST VMS API") + " (subset served by the vastost simulator)",
            "version": spec["info"].get("version", ""),
            "x-source": "VAST Data's VMS OpenAPI description, Apache-2.0, as published in VAST's Go client",
        },
        "paths": paths,
        "components": components,
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vms-subset.json")
    with open(out, "w") as f:
        json.dump(subset, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{out}: {len(paths)} paths, {sum(len(v) for v in components.values())} components")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../../../../shared/reference/vms-openapi.json")
