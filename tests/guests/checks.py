# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest-test scripts' checklist: each check prints ok/FAIL and the script's
exit status is 1 if any failed (one script per process, so one list)."""

problems = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        problems.append(what)
    return cond


def verdict():
    """Prints the count of failed checks; the exit status to return."""
    print(f"{len(problems)} problems")
    return 1 if problems else 0
