#!/usr/bin/env python3
"""The longest functions of cohort's C++ sources, measured from their signature's first
line to their closing brace (comments and blank lines inside count; lambdas count as part of
the function around them).

    python3 cmake/function_lengths.py [--over N] [PATH ...]

PATHs default to the code the project's size rule covers: orchestrator/src, jobs,
provisioning, plugins. Prints the functions longer than N lines (default 80), longest first,
as FILE:LINE LENGTH NAME, and exits 1 when there is any.

The scanner reads C++ as text: it blanks comments, strings and character literals, then
follows braces, telling a namespace, a class, an initializer and a function body apart by
what precedes each opening brace. It does not compile anything, so it is quick and needs no
build; a macro that hides braces would fool it (the project has none).
"""

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PATHS = ["orchestrator/src", "jobs", "provisioning", "plugins"]
CONTROL = re.compile(r"\b(if|for|while|switch|catch|do|else|try)\b\s*(\(|$)")


def blank_literals(text: str) -> str:
    """Comments, string and character literals replaced by spaces (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == 'R' and text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path: str):
    """(name, first line, length) of each function defined in `path`."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = blank_literals(f.read())
    stack = []  # (kind, start line, name)
    statement_start = 0  # where the text since the last ; { or } begins
    found = []
    for i, c in enumerate(text):
        if c == ";":
            statement_start = i + 1
        elif c == "{":
            head = text[statement_start:i]
            inside_function = any(kind == "function" for kind, _, _ in stack)
            stripped = " ".join(head.split())
            if inside_function:
                kind = "block"
            elif re.search(r"\bnamespace\b", stripped) or stripped.startswith('extern'):
                kind = "namespace"
            elif re.search(r"\b(class|struct|union|enum)\b", stripped) and "(" not in stripped.split(":")[0]:
                kind = "class"
            elif "(" in stripped and not stripped.endswith("=") and not CONTROL.search(stripped):
                kind = "function"
            else:
                kind = "block"
            first_line = text.count("\n", 0, statement_start + len(head) - len(head.lstrip())) + 1
            name = ""
            if kind == "function":
                m = re.search(r"([~\w:<>]+)\s*\(", stripped)
                name = m.group(1) if m else stripped[:40]
            stack.append((kind, first_line, name))
            statement_start = i + 1
        elif c == "}":
            if stack:
                kind, first_line, name = stack.pop()
                if kind == "function":
                    found.append((name, first_line, text.count("\n", 0, i) + 1 - first_line + 1))
            statement_start = i + 1
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--over", type=int, default=80)
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    rows = []
    for base in args.paths or [os.path.join(ROOT, p) for p in DEFAULT_PATHS]:
        files = [base] if os.path.isfile(base) else [
            os.path.join(d, f) for d, _, fs in os.walk(base) for f in fs if f.endswith((".cpp", ".hpp"))]
        for file in files:
            for name, line, length in functions(file):
                if length > args.over:
                    rows.append((length, os.path.relpath(file, ROOT), line, name))
    for length, file, line, name in sorted(rows, reverse=True):
        print(f"{file}:{line} {length} {name}")
    print(f"{len(rows)} functions longer than {args.over} lines")
    return 1 if rows else 0


if __name__ == "__main__":
    sys.exit(main())
