#!/usr/bin/env python3
"""Turns an AML file compiled by iasl into a C source defining
`const unsigned char <name>[]` and `const size_t <name>_len`."""
import sys


def main():
    aml, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
    data = open(aml, "rb").read()
    lines = [f"/* Generated from {aml.rsplit('/', 1)[-1]} by aml-to-c.py; do not edit. */",
             "#include <stddef.h>", "",
             f"extern const unsigned char {name}[];", f"extern const size_t {name}_len;",
             f"const unsigned char {name}[] = {{"]
    for i in range(0, len(data), 12):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in data[i:i + 12]) + ",")
    lines += ["};", f"const size_t {name}_len = sizeof({name});", ""]
    open(out, "w").write("\n".join(lines))


if __name__ == "__main__":
    main()
