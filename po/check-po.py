#!/usr/bin/env python3
"""data suite: every translation is complete and in sync with the sources.
Extracts the strings afresh with xgettext (po/POTFILES) and requires each
language in LINGUAS to translate every one of them, with valid formats."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

src = sys.argv[1]
po = os.path.join(src, "po")
for tool in ("xgettext", "msgfmt"):
    if not shutil.which(tool):
        print(f"SKIP: {tool} is not installed (gettext)")
        sys.exit(77)

files = [l.strip() for l in open(os.path.join(po, "POTFILES")) if l.strip() and not l.startswith("#")]
with tempfile.TemporaryDirectory() as tmp:
    pot = os.path.join(tmp, "t.pot")
    args = ["xgettext", "--from-code=UTF-8", "--keyword=_", "--keyword=N_", "--keyword=C_:1c,2",
            "--keyword=NC_:1c,2", "--keyword=g_dngettext:2,3", "--add-comments", "-o", pot]
    subprocess.check_call(args + files, cwd=src)
    text = open(pot).read()


def msgids(text):
    out = set()
    for ctx, mid in re.findall(r'(?:msgctxt "((?:[^"\\]|\\.)*)"\n)?msgid ((?:"(?:[^"\\]|\\.)*"\n)+)', text):
        s = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', mid))
        if s:
            out.add((ctx, s))
    return out


wanted = msgids(text)
bad = 0
for lang in open(os.path.join(po, "LINGUAS")).read().split():
    path = os.path.join(po, lang + ".po")
    r = subprocess.run(["msgfmt", "--check", "--statistics", "-o", os.devnull, path],
                       capture_output=True, text=True)
    stats = r.stderr.strip()
    if r.returncode != 0 or "untranslated" in stats or "fuzzy" in stats:
        print(f"{lang}: {stats}")
        bad = 1
    have = msgids(open(path).read())
    missing = wanted - have
    for ctx, s in sorted(missing)[:20]:
        print(f"{lang}: not translated: {s!r}")
    if missing:
        print(f"{lang}: {len(missing)} strings missing (regenerate po/terrarium.pot and translate)")
        bad = 1
    print(f"{lang}: {stats}")
sys.exit(bad)
