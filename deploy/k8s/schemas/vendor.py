"""Turns operators' CustomResourceDefinitions into the JSON schemas vendored beside this file.

    python deploy/k8s/schemas/vendor.py CRD.yaml [CRD.yaml ...]

Writes one `<kind>-<group>-<version>.json` per served version that is the storage version. The
schema is the CRD's openAPIV3Schema, made strict the way the API server is under strict field
validation (`kubectl apply --validate=strict`): an object with declared properties and no
`x-kubernetes-preserve-unknown-fields` admits no other keys, so a misspelt field fails here
instead of being pruned silently by the cluster. The sources and versions are in README.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


def strict(node: Any) -> Any:
    if isinstance(node, dict):
        node = {key: strict(value) for key, value in node.items()}
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [strict(item) for item in node]
    return node


def schema_of(crd: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"]
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    schema = strict(version["schema"]["openAPIV3Schema"])
    schema["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
    schema["properties"]["kind"] = {"const": kind}
    # metadata is the API server's to check; the CRD only says "object".
    schema["properties"]["metadata"] = {"type": "object"}
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return f"{kind.lower()}-{group}-{version['name']}.json", schema


def main(paths: list[str]) -> None:
    for path in paths:
        name, schema = schema_of(yaml.safe_load(Path(path).read_text()))
        (HERE / name).write_text(json.dumps(schema, separators=(",", ":"), sort_keys=True) + "\n")
        print(f"wrote {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
