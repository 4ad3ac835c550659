#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs the task guides of docs/guides/ the way a reader would, and fails when one drifts.

Each guide's ```sh blocks run in order in one bash (set -euo pipefail), in a fresh scratch
directory, so variables and the working directory carry from block to block. A block
followed by an ```output block must print those lines, in that order (other lines may come
between them; "..." in a line stands for any text). Two HTML comments mark what cannot run
here:
  <!-- guide: board REASON -->      before a block that needs hardware: shown, not run;
  <!-- guide: stand-in WHAT -->     before the block that runs in its place (it must follow).

Usage: guides.py [--list] WORKDIR GUIDE.md...   (PATH must hold swu, swupdated, swupdatectl
and docs/guides/lab.) Prints one line per guide: blocks run, outputs checked, stand-ins.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

FENCE = re.compile(r"^```(\S*)\s*$")
MARK = re.compile(r"^<!-- guide: (board|stand-in) (.+?) -->\s*$")


class Block:
    def __init__(self, kind, info, line, text, mark):
        self.kind, self.info, self.line, self.text, self.mark = kind, info, line, text, mark
        self.expect = None


def parse(path):
    """The guide's blocks: run ("sh"), board ("board", not run), with their expected output."""
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks, mark, i, errors = [], None, 0, []
    while i < len(lines):
        m = MARK.match(lines[i])
        if m:
            if mark:
                errors.append("%s:%d: a guide mark without a block after it" % (path, mark[2]))
            mark = (m.group(1), m.group(2), i + 1)
            i += 1
            continue
        f = FENCE.match(lines[i])
        if not f:
            if lines[i].strip() and mark:
                errors.append("%s:%d: a guide mark must come right before its block" % (path, mark[2]))
                mark = None
            i += 1
            continue
        info, start = f.group(1), i + 1
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if j == len(lines):
            errors.append("%s:%d: unterminated block" % (path, start))
            break
        text = "\n".join(lines[i + 1:j])
        if info == "sh":
            kind = "board" if mark and mark[0] == "board" else "sh"
            blocks.append(Block(kind, info, start, text, mark))
        elif info == "output":
            if mark:
                errors.append("%s:%d: an output block cannot be marked" % (path, start))
            if not blocks or blocks[-1].kind != "sh" or blocks[-1].expect is not None:
                errors.append("%s:%d: an output block must follow the sh block it checks" % (path, start))
            else:
                blocks[-1].expect = (start, text)
        elif mark:
            errors.append("%s:%d: only sh blocks can be marked" % (path, start))
        mark = None
        i = j + 1
    # Every board block is followed by a stand-in, and a stand-in follows a board block.
    for k, b in enumerate(blocks):
        if b.kind == "board" and (k + 1 == len(blocks) or not blocks[k + 1].mark
                                  or blocks[k + 1].mark[0] != "stand-in"):
            errors.append("%s:%d: a board block needs a stand-in block after it" % (path, b.line))
        if b.mark and b.mark[0] == "stand-in" and (k == 0 or blocks[k - 1].kind != "board"):
            errors.append("%s:%d: a stand-in must follow the board block it replaces" % (path, b.line))
    return blocks, errors


def matches(expected, actual):
    """The first expected line that actual's lines do not give in order, or None."""
    got = [l.rstrip() for l in actual.split("\n")]
    k = 0
    for want in expected.split("\n"):
        want = want.rstrip()
        if not want:
            continue
        pattern = re.compile(".*".join(re.escape(p) for p in want.split("...")))
        while k < len(got) and not pattern.fullmatch(got[k]):
            k += 1
        if k == len(got):
            return want
        k += 1
    return None


def script(blocks, outdir):
    """One bash script for the guide: each run block writes its output to outdir/N."""
    parts = ["set -euo pipefail", "exec </dev/null"]
    for n, b in enumerate(blocks):
        if b.kind != "sh":
            continue
        parts.append("echo %d >%s/current" % (n, outdir))
        parts.append("{\n%s\n} >%s/%d 2>&1" % (b.text, outdir, n))
    parts.append("echo done >%s/current" % outdir)
    return "\n".join(parts) + "\n"


def reap(work):
    """Ends what a guide left running in work (nginx and dbus-daemon leave the session)."""
    me = os.getpid()
    for _ in range(2):
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == me:
                continue
            try:
                cmd = open("/proc/%s/cmdline" % pid, "rb").read().decode(errors="replace")
                cwd = os.readlink("/proc/%s/cwd" % pid)
            except OSError:
                continue
            if work in cmd or cwd == work or cwd.startswith(work + "/"):
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
        time.sleep(0.2)


def run(path, workroot):
    name = os.path.splitext(os.path.basename(path))[0]
    blocks, errors = parse(path)
    if errors:
        return ["\n".join(errors)], ""
    work = os.path.join(workroot, name)
    shutil.rmtree(work, ignore_errors=True)
    outdir = os.path.join(work, ".guide")
    os.makedirs(outdir)
    open(os.path.join(outdir, "script.sh"), "w").write(script(blocks, outdir))
    start = time.monotonic()
    try:
        proc = subprocess.run(["bash", os.path.join(outdir, "script.sh")], cwd=work,
                              timeout=int(os.environ.get("GUIDE_TIMEOUT", "600")))
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    reap(work)
    failures, checked = [], 0
    current = open(os.path.join(outdir, "current")).read().strip() if os.path.exists(
        os.path.join(outdir, "current")) else "0"
    if rc != 0:
        b = blocks[int(current)] if current.isdigit() else None
        out = open(os.path.join(outdir, current)).read() if b else ""
        failures.append("%s:%s: the block failed (%s); its output:\n%s" % (
            path, b.line if b else "?", "exit %s" % rc if rc != "timeout" else "timed out",
            out[-3000:]))
    for n, b in enumerate(blocks):
        if b.kind != "sh" or b.expect is None or not os.path.exists(os.path.join(outdir, str(n))):
            continue
        if rc != 0 and str(n) == current:
            continue
        actual = open(os.path.join(outdir, str(n))).read()
        missing = matches(b.expect[1], actual)
        checked += 1
        if missing is not None:
            failures.append("%s:%d: the block of line %d did not print %r; it printed:\n%s" % (
                path, b.expect[0], b.line, missing, actual[-3000:]))
    ran = sum(1 for b in blocks if b.kind == "sh")
    stand_ins = [b.mark[1] for b in blocks if b.mark and b.mark[0] == "stand-in"]
    summary = "%s: %d blocks run, %d outputs checked, %d stand-ins, %.0f s" % (
        name, ran, checked, len(stand_ins), time.monotonic() - start)
    for s in stand_ins:
        summary += "\n    stand-in: " + s
    return failures, summary


def main():
    args = sys.argv[1:]
    if args and args[0] == "--list":
        for path in args[1:]:
            blocks, errors = parse(path)
            for b in blocks:
                print("%s:%d: %s%s" % (path, b.line, b.kind, " (%s: %s)" % b.mark[:2] if b.mark else ""))
            for e in errors:
                print(e)
        return 0
    if len(args) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    workroot, failed = os.path.abspath(args[0]), 0
    for path in args[1:]:
        failures, summary = run(path, workroot)
        if failures:
            failed += 1
            print("FAIL %s" % path)
            for f in failures:
                print("  " + f.replace("\n", "\n  "))
        else:
            print("ok %s" % summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
