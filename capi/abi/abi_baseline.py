#!/usr/bin/env python3
"""Pins the exported C ABI of libhoming.so to capi/abi/libhoming.abi.

Usage:
  abi_baseline.py check  ABIDW ABIDIFF LIBRARY HEADER BASELINE
  abi_baseline.py record ABIDW ABIDIFF LIBRARY HEADER BASELINE

`check` (the capi_abi test) describes the freshly built library with abidw and
compares it with the baseline using abidiff (Debian's abigail-tools). Any
difference fails: a removal or change is refused outright (docs/ABI.md); an
addition fails until the baseline is re-recorded in the same commit.
`record` (`make abi-baseline`) writes the baseline, but refuses to record a
removal or change while the soname stays the same.

Both need DWARF in the library (buildtype debug or debugoptimized); without
it the check is skipped (exit 77), because abidiff would see no types and
pass whatever changed.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77

# abidiff's exit status bits (abidiff(1)); ABIDIFF_ABI_CHANGE (4) is any
# other nonzero status.
ABIDIFF_ERROR = 1
ABIDIFF_USAGE_ERROR = 2
ABIDIFF_ABI_INCOMPATIBLE_CHANGE = 8


def describe(abidw, library, header, out_path):
    """Writes the ABI of what HEADER declares, as LIBRARY implements it."""
    subprocess.run([
        abidw,
        # Only homing.h's types: the C++ structs behind the opaque handles
        # (capi/*.cc) and every internal type stay out of the baseline.
        "--headers-dir", os.path.dirname(header), "--header-file", header,
        "--drop-private-types", "--exported-interfaces-only",
        "--drop-undefined-syms",
        # Nothing that depends on where or against what it was built, so
        # every build directory and sanitizer build records the same text.
        "--no-corpus-path", "--no-comp-dir-path", "--no-show-locs",
        "--no-elf-needed", "--type-id-style", "hash",
        "--out-file", out_path, library,
    ], check=True)


def soname(abi_path):
    with open(abi_path, encoding="utf-8") as abi:
        match = re.search(r"soname='([^']*)'", abi.readline())
    return match.group(1) if match else None


def has_api_dwarf(abi_path):
    """abidw writes function declarations only when DWARF describes them."""
    with open(abi_path, encoding="utf-8") as abi:
        return "<function-decl name='homing_" in abi.read()


def abidiff(abidiff_tool, baseline, current, *options):
    result = subprocess.run([abidiff_tool, "--no-show-locs", *options, baseline, current],
                            capture_output=True, text=True)
    if result.returncode & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR):
        sys.exit("abidiff failed (exit %d):\n%s%s"
                 % (result.returncode, result.stdout, result.stderr))
    return result


def breaks_programs(harmful):
    """Whether abidiff's default report holds anything but additions.

    Its summary lines count Removed, Changed and Added declarations and
    symbols. abidiff sets the INCOMPATIBLE bit only for removals, so a changed
    signature or enumerator value is caught by the counts; a report without
    additions (a new soname, say) is a break too.
    """
    counts = re.findall(r"(\d+) (Removed|Changed|Added)", harmful.stdout)
    changed = any(int(n) for n, what in counts if what != "Added")
    added = any(int(n) for n, what in counts if what == "Added")
    return bool(harmful.returncode & ABIDIFF_ABI_INCOMPATIBLE_CHANGE) or changed or not added


def classify(abidiff_tool, baseline, current):
    """Returns (kind, report): kind is None, "additive" or "incompatible"."""
    harmful = abidiff(abidiff_tool, baseline, current)
    if harmful.returncode and breaks_programs(harmful):
        return "incompatible", harmful.stdout
    # abidiff hides the changes it deems harmless, such as a new enumerator:
    # they are additions too, and go into the baseline so it stays complete.
    # The leaf report lists them with the added functions, once each.
    everything = abidiff(abidiff_tool, baseline, current, "--harmless",
                         "--leaf-changes-only")
    if harmful.returncode or everything.returncode:
        return "additive", everything.stdout
    return None, ""


def check(kind, report, baseline_name, current_soname, same_soname):
    """The capi_abi test: passes only when nothing changed."""
    if kind is None:
        print("libhoming.so matches %s" % baseline_name)
        return 0
    print(report)
    if kind == "incompatible" and not same_soname:
        print("FAIL: the soname is now %s: a deliberate ABI break (docs/ABI.md) "
              "records a new baseline with `make abi-baseline` in the same commit."
              % current_soname)
    elif kind == "incompatible":
        print("FAIL: an incompatible ABI change (above): a declaration of homing.h "
              "was removed or changed. docs/ABI.md refuses this within soname %s: "
              "add a successor (homing_x2()) and keep the old one." % current_soname)
    else:
        print("FAIL: the ABI grew (above) but %s does not record it. If the "
              "addition is meant, run `make abi-baseline` and commit %s with it."
              % (baseline_name, baseline_name))
    return 1


def record(kind, report, baseline_name, current_soname, same_soname, current, baseline):
    """`make abi-baseline`: copies the fresh description over the baseline,
    unless that would hide a break within the soname."""
    if kind == "incompatible" and same_soname:
        print(report)
        print("refused: the ABI of %s lost or changed declarations (above); "
              "docs/ABI.md allows only additions within a soname" % current_soname)
        return 1
    if kind is None:
        print("%s already matches libhoming.so" % baseline_name)
        return 0
    shutil.copyfile(current, baseline)
    if report:
        print(report)
    print("recorded %s: commit it with the change to homing.h" % baseline_name)
    return 0


def main():
    if len(sys.argv) != 7 or sys.argv[1] not in ("check", "record"):
        sys.exit(__doc__)
    mode, abidw, abidiff_tool, library, header, baseline = sys.argv[1:7]
    skipped = ": skipped" if mode == "check" else ""
    if not (abidw and abidiff_tool):
        print("abidw/abidiff not found (apt-get install abigail-tools, or make deps)"
              + skipped)
        return SKIP if mode == "check" else 1
    # Meson names the source root to the test and to `ninja abi-baseline`.
    baseline_name = os.path.relpath(
        baseline, os.environ.get("MESON_SOURCE_ROOT", os.curdir))

    with tempfile.TemporaryDirectory() as scratch:
        current = os.path.join(scratch, "libhoming.abi")
        describe(abidw, library, header, current)
        if not has_api_dwarf(current):
            print("%s has no DWARF describing homing.h, so abidiff cannot compare "
                  "its types (configure with -Dbuildtype=debugoptimized or debug)%s"
                  % (library, skipped))
            return SKIP if mode == "check" else 1
        if os.path.exists(baseline):
            kind, report = classify(abidiff_tool, baseline, current)
        else:
            kind, report = "additive", "no baseline yet"
        current_soname = soname(current)
        same_soname = os.path.exists(baseline) and soname(baseline) == current_soname
        if mode == "check":
            return check(kind, report, baseline_name, current_soname, same_soname)
        return record(kind, report, baseline_name, current_soname, same_soname,
                      current, baseline)


if __name__ == "__main__":
    sys.exit(main())
