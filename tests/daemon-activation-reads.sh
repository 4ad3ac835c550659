#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Property reads every 50 ms across 20 idle exits: not one fails (a read that arrives while the
# daemon exits is answered by the next one the bus starts).
. "${SRCDIR:-.}/tests/daemon-activation-lib.sh"

activation_setup
before=$(exits)
python3 - "$BUS" "$T/reads" "$T/daemon.log" "$before" <<'PY'
import subprocess, sys, time
bus, out, log, before = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
errors, reads, start = [], 0, time.monotonic()
while time.monotonic() - start < 120:
    p = subprocess.run(["busctl", bus, "get-property", "io.swupdated.Updater1",
                        "/io/swupdated/Updater1", "io.swupdated.Updater1", "State"],
                       capture_output=True, text=True, timeout=30)
    reads += 1
    if p.returncode != 0 or p.stdout.strip() != 's "inactive"':
        errors.append(p.stdout.strip() + p.stderr.strip())
    if open(log).read().count("Idle for 1 s: exiting") - before >= 20:
        break
    time.sleep(0.05)
open(out, "w").write("%d %d %.1f\n%s\n" % (reads, len(errors), time.monotonic() - start,
                                           "\n".join(errors[:5])))
PY
read -r reads errors seconds <"$T/reads"
echo "reads: $reads in $seconds s, errors: $errors, exits: $(($(exits) - before))"
expect_eq "failed reads across the idle exits" "$errors" 0
check "only $(($(exits) - before)) idle exits in $seconds s" test $(($(exits) - before)) -ge 20
wait_gone 5
finish
