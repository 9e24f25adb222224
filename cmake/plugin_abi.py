#!/usr/bin/env python3
"""The shape of the plugin SDK's types, and the check that keeps kPluginAbiVersion honest.

A plugin is compiled against the SDK's headers (orchestrator/include/cohort) and loaded by a
host built from other ones: every class a plugin derives from or receives must have the same
shape on both sides, or calls go through a vtable of another layout. This script has clang
read the headers (`-ast-dump=json`) and writes, for every class and struct of namespace
cohort, what fixes its binary shape: its bases, its fields' types in order, and its virtual
functions in declaration order (the vtable's order) with their signatures.
Names of parameters, comments and non-virtual functions are left out: they change nothing
a plugin depends on.

  plugin_abi.py --write FILE   regenerate the checked-in fingerprint
  plugin_abi.py --check FILE   compare (the test "unit: plugin ABI"): fails when the shape
                               changed while kPluginAbiVersion did not, and says what moved
"""

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SDK = os.path.join(ROOT, "orchestrator", "include", "cohort")
TORCH_API = "/usr/include/torch/csrc/api/include"


def abi_version():
    with open(os.path.join(SDK, "plugin.hpp")) as f:
        match = re.search(r"kPluginAbiVersion\s*=\s*(\d+)\s*;", f.read())
    if not match:
        sys.exit("plugin_abi.py: no kPluginAbiVersion in orchestrator/include/cohort/plugin.hpp")
    return int(match.group(1))


def ast_nodes(clang):
    headers = sorted(h for h in os.listdir(SDK) if h.endswith(".hpp"))
    with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as tu:
        tu.write("".join(f"#include <cohort/{h}>\n" for h in headers))
    try:
        run = subprocess.run(
            [clang, "-std=c++20", "-fsyntax-only", "-Xclang", "-ast-dump=json", "-Xclang",
             "-ast-dump-filter=cohort", "-I", os.path.join(ROOT, "orchestrator", "include"),
             "-isystem", TORCH_API, tu.name],
            capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"plugin_abi.py: {clang} could not read the SDK's headers:\n{run.stderr[-4000:]}")
    finally:
        os.unlink(tu.name)
    decoder, text, at, nodes = json.JSONDecoder(), run.stdout, 0, []
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            break
        node, at = decoder.raw_decode(text, at)
        nodes.append(node)
    return nodes


def records(nodes):
    """(qualified name, node) of every complete class or struct definition in namespace cohort."""
    out = []

    def walk(node, scope):
        kind = node.get("kind")
        if kind == "NamespaceDecl":
            scope = scope + [node.get("name", "")]
        elif kind == "CXXRecordDecl" and node.get("completeDefinition") and node.get("name"):
            scope = scope + [node["name"]]
            if scope[0] == "cohort" and "isImplicit" not in node:
                out.append(("::".join(scope), node))
        elif kind not in (None, "LinkageSpecDecl"):
            return
        for child in node.get("inner", []):
            walk(child, scope)

    for node in nodes:
        walk(node, [])
    return out


def fingerprint(clang):
    nodes = ast_nodes(clang)
    lines = [f"abi_version {abi_version()}"]
    seen = set()
    for name, node in records(nodes):
        if name in seen:
            continue
        seen.add(name)
        body = []
        for base in node.get("bases", []):
            body.append(f"  base {'virtual ' if base.get('isVirtual') else ''}{base['type']['qualType']}")
        for member in node.get("inner", []):
            kind = member.get("kind")
            if kind == "FieldDecl":
                body.append(f"  field {member['type']['qualType']}")
            elif kind in ("CXXMethodDecl", "CXXDestructorDecl") and member.get("virtual"):
                pure = " = 0" if member.get("pure") else ""
                body.append(f"  virtual {member['name']} {member['type']['qualType']}{pure}")
        if not body:
            continue
        lines.append(f"{node.get('tagUsed', 'class')} {name}")
        lines.extend(body)
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", metavar="FILE")
    mode.add_argument("--check", metavar="FILE")
    parser.add_argument("--clang", default=os.environ.get("CLANGXX", "clang++"))
    args = parser.parse_args()
    clang = shutil.which(args.clang)
    if not clang:
        sys.exit(f"plugin_abi.py: {args.clang} not found: cmake/install-deps.sh installs clang")
    now = fingerprint(clang)
    if args.write:
        with open(args.write, "w") as f:
            f.write(now)
        print(f"wrote {args.write} (plugin ABI {abi_version()})")
        return 0
    with open(args.check) as f:
        recorded = f.read()
    if now == recorded:
        print(f"the SDK's types have the shape recorded for plugin ABI {abi_version()}")
        return 0
    recorded_version = int(re.match(r"abi_version (\d+)", recorded).group(1))
    diff = "".join(difflib.unified_diff(recorded.splitlines(True), now.splitlines(True),
                                        args.check, "the headers now"))
    regenerate = f"python3 cmake/plugin_abi.py --write {os.path.relpath(args.check, ROOT)}"
    if recorded_version == abi_version():
        print(f"error: the SDK's types changed shape but kPluginAbiVersion is still {abi_version()}: a plugin "
              f"built against the old headers would load and call through another layout. Raise "
              f"kPluginAbiVersion in orchestrator/include/cohort/plugin.hpp (say why beside it), then run "
              f"`{regenerate}`.\n{diff}")
    else:
        print(f"error: kPluginAbiVersion is {abi_version()} but the recorded shape is of ABI {recorded_version}: "
              f"run `{regenerate}`.\n{diff}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
