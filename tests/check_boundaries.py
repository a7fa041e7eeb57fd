#!/usr/bin/env python3
"""Component boundaries, checked mechanically.

- A component's private headers (lib/<component>/*.h) are its own: another
  component includes only public headers ("homing/..."), plus the few
  internal helpers of lib/common, the base layer every component builds on.
- The C ABI (capi/) and the example programs (examples/) build on the
  public headers (capi/ may use lib/common's helpers too).
- Every public header in include/homing/ is installed (include/meson.build).

Usage: check_boundaries.py SOURCE_ROOT
"""

import re
import sys
from pathlib import Path

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# lib/common's internal headers that every component may use.
SHARED_COMMON = {"common/string_util.h", "common/log.h", "common/address_format.h",
                 "common/callback_list.h"}


def quoted_includes(path):
    return INCLUDE.findall(path.read_text(errors="replace"))


def components(root):
    return {p.name for p in (root / "lib").iterdir() if p.is_dir()}


def check_lib(root, problems):
    names = components(root)
    for component in sorted(p for p in (root / "lib").iterdir() if p.is_dir()):
        for source in sorted(component.glob("*.[ch]*")):
            for header in quoted_includes(source):
                owner = header.split("/")[0] if "/" in header else None
                if owner in ("homing", component.name) or header in SHARED_COMMON:
                    continue
                if owner is not None and owner not in names:
                    continue  # a third-party library's (absl/, re2/, ...)
                if owner is None:
                    problems.append(f"{source.relative_to(root)}: #include \"{header}\": "
                                    f"name a component's header with its directory")
                    continue
                problems.append(f"{source.relative_to(root)}: #include \"{header}\" is "
                                f"private to lib/{owner} (use a public header)")


def check_consumers(root, directory, allowed, problems):
    names = components(root)
    for source in sorted((root / directory).rglob("*")):
        if source.suffix not in (".c", ".cc", ".h"):
            continue
        for header in quoted_includes(source):
            if "/" not in header or header.split("/")[0] not in names or header in allowed:
                continue
            problems.append(f"{source.relative_to(root)}: #include \"{header}\": "
                            f"{directory}/ builds on the public headers only")


def check_installed(root, problems):
    listed = set(re.findall(r"'homing/([a-z_0-9]+\.h)'",
                            (root / "include" / "meson.build").read_text()))
    listed |= set(re.findall(r"install_headers\(files\('\.\./include/homing/([a-z_0-9]+\.h)'",
                             (root / "capi" / "meson.build").read_text()))
    for header in sorted((root / "include" / "homing").glob("*.h")):
        if header.name not in listed:
            problems.append(f"include/homing/{header.name} is not installed "
                            f"(add it to include/meson.build)")


def main():
    root = Path(sys.argv[1])
    problems = []
    check_lib(root, problems)
    check_consumers(root, "capi", SHARED_COMMON, problems)
    check_consumers(root, "examples", set(), problems)
    check_installed(root, problems)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} boundary problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
