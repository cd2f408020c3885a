#!/usr/bin/env python3
"""Compares a run's metrics.json with the figures the docs state for it.

    figures_check.py FIGURES.toml EXPERIMENT RUN_DIR

FIGURES.toml lists `[[figure]]` entries: `experiment` (the TOML's stem), `path` into
metrics.json (dots; `name[key=value]` picks the list element whose `key` is `value`), `value`
as the docs print it (a string, e.g. "0.849") and `doc` (where it is documented). A figure
holds when the run's value, rounded to the printed decimals, equals it and the document
(the part of `doc` before the first comma) still prints it. Every figure is
checked and every miss printed before the exit code says whether any failed.
"""
import json
import re
import sys
import tomllib


def lookup(obj, path):
    # Components split on dots outside brackets (`by_layer[layer=down.1]` is one component).
    for part in re.findall(r"[^.\[]+(?:\[[^\]]*\])?", path):
        m = re.fullmatch(r"([^\[]+)(?:\[([^=]+)=(.+)\])?", part)
        if not m:
            raise KeyError(f"bad path component `{part}`")
        key, sel_k, sel_v = m.groups()
        obj = obj[int(key)] if isinstance(obj, list) else obj[key]
        if sel_k is not None:
            hits = [e for e in obj if str(e.get(sel_k)) == sel_v]
            if len(hits) != 1:
                raise KeyError(f"{len(hits)} elements of `{key}` have {sel_k} = {sel_v}")
            obj = hits[0]
    return obj


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    figures_path, experiment, run_dir = sys.argv[1:]
    with open(figures_path, "rb") as f:
        figures = [x for x in tomllib.load(f)["figure"] if x["experiment"] == experiment]
    if not figures:
        sys.exit(f"{figures_path}: no figure for experiment `{experiment}`")
    with open(f"{run_dir}/metrics.json") as f:
        metrics = json.load(f)
    failed = 0
    docs = {}
    for fig in figures:
        want = fig["value"]
        # The figure must still be what the named document prints.
        doc_file = fig["doc"].split(",")[0]
        if doc_file not in docs:
            with open(doc_file) as f:
                docs[doc_file] = f.read()
        in_doc = want in docs[doc_file]
        if not in_doc:
            print(f"NOT IN DOC {experiment} {fig['path']}: {want} does not appear in {doc_file}")
        decimals = len(want.split(".")[1]) if "." in want else 0
        try:
            got = float(lookup(metrics, fig["path"]))
        except (KeyError, IndexError, TypeError, ValueError) as e:
            print(f"MISSING {experiment} {fig['path']}: {e} ({fig['doc']})")
            failed += 1
            continue
        agrees = f"{got:.{decimals}f}" == want
        # A figure counts once, however many ways it fails.
        failed += not (agrees and in_doc)
        print(f"{'ok     ' if agrees else 'DIFFERS'} {experiment} {fig['path']} = {got:.6f}, "
              f"documented {want} ({fig['doc']})")
    print(f"{experiment}: {len(figures) - failed} of {len(figures)} documented figures hold")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
