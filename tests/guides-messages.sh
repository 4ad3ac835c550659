#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The troubleshooting catalogue (docs/guides/messages.md, messages-reasons.md) against the code,
# both ways (tests/messages.py): every sentence the daemon can put in a Note or a D-Bus error,
# every reason libswu gives, and every error name with its errnos. First the check itself must
# catch a sentence that goes missing and one that no code says.
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$SRCDIR/tests/lib.sh"
check "the catalogue holds every message of the code, and only those" \
	python3 "$SRCDIR/tests/messages.py" "$SRCDIR"
[ "$failures" = 0 ] || cat "$T/check.out"

# refused WHAT PATTERN: the check fails on the copy, and its output names the problem (PATTERN).
refused() {
	check_not "$1 passes" python3 "$SRCDIR/tests/messages.py" "$T/src"
	cp "$T/check.out" "$T/refused.out"
	check "$1 is not named" grep -qF -- "$2" "$T/refused.out"
}

# The check on a copy: one sentence removed, one invented, one errno dropped.
mkdir -p "$T/src/docs/guides"
cp -r "$SRCDIR/daemon" "$SRCDIR/libswu" "$T/src/"
cp "$SRCDIR"/docs/guides/messages*.md "$T/src/docs/guides/"
sed -i '/^- `too many keys`$/d' "$T/src/docs/guides/messages.md"
refused "a sentence missing from the catalogue" 'not in the catalogue: `too many keys`'
cp "$SRCDIR/docs/guides/messages.md" "$T/src/docs/guides/"
echo '- `A sentence no code says`' >>"$T/src/docs/guides/messages.md"
refused "an invented sentence" 'no code says it: `A sentence no code says`'
cp "$SRCDIR/docs/guides/messages.md" "$T/src/docs/guides/"
sed -i 's/^ESHUTDOWN\. //' "$T/src/docs/guides/messages.md"
refused "an error section without its errno" "io.swupdated.Error.Exiting: its section does not name ESHUTDOWN"
# A new function that formats a Note must be classified.
printf 'static void tell(Updater *u, const char *fmt, ...)\n{\n}\n' >>"$T/src/daemon/updater.c"
cp "$SRCDIR/docs/guides/messages.md" "$T/src/docs/guides/"
refused "an unclassified formatting function" "daemon/updater.c: tell() formats text"
finish
