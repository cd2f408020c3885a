"""Validate tomofuse experiment configs (TOML) against
data-schemas/experiment-config.schema.json with the reference `jsonschema` validator.

Usage: python check_config_schema.py SCHEMA CONFIG.toml [CONFIG.toml ...]
Prints `path<TAB>ok` or `path<TAB>invalid<TAB>message` per file. Used by
crates/tomofuse-cli/tests/config_schema.rs as an independent check of the Rust config reader.
"""
import json
import sys
import tomllib

import jsonschema


def main() -> int:
    schema = json.load(open(sys.argv[1]))
    validator = jsonschema.Draft202012Validator(schema)
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            cfg = tomllib.load(f)
        errs = sorted(validator.iter_errors(cfg), key=lambda e: list(e.path))
        if errs:
            print(f"{path}\tinvalid\t{errs[0].message}")
        else:
            print(f"{path}\tok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
