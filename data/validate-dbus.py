#!/usr/bin/env python3
"""Validates a D-Bus introspection file: well-formed, only known elements and
attributes, valid type signatures, and accepted by gdbus-codegen."""
import subprocess
import sys
import xml.etree.ElementTree as ET

codegen, xml_path, outdir = sys.argv[1:4]

ALLOWED = {
    "node": {"name"},
    "interface": {"name"},
    "method": {"name"},
    "signal": {"name"},
    "property": {"name", "type", "access"},
    "arg": {"name", "type", "direction"},
    "annotation": {"name", "value"},
}
BASIC = set("ybnqiuxtdhsog")


def valid_sig(sig):
    def one(i):
        if i >= len(sig):
            return -1
        c = sig[i]
        if c in BASIC or c == "v":
            return i + 1
        if c == "a":
            if i + 1 < len(sig) and sig[i + 1] == "{":
                j = i + 2
                if j >= len(sig) or sig[j] not in BASIC:
                    return -1
                j = one(j + 1)
                if j < 0 or j >= len(sig) or sig[j] != "}":
                    return -1
                return j + 1
            return one(i + 1)
        if c == "(":
            j = i + 1
            if j < len(sig) and sig[j] == ")":
                return -1
            while j < len(sig) and sig[j] != ")":
                j = one(j)
                if j < 0:
                    return -1
            return j + 1 if j < len(sig) else -1
        return -1

    i = 0
    while i < len(sig):
        i = one(i)
        if i < 0:
            return False
    return True


errors = []
root = ET.parse(xml_path).getroot()
for el in root.iter():
    if el.tag not in ALLOWED:
        errors.append(f"unknown element <{el.tag}>")
        continue
    extra = set(el.attrib) - ALLOWED[el.tag]
    if extra:
        errors.append(f"<{el.tag}> has unknown attributes {sorted(extra)}")
    if "type" in el.attrib and not valid_sig(el.attrib["type"]):
        errors.append(f"<{el.tag} name={el.attrib.get('name')}> bad signature {el.attrib['type']!r}")
    if el.tag == "property" and el.attrib.get("access") not in ("read", "write", "readwrite"):
        errors.append(f"property {el.attrib.get('name')}: bad access")
    if el.tag == "arg" and el.attrib.get("direction", "in") not in ("in", "out"):
        errors.append(f"arg {el.attrib.get('name')}: bad direction")
ifaces = root.findall("interface")
if not ifaces:
    errors.append("no interface")
for e in errors:
    print("ERROR:", e)
if errors:
    sys.exit(1)

r = subprocess.run([codegen, "--interface-prefix", "org.terrarium.", "--c-namespace", "Trm",
                    "--generate-c-code", f"{outdir}/dbus-check", xml_path],
                   capture_output=True, text=True)
print(r.stdout, r.stderr)
if r.returncode != 0:
    print("ERROR: gdbus-codegen rejected the interface")
    sys.exit(1)
print(f"ok: {len(ifaces)} interface(s), {sum(1 for _ in root.iter('method'))} methods")
