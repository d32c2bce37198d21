#!/bin/sh
# ui suite: runs a ui test program under Xvfb with a private session bus.
# Usage: run-ui.sh PROGRAM OUTDIR
command -v xvfb-run >/dev/null || { echo "SKIP: xvfb-run is not installed (apt install xvfb xauth)"; exit 77; }
command -v xauth >/dev/null || { echo "SKIP: xauth is not installed"; exit 77; }
bus=""
command -v dbus-run-session >/dev/null && bus="dbus-run-session --"
exec xvfb-run -a -s "-screen 0 1600x1000x24" $bus "$@"
