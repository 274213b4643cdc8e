#!/usr/bin/env bash
# Run a command with the machine clock faked: scripts/faketime.sh "2031-04-14 10:00:00" CMD ARGS...
# The clock is shifted so that it reads that UTC instant now and runs on; every process started under it
# (servers, CLI subprocesses) sees the same shifted time. The monotonic clock stays real, so timers, sleeps
# and timeouts work. Uses the libfaketime that the `libfaketime` Python package (a dev extra) vendors: Debian's
# libfaketime 0.9.10 makes Python's time.sleep fail with EINVAL when the monotonic clock is kept real, and
# hangs timed waits when it is not.
set -euo pipefail
when=$1
shift
here="$(cd "$(dirname "$0")/.." && pwd)"
lib="$("${here}/.venv/bin/python" -c 'import libfaketime, os; print(os.path.join(libfaketime.get_reload_information()[1]["LD_LIBRARY_PATH"], "libfaketime.so.1"))')"
offset=$(( $(date -u -d "${when}" +%s) - $(date -u +%s) ))
if [ "${offset}" -ge 0 ]; then offset="+${offset}"; fi
export LD_PRELOAD="${lib}" FAKETIME="${offset}" FAKETIME_DONT_FAKE_MONOTONIC=1 DONT_FAKE_MONOTONIC=1
exec "$@"
