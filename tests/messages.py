#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The catalogue of docs/guides/messages.md and messages-reasons.md against the code, both ways.

The sentences: every string literal passed to a function whose text becomes a Note or a D-Bus
error's message (NOTE_CALLS: the daemon's own, and the reasons libswu gives with swu_fail()),
and every literal of a *_hint() function (what is appended to a Note). printf conversions
become "…", so `Release version %u available (installed %u)%s` is catalogued as
`Release version … available (installed …)…`. A sentence the code can produce and the
catalogue lacks fails, and so does a catalogued sentence the code no longer has.

The errors: every io.swupdated.Error name the daemon can send, and each one's errnos.

Every function of the daemon and libswu that takes a printf format must be classified here
(NOTE_CALLS, LOG_ONLY or NAMES), so a new way of making a Note cannot slip past.

Usage: messages.py SRCDIR          check the catalogue
       messages.py SRCDIR --list   print what the code can produce, grouped as catalogued
"""
import errno
import os
import re
import sys

# Calls whose string arguments become a Note or a D-Bus error message (daemon), or a failure
# reason that follows "what: " in one (libswu, through log_reason()).
NOTE_CALLS = {
    "set_note", "refuse", "fail", "record_failure", "poll_note", "up_to_date", "transfer_fail",
    "delta_failed", "parse_error", "sd_bus_error_setf", "swu_fail", "swu_fail_wrap",
    "index_fail", "patch_fail",
}
# Formatting functions whose text only reaches the log (or a buffer the log reads).
LOG_ONLY = {
    "log_msg", "log_failure", "fall_back", "stop", "warnf", "strdup_escaped_printf",
    "strdup_escaped_vprintf", "emit", "swu_log_debug",
}
# Functions whose `what` is a name that a sentence quotes ("targets metadata"), not a sentence.
NAMES = {
    "transfer_show_target", "stream_order", "factory_file", "remember_name", "check_threshold",
    "swu_wire_check", "swu_wire_check_string", "swu_wire_map_entry", "swu_wire_unpack",
    "wire_check",
}
# Buffers that hold a Note: snprintf(note, ...), asprintf(&note, ...), and the reason buffer.
NOTE_BUFFERS = {"note", "&note", "why", "&sentence", "sentence"}

TOKEN = re.compile(r'''
    (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<pre>^[ \t]*\#(?:[^\n\\]|\\.)*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<char>'(?:[^'\\\n]|\\.)*')
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<punct>[(),;{}&])
  | (?P<other>[^\sA-Za-z_"'(),;{}&]+)
''', re.S | re.M | re.X)
CONVERSION = re.compile(r"%[-+ #0]*(\*|\d+)?(\.(\*|\d+))?(hh|h|ll|l|z|j|t)?[diouxXcsp]")
PRI = re.compile(r"PRI[diouxX](8|16|32|64|MAX|PTR)")


def tokens(text):
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in ("comment", "pre"):
            continue
        yield kind, m.group()


def literal(s):
    """A C string literal's text (escapes kept as written: the catalogue shows them so)."""
    return s[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def calls(path):
    """(function, [literal...], [argument-token-lists]) for each call in the file, and the
    bodies of *_hint() functions, as (name, literals)."""
    toks = list(tokens(open(path, encoding="utf-8").read()))
    out = []
    for i, (kind, value) in enumerate(toks):
        if kind != "ident" or i + 1 >= len(toks) or toks[i + 1][1] != "(":
            continue
        depth, j, args, cur = 0, i + 1, [], []
        while j < len(toks):
            k, v = toks[j]
            if v == "(":
                depth += 1
                if depth == 1:
                    j += 1
                    continue
            elif v == ")":
                depth -= 1
                if depth == 0:
                    break
            if v == "," and depth == 1:
                args.append(cur)
                cur = []
            else:
                cur.append((k, v))
            j += 1
        args.append(cur)
        # A definition: the *_hint() functions' bodies are appended text.
        if value.endswith("_hint") and j + 1 < len(toks) and toks[j + 1][1] == "{":
            depth, k2, lits = 0, j + 1, []
            while k2 < len(toks):
                if toks[k2][1] == "{":
                    depth += 1
                elif toks[k2][1] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                k2 += 1
            out.append(("hint:" + value, joined(toks[j + 1:k2]), args))
            continue
        out.append((value, joined([t for a in args for t in a + [("punct", ",")]]), args))
    return out


def joined(toks):
    """The string literals among toks, adjacent ones (and PRI macros between them) joined."""
    lits, cur = [], None
    for kind, value in toks:
        if kind == "string":
            cur = (cur or "") + literal(value)
        elif kind == "ident" and cur is not None and PRI.fullmatch(value):
            cur += value[3]  # "%" PRIu64: the literal before ends with the "%"
        else:
            if cur is not None:
                lits.append(cur)
            cur = None
    if cur is not None:
        lits.append(cur)
    return lits


def normal(s):
    return CONVERSION.sub("…", s).replace("%%", "%")


def sentence(s):
    """A literal worth cataloguing: it holds words (not a bare "%s: %s" or a file mode)."""
    n = normal(s)
    return bool(re.search(r"[A-Za-z]{2}", n)) and (" " in n or n[0].isupper())


def first_arg(args):
    return "".join(v for _, v in args[0]) if args and args[0] else ""


rules = {}  # a libswu reason: {"role/rule ERRNO"}


def code(srcdir):
    """What the code can say: {sentence: set of places}, {error name: set of errnos}, and the
    formatting functions nobody classified."""
    sentences, errors, unclassified = {}, {}, set()
    files = []
    rules.clear()
    for sub in ("daemon", "libswu"):
        d = os.path.join(srcdir, sub)
        files += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".c")]
    for path in files:
        rel = os.path.relpath(path, srcdir)
        text = open(path, encoding="utf-8").read()
        # Formatting functions defined here must be classified.
        for m in re.finditer(r"^(?:static\s+)?[\w\s\*]+?\b(\w+)\(([^)]*const char \*(?:fmt|what)[^)]*)\)\s*$",
                             text, re.M):
            if m.group(1) not in NOTE_CALLS | LOG_ONLY | NAMES:
                unclassified.add("%s: %s()" % (rel, m.group(1)))
        for name, lits, args in calls(path):
            note = name in NOTE_CALLS or name.startswith("hint:") or (
                name in ("snprintf", "asprintf") and first_arg(args) in NOTE_BUFFERS)
            if name == "SD_BUS_ERROR_MAP" and lits:
                code_name = "".join(v for _, v in args[1]) if len(args) > 1 else ""
                errors.setdefault(lits[0], set()).add(code_name)
                continue
            for lit in lits:
                if lit.startswith("io.swupdated.Error."):
                    errors.setdefault(lit, set())
                    continue
                if not note or not sentence(lit):
                    continue
                # swu_fail's role and rule are names, not sentences.
                if name in ("swu_fail", "swu_fail_wrap") and re.fullmatch(r"[a-z-]+", lit):
                    continue
                sentences.setdefault(normal(lit), set()).add(rel)
                if name in ("swu_fail", "swu_fail_wrap") and len(args) > 3:
                    tag = "/".join("".join(v for _, v in a).strip('"') for a in args[2:4])
                    rules.setdefault(normal(lit), set()).add(
                        "%s %s" % (tag, "".join(v for _, v in args[1]).lstrip("-")))
    return sentences, errors, unclassified


def catalogue(paths):
    """The catalogued sentences (the code spans a list item begins with) and error names
    (headings)."""
    text = "\n".join(open(p, encoding="utf-8").read() for p in paths if os.path.exists(p))
    # A list item that begins with code spans catalogues each ("- `A`, `B` and `C` — ...").
    listed = set()
    for item in re.findall(r"^- (`[^`]+`(?:(?:,\s+|\s+and\s+|,\s+and\s+)`[^`]+`)*)", text, re.M):
        listed.update(re.findall(r"`([^`]+)`", item))
    names = set(re.findall(r"^#+ `(io\.swupdated\.Error\.\w+)`", text, re.M))
    errnos = {}
    for name, body in re.findall(r"^#+ `(io\.swupdated\.Error\.\w+)`\n(.*?)(?=^#)", text, re.M | re.S):
        errnos[name] = set(re.findall(r"\b(E[A-Z0-9]{3,})\b", body))
    return listed, names, errnos


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    srcdir = sys.argv[1]
    sentences, errors, unclassified = code(srcdir)
    if "--list" in sys.argv[2:]:
        for name in sorted(errors):
            print("%s %s" % (name, " ".join(sorted(errors[name]))))
        for s in sorted(sentences, key=lambda s: (sorted(sentences[s])[0], s)):
            print("%-28s %s%s" % (",".join(sorted(sentences[s])), s,
                                  "  [%s]" % ", ".join(sorted(rules[s])) if s in rules else ""))
        return 0
    docs = [os.path.join(srcdir, "docs/guides", f) for f in ("messages.md", "messages-reasons.md")]
    listed, names, errnos = catalogue(docs)
    problems = []
    for f in sorted(unclassified):
        problems.append("%s formats text: add it to NOTE_CALLS, LOG_ONLY or NAMES in tests/messages.py" % f)
    for s in sorted(set(sentences) - listed):
        problems.append("not in the catalogue: `%s` (%s)" % (s, ", ".join(sorted(sentences[s]))))
    for s in sorted(listed - set(sentences)):
        problems.append("catalogued, but no code says it: `%s`" % s)
    for n in sorted(set(errors) - names):
        problems.append("error not in the catalogue: %s" % n)
    for n in sorted(names - set(errors)):
        problems.append("catalogued error the daemon never sends: %s" % n)
    for n in sorted(set(errors) & names):
        missing = errors[n] - errnos.get(n, set())
        if missing:
            problems.append("%s: its section does not name %s" % (n, ", ".join(sorted(missing))))
    for p in problems:
        print(p)
    print("%d sentences, %d errors in the code; %d problems" % (len(sentences), len(errors), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
