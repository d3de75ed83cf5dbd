#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Lists the longest functions in the given Rust files or folders.

Relies on rustfmt's layout: a function's closing brace is the first line
after its signature that has the signature's indentation and starts with
`}`. Lines counted run from `fn` to that brace, both included.

    python3 scripts/fn-lengths.py src examples --most 10
    python3 scripts/fn-lengths.py src examples --over 80 --except properties
        # every function longer than 80 lines but the declarative
        # properties() lists; exit status 1 if there is one
"""
import argparse
import pathlib
import re
import sys

FN = re.compile(r"^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+\"C\"\s+)?fn\s+(\w+)")


def functions(path):
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m:
            continue
        indent = m.group(1)
        # A declaration without a body (trait method) ends in `;` before any `{`.
        j = i
        while j < len(lines) and "{" not in lines[j] and not lines[j].rstrip().endswith(";"):
            j += 1
        if j >= len(lines) or "{" not in lines[j]:
            continue
        if lines[j].rstrip().endswith("}") and lines[j].count("{") == lines[j].count("}"):
            yield m.group(8), i + 1, j - i + 1
            continue
        for k in range(j + 1, len(lines)):
            if lines[k].startswith(indent + "}") and not lines[k].startswith(indent + " "):
                yield m.group(8), i + 1, k - i + 1
                break


def rust_files(roots):
    for root in roots:
        p = pathlib.Path(root)
        yield from sorted(p.rglob("*.rs")) if p.is_dir() else [p]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--most", type=int, default=10, help="rows to print")
    ap.add_argument("--over", type=int, help="print every function longer than this; exit 1 if any")
    ap.add_argument("--except", dest="allowed", action="append", default=[], metavar="NAME",
                    help="with --over: a function name that may be longer (repeatable)")
    args = ap.parse_args()
    found = [(n, str(f), name, line) for f in rust_files(args.paths) for name, line, n in functions(f)]
    found.sort(reverse=True)
    if args.over is not None:
        rows = [r for r in found if r[0] > args.over and r[2] not in args.allowed]
    else:
        rows = found[: args.most]
    for n, f, name, line in rows:
        print(f"{n:5}  {f}:{line}  {name}")
    if args.over is not None:
        print(f"{len(rows)} of {len(found)} functions longer than {args.over} lines")
        return 1 if rows else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
