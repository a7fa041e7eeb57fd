"""The functions include/homing/homing.h declares (every HOMING_EXTERN)."""

import re


def declared_functions(header_path):
    with open(header_path, encoding="utf-8") as header:
        text = header.read()
    # "HOMING_EXTERN <return type> homing_name(" across line breaks.
    return set(re.findall(r"HOMING_EXTERN\s[^;{]*?\b(homing_\w+)\s*\(", text))
