#!/usr/bin/env python3
"""Fails when a relative link in the repository's Markdown does not resolve: a file that is not
there, or an anchor that no heading of the target file makes (GitHub's rule: lower case,
punctuation other than '-' and '_' dropped, spaces as '-')."""
import os
import re
import subprocess
import sys

LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```")


def slug(heading):
    heading = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        found, fenced = set(), False
        with open(path, encoding="utf-8") as f:
            for line in f:
                if FENCE.match(line):
                    fenced = not fenced
                elif not fenced and (m := re.match(r"^#+ (.*)$", line)):
                    found.add(slug(m.group(1)))
        cache[path] = found
    return cache[path]


def links(path):
    fenced = False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if FENCE.match(line):
                fenced = not fenced
                continue
            if not fenced:
                # A link written inside inline code is an example, not a link.
                for m in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
                    yield n, m.group(1)


def main():
    files = subprocess.run(["git", "ls-files", "*.md"], capture_output=True, text=True, check=True).stdout.split()
    broken = []
    for md in files:
        for n, target in links(md):
            if re.match(r"^[a-z]+:", target):
                continue
            where, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(md), where)) if where else md
            if not os.path.exists(dest):
                broken.append(f"{md}:{n}: {target}: no {dest}")
            elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                broken.append(f"{md}:{n}: {target}: no heading #{anchor} in {dest}")
    for b in broken:
        print(b)
    print(f"{len(files)} Markdown files, {len(broken)} broken relative links")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
