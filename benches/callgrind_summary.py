#!/usr/bin/env python3
"""Summarises one callgrind profile for scripts/bench.sh.

usage: callgrind_summary.py CALLGRIND_OUT REPO_ROOT INPUT_NAME COMMAND_ID

Prints one tab-separated line:
    INPUT_NAME  COMMAND_ID  total_Ir  main_Ir  buckets(JSON)  top(JSON)  ffio_top(JSON)
where main_Ir is the inclusive cost of glibc's `(below main)` (libc_start_call_main:
main and the exit handlers, i.e. everything but the dynamic loader and the libraries'
constructors), buckets is the exclusive cost grouped by who executes
it (dynamic loader, ffio's src/, the program's own code, Rust std, each FFmpeg library,
libc's memcpy/memset, libc's malloc, other libc, other libraries), top is the ten
most expensive functions (exclusive cost) and ffio_top the ten most expensive functions
of ffio's src/ (exclusive cost).
"""

import json
import os
import re
import subprocess
import sys

LINE = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)(?: \[(.*)\])?\s*$")


def annotate(path, inclusive):
    out = subprocess.run(
        ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--auto=no",
         "--threshold=100", path],
        check=True, capture_output=True, text=True).stdout
    total, rows = None, []
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        cost = int(m.group(1).replace(",", ""))
        what = m.group(2)
        if what.startswith("PROGRAM TOTALS"):
            total = cost
            continue
        file, _, func = what.rpartition(":") if ":" in what else ("???", "", what)
        # Rust paths contain "::"; split at the first ':' that is not part of one.
        m2 = re.match(r"^((?:[^:]|::)*?):(?!:)(.*)$", what)
        if m2:
            file, func = m2.group(1), m2.group(2)
        rows.append((cost, file, func, m.group(3) or ""))
    return total, rows


PROGRAM_FNS = ("count_frames::", "extract_h264::")


def bucket(file, func, obj, root, exe):
    base = os.path.basename(obj)
    if file.startswith(root + "/"):
        file = file[len(root) + 1:]  # callgrind keeps paths relative to the build directory
    if base.startswith("ld-linux") or (not obj and file.startswith("./elf/")):
        return "dynamic loader"
    # ffio's own code, including what the compiler inlined into it from core/std.
    if file.startswith("src/") or func.startswith("ffio::") or func.startswith("<ffio::"):
        return "ffio src/"
    if file.startswith(("examples/", "benches/")) or func.startswith(PROGRAM_FNS):
        return "program (example / C main)"
    if file.startswith("/rustc/") or "/.cargo/registry/" in file:
        return "Rust std / deps"
    for lib in ("libavformat", "libavcodec", "libavutil"):
        if base.startswith(lib):
            return lib
    libc_file = file.startswith("./") and not file.startswith("./elf/")
    if base.startswith("libc.so") or (not obj and libc_file):
        if re.search(r"mem(cpy|move|set)|memmove|memset", file):
            return "libc memcpy/memset"
        if "malloc" in file:
            return "libc malloc"
        return "libc other"
    if obj and base == exe:
        return "program (example / C main)"
    return "other libraries"


def main():
    path, root, name, ident = sys.argv[1:5]
    # The profiled command line names the executable.
    exe = None
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("cmd:"):
                exe = os.path.basename(line.split()[1])
                break
    total, rows = annotate(path, inclusive=False)
    buckets, own = {}, {}
    for cost, file, func, obj in rows:
        b = bucket(file, func, obj, root, exe)
        buckets[b] = buckets.get(b, 0) + cost
        if b == "ffio src/":
            # By function: code inlined from other files (core, other src/ files) counts
            # for the function it was inlined into.
            own[func] = own.get(func, 0) + cost
    top = sorted(rows, reverse=True)[:10]
    top = [[c, f"{func} [{os.path.basename(obj) or os.path.basename(file)}]"] for c, file, func, obj in top]
    own = sorted(([c, f] for f, c in own.items()), reverse=True)[:10]
    _, incl = annotate(path, inclusive=True)
    # glibc's `(below main)` (libc_start_call_main): main and the exit handlers, i.e.
    # everything except the dynamic loader and the libraries' constructors.
    main_ir = max((c for c, file, func, obj in incl
                   if func == "(below main)" and "libc_start_call_main" in file), default=0)
    print("\t".join([name, ident, str(total), str(main_ir), json.dumps(buckets), json.dumps(top),
                     json.dumps(own)]))


if __name__ == "__main__":
    main()
