"""Validate every row of a tomofuse cohort manifest (CSV) against
data-schemas/cohort-manifest.schema.json with the reference `jsonschema` validator.

Usage: python check_manifest_schema.py SCHEMA MANIFEST
Prints one line per invalid cell as `line<TAB>column<TAB>message` (line 1 = header) and
`rows N` at the end. Used by crates/tomofuse-cohort/tests/schema.rs as an independent check of
the Rust reader.
"""
import csv
import json
import sys

import jsonschema


def main() -> int:
    schema = json.load(open(sys.argv[1]))
    validator = jsonschema.Draft202012Validator(schema)
    n = 0
    with open(sys.argv[2], newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            n += 1
            line = reader.line_num
            obj = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            obj = {k: v for k, v in obj.items() if v != "" or k in ("case_id", "image")}
            for err in validator.iter_errors(obj):
                col = err.path[0] if err.path else ",".join(err.validator_value) if err.validator == "required" else ""
                print(f"{line}\t{col}\t{err.message}")
    print(f"rows {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
