#!/usr/bin/python3
"""The repository stands on its own: no file points at a document outside it.

The design lives in docs/, the manual pages in packaging/man/, the emulator's
rules in tests/emulator/README.md. A comment or a document that cites a
specification's numbered sections, or a design, style or notes file that is
not in the tree, sends the reader somewhere they cannot follow. This check
reads every file of the tree (tracked and untracked but not ignored when git
is at hand, else every file), except .git, build*/ and the fuzz corpora, and
fails with file:line for each such pointer.

Usage: test_references.py [SOURCE_DIR] (default $RINGSYNC_SOURCE_DIR, else
the tree this file is in). Exit status 0 when clean, 1 with the findings.
"""
import os
import re
import subprocess
import sys

# Each pattern is split so that this file does not name what it looks for.
PATTERNS = [
    (re.compile(r"\b" + "SP" + r"EC\b"), "the outside specification"),
    (re.compile("ARCHI" + r"TECTURE\.md"), "an outside design document"),
    (re.compile("STY" + r"LE\.md"), "an outside style guide"),
    (re.compile("telephony" + r"-api\.md"), "outside notes on the phone API"),
    (re.compile("samba-ad" + r"-dc\.md"), "outside notes on Samba"),
    (re.compile("/work" + "/"), "a path outside the repository"),
    (re.compile(r"\.\./" + "shared" + r"\b"), "a path outside the repository"),
    (re.compile(r"\b" + "notes" + r"/[\w.-]+\.md\b"), "outside notes"),
    (re.compile(r"\bthe " + "(notes|brief)" + r"\b", re.IGNORECASE),
     "outside notes or a brief"),
]

SKIP_DIRS = {".git", "__pycache__"}


def skipped(rel):
    parts = rel.split("/")
    if any(p in SKIP_DIRS for p in parts[:-1]):
        return True
    if parts[0].startswith("build"):
        return True
    return rel.startswith("tests/fuzz/corpus/")


def files(root):
    try:
        out = subprocess.run(
            ["git", "-C", root, "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"], capture_output=True, check=True).stdout
        names = [n.decode("utf-8", "surrogateescape") for n in out.split(b"\0") if n]
        if names:
            return sorted(set(names))
    except (OSError, subprocess.CalledProcessError):
        pass
    names = []
    for d, dirs, fs in os.walk(root):
        rel = os.path.relpath(d, root)
        dirs[:] = [x for x in dirs if not skipped(
            (x if rel == "." else rel + "/" + x) + "/")]
        for f in fs:
            names.append(f if rel == "." else rel + "/" + f)
    return sorted(names)


def findings(root):
    found = []
    for rel in files(root):
        path = os.path.join(root, rel)
        if skipped(rel) or not os.path.isfile(path) or os.path.islink(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if b"\0" in data[:8192]:
            continue  # binary
        text = data.decode("utf-8", "replace")
        for no, line in enumerate(text.splitlines(), 1):
            for pat, what in PATTERNS:
                if pat.search(line):
                    found.append("%s:%d: %s: %s" % (rel, no, what, line.strip()))
                    break
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
        "RINGSYNC_SOURCE_DIR",
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    if not os.path.isfile(os.path.join(root, "CMakeLists.txt")):
        print("test_references: %s is not the source tree" % root, file=sys.stderr)
        return 1
    found = findings(root)
    for f in found:
        print(f)
    if found:
        print("test_references: %d pointer(s) to documents outside the repository; "
              "point into docs/, the manual pages or a README instead" % len(found))
        return 1
    print("test_references: no pointer to a document outside the repository")
    return 0


if __name__ == "__main__":
    sys.exit(main())
