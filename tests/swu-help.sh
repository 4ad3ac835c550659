#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# swu's help is its command table: every command prints its own usage for --help and -h (exit 0),
# each usage lists exactly the options the command takes (swu checks that itself and says so on
# stderr), each listed option is accepted, and docs/man/swu.1 documents every command and option.
. "${SRCDIR:-.}/tests/lib.sh"

expect_exit 0 "$SWU" --help
check "swu --help complained: $(cat "$T/err")" test ! -s "$T/err"
cp "$T/out" help.txt
expect_stdout "^  add-file-to-bundle --bundle B --file F "
expect_stdout "^ *\[--chunk-index\[=auto|block|byte\]\]$"
expect_stdout "the version is ROOT's + 1, and an explicit --version must"
expect_stdout "inspect-root-metadata \[--previous ROOT\] F"
expect_stdout "Every command takes --help (or -h)"

# The commands and, per command, the options its usage lists (-o counts).
commands=$(sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p' help.txt)
expect_eq "commands in swu --help" "$(echo "$commands" | wc -l)" 17
usage_of() { # usage_of CMD: its usage, all lines
	"$SWU" "$1" --help | sed -n '1,/^$/p'
}
for cmd in $commands; do
	for h in --help -h; do
		expect_exit 0 "$SWU" "$cmd" "$h"
		check "'swu $cmd $h' does not start with its usage: $(head -n 2 "$T/out")" grep -q "^Usage: swu $cmd " "$T/out"
		check "'swu $cmd $h' complained: $(cat "$T/err")" test ! -s "$T/err"
	done
	# --help anywhere among the arguments, and nothing is done.
	expect_exit 0 "$SWU" "$cmd" --bundle not-created.pb --help
	check "'swu $cmd ... --help' created a file" test ! -e not-created.pb
	for opt in $(usage_of "$cmd" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
		"$SWU" "$cmd" "$opt" >/dev/null 2>opt.err || true
		check "'swu $cmd' does not take $opt, which its usage lists: $(cat opt.err)" \
			not grep -q "unrecognized option" opt.err
	done
done
expect_exit 2 "$SWU" add-file-to-bundle --no-such-option
expect_exit 2 "$SWU" verify-bundle --bundle b.pb --self -o out.pb

# docs/man/swu.1: an entry per command, naming every option of its usage.
python3 - "$SRCDIR/docs/man/swu.1" help.txt >man.txt <<'EOF_PY'
import re, sys
man = open(sys.argv[1]).read().replace("\\-", "-").replace("\\fB", "").replace("\\fI", "").replace("\\fR", "")
entries = {}
for item in man.split(".TP\n")[1:]:
    head = re.sub(r"^\.BI? ", "", item.split("\n")[0]).strip('"').split()
    if head:
        entries[head[0]] = item
help_text = open(sys.argv[2]).read().split("Commands:\n")[1].split("\n\n")[0]
usage = {}
for line in help_text.split("\n"):
    m = re.match(r"  ([a-z][a-z-]*) (.*)", line)
    if m:
        cmd = m.group(1)
        usage[cmd] = m.group(2)
    elif line.startswith("          "):
        usage[cmd] += " " + line.strip()
for cmd, text in usage.items():
    if cmd not in entries:
        print(f"swu.1 has no entry for {cmd}")
        continue
    for opt in sorted(set(re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", text))):
        if not re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", entries[cmd]):
            print(f"swu.1 does not name {opt} of {cmd}")
if not re.search(r"(?<![\w-])--help(?![\w-])", man):
    print("swu.1 does not say that every command takes --help")
EOF_PY
check "docs/man/swu.1 is not in step with swu --help: $(cat man.txt)" test ! -s man.txt

finish
