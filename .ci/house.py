#!/usr/bin/env python3
"""The house has no circle: within each crate, no two modules (files) that are not each
other's ancestor reach each other through `use` paths (`crate::`, `super::`, `self::`).

A module and its parent (`mod.rs` re-exporting a child, the child using the parent's
items) are one room and do not count. Test modules (from `#[cfg(test)]` on) are left out:
tests may reach anywhere. Prints each circle and exits 1 when there is one.
"""
import pathlib
import re
import sys

PATH = re.compile(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def modules(src):
    """Module path (tuple) -> file, for every .rs file under src."""
    found = {}
    for f in src.rglob("*.rs"):
        parts = list(f.relative_to(src).with_suffix("").parts)
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        found[tuple(parts)] = f
    return found


def resolve(path, here, mods):
    """The longest module `path` (as written in module `here`) names, or None."""
    segs = path.split("::")
    base = list(here)
    if segs[0] == "crate":
        base = []
    elif segs[0] == "super":
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
        segs = ["_"] + segs
    segs = segs[1:]
    best = tuple(base) if tuple(base) in mods else None
    for i in range(1, len(segs) + 1):
        cand = tuple(base + segs[:i])
        if cand in mods:
            best = cand
    return best


def related(a, b):
    return a[: len(b)] == b or b[: len(a)] == a


def edges(mods):
    out = {m: set() for m in mods}
    for m, f in mods.items():
        text = f.read_text()
        text = text.split("#[cfg(test)]")[0]
        text = re.sub(r"//[^\n]*", "", text)
        # `use a::{b, c::d}` groups: expand one level of braces.
        for group in re.finditer(r"((?:crate|super|self)(?:::\w+)*)::\{([^}]*)\}", text):
            for item in group.group(2).split(","):
                item = item.strip().split(" as ")[0]
                if item and item != "self":
                    target = resolve(group.group(1) + "::" + item.split("::{")[0], m, mods)
                    if target is not None and not related(m, target):
                        out[m].add(target)
        for p in PATH.finditer(text):
            target = resolve(p.group(1), m, mods)
            if target is not None and not related(m, target):
                out[m].add(target)
    return out


def circles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    bad = 0
    for src in sorted(root.glob("crates/*/src")):
        for comp in circles(edges(modules(src))):
            names = sorted("::".join(m) or "crate" for m in comp)
            print(f"{src.parent.name}: a circle through {', '.join(names)}")
            bad += 1
    if bad:
        sys.exit(1)
    print("no circle in any crate's modules")


if __name__ == "__main__":
    main()
