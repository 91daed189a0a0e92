#!/usr/bin/env python3
"""man_check.py: the man page documents the command line as it is.

Parses `sortlens --help` for the commands and each `sortlens CMD --help` for
its options (every "--name" it mentions), and parses man/sortlens.1: each
command needs an entry of its own under COMMANDS (".TP" then ".B CMD"), and
each of its options must appear in the page (as troff writes it, \\-\\-name).
Prints what is missing and exits 1, else a count and 0."""
import argparse
import re
import subprocess
import sys


def help_text(exe, *args):
    r = subprocess.run([exe, *args, "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{exe} {' '.join(args)} --help: exit {r.returncode}: {r.stderr}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sortlens", required=True)
    ap.add_argument("--man", required=True)
    a = ap.parse_args()
    top = help_text(a.sortlens)
    block = top.split("commands:", 1)[1].split("\n\n", 1)[0]
    commands = [m.group(1) for m in re.finditer(r"^  ([a-z]+)\s", block, re.M)]
    if len(commands) < 10:
        sys.exit(f"found only {commands} in sortlens --help")
    page = open(a.man, encoding="utf-8").read()
    if ".SH COMMANDS" not in page:
        sys.exit("no COMMANDS section in the man page")
    section = page.split(".SH COMMANDS", 1)[1].split("\n.SH ", 1)[0]
    entries = set(re.findall(r"^\.TP\n\.B ([a-z]+)\s*$", section, re.M))
    plain = page.replace("\\-", "-")
    missing, options = [], 0
    for cmd in commands:
        if cmd not in entries:
            missing.append(f"{cmd}: no entry under COMMANDS")
        for opt in sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", help_text(a.sortlens, cmd)))):
            options += 1
            if not re.search(re.escape(opt) + r"(?![a-z0-9-])", plain):
                missing.append(f"{cmd}: {opt} is not in the man page")
    for m in missing:
        print("missing:", m)
    print(f"{len(commands)} commands, {options} options checked; {len(missing)} missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
