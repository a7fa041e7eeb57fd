#!/usr/bin/env python3
"""docs/c-api.md covers the whole C API, and its examples are the tested ones.

Usage: check_docs.py HEADER DOC EXAMPLES_DIR SOURCE_ROOT

 - every function homing.h declares is named in the doc and used in at least
   one example under EXAMPLES_DIR;
 - every example file is shown in the doc: a code block preceded by
   `<!-- example: <path from the source root> -->` must equal the file, so
   the doc shows exactly the code the capi suite compiles and runs.
"""

import os
import re
import sys

from header_api import declared_functions

MARKER = re.compile(r"<!-- example: (\S+) -->\n```[a-z]*\n(.*?)```", re.S)


def main():
    header, doc_path, examples_dir, source_root = sys.argv[1:5]
    with open(doc_path, encoding="utf-8") as doc_file:
        doc = doc_file.read()
    examples = {}
    for name in sorted(os.listdir(examples_dir)):
        if name.endswith(".c"):
            path = os.path.join(examples_dir, name)
            with open(path, encoding="utf-8") as example:
                examples[os.path.relpath(path, source_root)] = example.read()

    problems = []
    shown = {}
    for path, code in MARKER.findall(doc):
        shown[path] = code
        if path not in examples:
            problems.append("the doc shows %s, which is not a tested example" % path)
        elif code != examples[path]:
            problems.append("the doc's copy of %s differs from the file" % path)
    for path in examples:
        if path not in shown:
            problems.append("example %s is not shown in the doc" % path)

    all_code = "\n".join(examples.values())
    functions = declared_functions(header)
    for name in sorted(functions):
        if not re.search(r"\b%s\b" % name, doc):
            problems.append("%s is not documented in %s" % (name, doc_path))
        if not re.search(r"\b%s\b" % name, all_code):
            problems.append("%s is used by no example" % name)

    for problem in problems:
        print(problem)
    print("%d functions, %d examples checked" % (len(functions), len(examples)))
    return 1 if problems or not functions or not examples else 0


if __name__ == "__main__":
    sys.exit(main())
