#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Secrets in URLs stay in the requests: an install URL with user information, a signed query
# string and a fragment, and a Server= with user information, install and fail as usual (nginx
# ignores what it does not check), and what every local user reads shows the URLs without them:
# Source, the Note, `swupdatectl status` and `history`, the log, and what status.json keeps for
# display.
. "${SRCDIR:-.}/tests/daemon-lib.sh"

served_release
start_daemon
secret_server="http://svc:pollpass@127.0.0.1:$PORT/stable"
use_server "$secret_server"
restart_daemon
release "$T/v4.swu" 4
cp "$T/v4.swu" "$T/repo/v4.swu"
python3 "$SRCDIR/tests/forge.py" order "$T/v4.swu" "$T/repo/v4-staged.swu" --payloads-first
sign="?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIAEXAMPLE#fragsecret"

# Streamed, and staged (its own log line), from URLs with every kind of secret.
expect_exit 0 ctl install "http://user:hunter2@127.0.0.1:$PORT/v4.swu$sign"
expect_stdout "Finished: success"
expect_eq "Source" "$(prop Source)" "http://127.0.0.1:$PORT/v4.swu"
check "nginx did not get the query string" grep -q "GET /v4.swu?X-Amz-Signature=deadbeef" "$T/access.log"
expect_exit 0 ctl reset
expect_exit 0 ctl install "http://user:hunter2@127.0.0.1:$PORT/v4-staged.swu$sign"
expect_stdout "Finished: success"
check "the bundle was not staged" grep -q "The bundle at http://127.0.0.1:$PORT/v4-staged.swu cannot" "$T/daemon.log"
expect_exit 0 ctl reset
rm -f "$DEV/state/pending.json"

# Failures name the URL: an HTTP status, and curl's own error (nothing listens on port 1).
expect_exit 1 ctl install "http://user:hunter2@127.0.0.1:$PORT/missing.swu$sign"
check "404 Note" note_has "Install from http://127.0.0.1:$PORT/missing.swu failed: HTTP status 404"
expect_exit 0 ctl reset
expect_exit 1 ctl install "http://user:hunter2@127.0.0.1:1/v4.swu$sign"
check "connection Note" note_has "Install from http://127.0.0.1:1/v4.swu failed: .*http://127.0.0.1:1/v4.swu: "
expect_exit 0 ctl reset
# Server=: a poll that fails, and the install of its release.
use_server "http://svc:pollpass@127.0.0.1:1/stable"
restart_daemon
expect_exit 1 ctl check
expect_stderr "Checking http://127.0.0.1:1/stable failed: http://127.0.0.1:1/stable/metadata.pb: "
use_server "$secret_server"
restart_daemon
expect_exit 0 ctl install --reinstall
expect_stdout "Finished: success"
expect_eq "Source of the server's release" "$(prop Source)" "http://127.0.0.1:$PORT/stable"
check "nginx was not asked for metadata.pb" grep -q "GET /stable/metadata.pb" "$T/access.log"

# no_secret WHAT FILE: FILE shows none of the secrets (and is not empty).
no_secret() {
	check "$1 is empty" test -s "$2"
	check_not "$1 shows a secret: $(grep -E 'hunter2|deadbeef|AKIAEXAMPLE|fragsecret|pollpass|user:|svc:' "$2")" \
		grep -qE 'hunter2|deadbeef|AKIAEXAMPLE|fragsecret|pollpass|user:|svc:' "$2"
}
ctl status >"$T/status.out" 2>&1 || true
ctl history >"$T/history.out" 2>&1 || true
prop Note >"$T/note.out"
# status.json's "polled" is Server= to compare at the next start: the state directory is root's.
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d.pop("polled"); print(d)' \
	"$DEV/state/status.json" >"$T/status-shown.out"
no_secret "swupdatectl status" "$T/status.out"
no_secret "swupdatectl history" "$T/history.out"
no_secret "the Note" "$T/note.out"
no_secret "the log" "$T/daemon.log"
no_secret "history.jsonl" "$DEV/state/history.jsonl"
no_secret "status.json" "$T/status-shown.out"
# check-config's summary: an administrator's terminal, or a unit's journal.
expect_exit 0 "$SWUPDATED" --config "$DEV/swupdated.conf" check-config
no_secret "check-config" "$T/out"
check "check-config names the server" grep -q "http://127.0.0.1:$PORT/stable" "$T/out"
check "the history lacks the failed install" grep -q "missing.swu failed" "$T/history.out"
finish
