#!/usr/bin/env python3
"""libhoming.so exports exactly what homing.h declares, and nothing else.

Usage: check_symbols.py NM READELF LIBRARY HEADER

Checks `nm -D --defined-only`: every exported symbol is a homing_* function
declared in the header, and every declared function is exported; and the
soname is libhoming.so.<N>.
"""

import re
import subprocess
import sys

from header_api import declared_functions


def main():
    nm, readelf, library, header = sys.argv[1:5]
    output = subprocess.run([nm, "-D", "--defined-only", library], check=True,
                            capture_output=True, text=True).stdout
    exported = set()
    problems = []
    for line in output.splitlines():
        fields = line.split()
        if not fields:
            continue
        name = fields[-1]
        if not name.startswith("homing_"):
            problems.append("exported symbol outside the API: " + line.strip())
        exported.add(name)
    declared = declared_functions(header)
    for name in sorted(declared - exported):
        problems.append("declared but not exported: " + name)
    for name in sorted(exported - declared):
        problems.append("exported but not declared in homing.h: " + name)

    dynamic = subprocess.run([readelf, "-d", library], check=True,
                             capture_output=True, text=True).stdout
    soname = re.search(r"Library soname: \[([^\]]+)\]", dynamic)
    if soname is None or not re.fullmatch(r"libhoming\.so\.\d+", soname.group(1)):
        problems.append("soname is %s, expected libhoming.so.<N>"
                        % (soname.group(1) if soname else "missing"))

    for problem in problems:
        print(problem)
    print("%d functions declared, %d symbols exported" % (len(declared), len(exported)))
    return 1 if problems or not declared else 0


if __name__ == "__main__":
    sys.exit(main())
