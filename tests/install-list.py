#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The install list is part of the product: every program the scripts, tests, benchmarks, the
Makefile and the VM test run on the build machine must come from a package scripts/install-deps
installs (or a package one of those depends on directly), or from an Essential package. A green
CI on a machine that has a tool anyway proves nothing about a fresh Debian 12 machine.

  tests/install-list.py [--verbose] SRCDIR        exit 1 naming each program of no listed package
  tests/install-list.py --guest-programs SRCDIR   the programs the VM test runs in its guest

How the programs called are found:
- Shell code is parsed by shfmt into its syntax tree (no regular expressions over lines): every
  command in command position (line start, |, ;, &&, ||, $(...), backticks, if/then/else,
  while/do, !, time, functions, traps, eval, heredoc scripts starting with #!, ExecStart= of unit
  files written by heredoc), and the command inside wrappers: exec, env, timeout, xargs, nice,
  chroot, runuser, setpriv, unshare, systemd-run, find -exec, bash/sh -c, python3 -c, and the
  tests' own (check, wait_until, expect_exit, ...; a function that runs its arguments and is
  missing from PROJECT_WRAPPERS fails the check).
- Python code (tests/*.py, python3 -c and python3 - heredocs) by Python's parser: subprocess.*
  and os.system/exec* calls with a literal program, and imported modules outside the standard
  library.
- Makefile.am's recipes (with its variables expanded) and *_LOG_COMPILER.
- The task guides (docs/guides/*.md): the sh blocks tests/guides.py runs (not those shown for a
  board), and the guides' lab script. Scripts and units a guide writes with a heredoc are files
  for the reader's board (a health check, a boot backend), checked neither here nor in the VM.
- What runs in the VM guest is the guest's: the scripts given to g, gcheck, gexpect, guntil and
  gwait, commands run by chroot into the image, and tests/vm/agent. Those are listed by
  --guest-programs, which tests/vm/run checks against the image, never required of the host.
- A program a script or benchmark looks for first (command -v NAME as a condition) is optional
  there: it goes without, or says what to install. Not in a test: a test that skips for want of
  a program hides the same hole. A command named only at run time ("$cmd") cannot be checked:
  --verbose lists them.
"""
import ast
import importlib.util
import concurrent.futures
import json
import os
import re
import subprocess
import sys

# The project's own programs (built, or installed into the VM image, by make).
PROJECT_PROGRAMS = {"swu", "swupdated", "swupdatectl", "swupdated-generator", "fuzz-bundle",
                    "vm-agent", "lab"}  # lab: the task guides' stand-ins (docs/guides/lab)
# Variables the tests point at the project's programs.
PROJECT_VARIABLES = {"SWU", "swu", "SWUPDATED", "SWUPDATECTL", "SWUPDATED_GENERATOR",
                     "FUZZ_BUNDLE"}
# In no list and not Essential, yet on every machine install-deps runs on: the tool it installs with.
BOOTSTRAP = {"apt": "scripts/install-deps installs the list with apt-get"}

# The project's functions that run their arguments as a command: name -> (the file defining it,
# the index of the command among its arguments). GUEST_SCRIPT_WRAPPERS: functions whose argument
# is a script run in the VM guest (index of the script).
PROJECT_WRAPPERS = {
    "check": ("tests/lib.sh", 1), "check_not": ("tests/lib.sh", 1), "not": ("tests/lib.sh", 0),
    "expect_exit": ("tests/lib.sh", 1), "wait_until": ("tests/lib.sh", 1),
    "fallback": ("tests/daemon-delta-lib.sh", 2), "as": ("tests/daemon-access.sh", 1),
    "retry": ("scripts/cross-check", 0), "measure": ("bench/lib.sh", 0),
    "measure_fail": ("bench/verify", 0),
    "with_server": ("tests/daemon-contract.sh", 1),
    "with_broken_config": ("tests/daemon-contract.sh", 0),
    "with_verity": ("tests/daemon-contract.sh", 0),
}
GUEST_SCRIPT_WRAPPERS = {
    "g": ("tests/vm/vm.sh", 0), "gcheck": ("tests/vm/run", 1), "gexpect": ("tests/vm/run", 2),
    "guntil": ("tests/vm/run", 1), "gwait": ("tests/vm/run", 2),
}

# The system's wrappers: options that take a separate argument, operands before the command.
EXTERNAL_WRAPPERS = {
    "exec": ({"-a"}, 0),
    "builtin": (set(), 0),
    "nice": ({"-n", "--adjustment"}, 0),
    "nohup": (set(), 0),
    "setsid": (set(), 0),
    "stdbuf": ({"-i", "-o", "-e", "--input", "--output", "--error"}, 0),
    "ionice": ({"-c", "-n", "-p", "-P", "-u", "--class", "--classdata"}, 0),
    "timeout": ({"-s", "-k", "--signal", "--kill-after"}, 1),
    "xargs": ({"-n", "-I", "-P", "-d", "-L", "-a", "-E", "-s", "--max-args", "--max-procs",
               "--delimiter", "--arg-file", "--max-lines", "--max-chars"}, 0),
    "runuser": ({"-u", "-g", "-G", "--user", "--group", "--supp-group", "-s", "--shell", "-w",
                 "--whitelist-environment"}, 0),
    "setpriv": (set(), 0),
    "unshare": ({"--propagation", "-S", "-G", "--setuid", "--setgid", "-R", "--root", "-w",
                 "--wd"}, 0),
    "systemd-run": ({"-p", "--property", "-u", "--unit", "-M", "--machine", "-E", "--setenv",
                     "--description", "--slice", "-H", "--host", "--working-directory", "--uid",
                     "--gid", "--nice", "-d"}, 0),
    "flock": ({"-w", "-E", "--timeout", "--conflict-exit-code"}, 1),
    "time": ({"-o", "-f", "--output", "--format"}, 0),
    "sudo": ({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"}, 0),
    "fakeroot": ({"-l", "-s", "-i", "--lib", "--faked"}, 0),
    "taskset": (set(), 1),
    "chrt": (set(), 1),
    "strace": ({"-o", "-e", "-p", "-s", "-u", "-E"}, 0),
    "chroot": ({"--userspec", "--groups"}, 1),
}
SHELLS = {"bash", "sh", "dash"}
PYTHONS = {"python3", "python"}
STDLIB = set(sys.stdlib_module_names)
# Placeholders for what only the running shell knows; re-parsed, they stay expansions.
VAR, SUBST = "${__V}", "${__S}"


class Found:
    def __init__(self):
        self.progs = []  # (context, name, file, line)
        self.dynamic = []  # (context, text, file, line)
        self.probed = {}  # file -> names it looks for with command -v
        self.modules = []  # (module, file, line)
        self.wrappers = set()  # (file, function, line): functions running their arguments
        self.errors = []
        # Pass 1, per file: functions defined, files sourced, literal values of variables.
        self.functions, self.sources, self.assigns = {}, {}, {}


found = Found()


def shfmt(text, where):
    try:
        p = subprocess.run(["shfmt", "--to-json", "-ln", "bash"], input=text.encode(),
                           capture_output=True, check=False)
    except FileNotFoundError:
        sys.exit("install-list: shfmt is missing: run scripts/install-deps")
    if p.returncode != 0:
        found.errors.append(f"{where}: shfmt cannot parse it: {p.stderr.decode().strip()}")
        return None
    return json.loads(p.stdout)


def unescape_dq(s):
    return re.sub(r'\\([$`"\\\n])', lambda m: "" if m.group(1) == "\n" else m.group(1), s)


def unescape_lit(s):
    return re.sub(r"\\(.)", lambda m: "" if m.group(1) == "\n" else m.group(1), s, flags=re.S)


def word_text(word, quoted=False):
    """(text, static): a word's text, with VAR for a parameter expansion (its default for
    ${X-default}) and SUBST for a command substitution; static when it has neither."""
    out, static = [], True
    for part in word.get("Parts", []):
        t = part.get("Type")
        if t == "Lit":
            v = part.get("Value", "")
            out.append(unescape_dq(v) if quoted else unescape_lit(v))
        elif t == "SglQuoted":
            out.append(part.get("Value", ""))
        elif t == "DblQuoted":
            s, st = word_text(part, quoted=True)
            out.append(s)
            static = static and st
        elif t == "ParamExp":
            exp, name = part.get("Exp"), part["Param"].get("Value", "")
            if exp and exp.get("Op") in (70, 71) and exp.get("Word"):  # ${X-default}, ${X:-default}
                s, st = word_text(exp["Word"], quoted)
                out.append(s)
                static = static and st
            elif name in PROJECT_VARIABLES and not exp and not part.get("Slice"):
                out.append("swu")
            else:
                out.append(VAR)
                static = False
        else:  # CmdSubst, ProcSubst, ArithmExp, ExtGlob, ...
            out.append(SUBST)
            static = False
    return "".join(out), static


def single_param(word):
    """The name of the parameter when the word is just "$NAME" (or ${NAME}), else None."""
    parts = word.get("Parts", [])
    if len(parts) == 1 and parts[0].get("Type") == "DblQuoted":
        parts = parts[0].get("Parts", [])
    if len(parts) == 1 and parts[0].get("Type") == "ParamExp" and not parts[0].get("Exp"):
        return parts[0]["Param"].get("Value", "")
    return None


def positional(word):
    name = single_param(word)
    if name is None:
        parts = word.get("Parts", [])
        if len(parts) == 1 and parts[0].get("Type") == "DblQuoted":
            parts = parts[0].get("Parts", [])
        if len(parts) == 1 and parts[0].get("Type") == "ParamExp" and parts[0].get("Slice"):
            name = parts[0]["Param"].get("Value", "")
    return name is not None and (name in ("@", "*") or name.isdigit())


def walk_nodes(node):
    if isinstance(node, list):
        for n in node:
            yield from walk_nodes(n)
    elif isinstance(node, dict):
        yield node
        for k, v in node.items():
            if k not in ("Pos", "End") and isinstance(v, (dict, list)):
                yield from walk_nodes(v)


def collect(rel, tree):
    """Pass 1: the functions a file defines, the files it sources, its variables' literal values."""
    for n in walk_nodes(tree):
        t = n.get("Type")
        if t == "FuncDecl":
            found.functions.setdefault(rel, set()).add(n["Name"]["Value"])
        elif t in ("CallExpr", "DeclClause"):
            args = n.get("Args") or []
            if t == "CallExpr" and len(args) > 1 and word_text(args[0])[0] in (".", "source"):
                found.sources.setdefault(rel, set()).add(word_text(args[1])[0])
            for a in n.get("Assigns") or []:
                if a.get("Name") and a.get("Value") and not a.get("Append"):
                    found.assigns.setdefault(rel, {}).setdefault(a["Name"]["Value"], set()).add(
                        word_text(a["Value"]))


class Walker:
    """Pass 2: the commands of one syntax tree, in a context ("host" or "guest")."""

    def __init__(self, rel, context, group, line0=0):
        self.rel, self.context, self.group, self.line0 = rel, context, group, line0
        self.loops = {}  # loop variable -> its literal words
        self.conditions = set()  # ids of the commands that are conditions (if, while, &&, ||)

    def line(self, node):
        return self.line0 + node.get("Pos", {}).get("Line", 1)

    def walk(self, node, function=None):
        if isinstance(node, list):
            for n in node:
                self.walk(n, function)
            return
        if not isinstance(node, dict):
            return
        t = node.get("Type")
        if t == "FuncDecl":
            self.walk(node["Body"], node["Name"]["Value"])
            return
        if t == "ForClause" and node.get("Loop", {}).get("Name"):
            items = [word_text(w) for w in node["Loop"].get("Items") or []]
            if items and all(st for _, st in items):
                self.loops[node["Loop"]["Name"]["Value"]] = [s for s, _ in items]
        if t == "BinaryCmd" and node.get("Op") in (10, 11):  # && ||
            self.conditions.update(id(s.get("Cmd")) for s in (node["X"], node["Y"]))
        elif t in ("IfClause", "WhileClause"):
            self.conditions.update(id(s.get("Cmd")) for s in node.get("Cond") or [])
        if t == "CallExpr" and node.get("Args"):
            self.call(node["Args"], self.line(node), function, self.context,
                      condition=id(node) in self.conditions)
        for r in node.get("Redirs") or []:
            self.heredoc(r, node, function)
        for k, v in node.items():
            if k not in ("Pos", "End") and isinstance(v, (dict, list)):
                self.walk(v, function)

    def heredoc(self, redir, stmt, function):
        if not redir.get("Hdoc"):
            return
        text, _ = word_text(redir["Hdoc"], quoted=True)
        args = (stmt.get("Cmd") or {}).get("Args") or []
        first = os.path.basename(word_text(args[0])[0]) if args else ""
        if first in PYTHONS and len(args) > 1 and word_text(args[1])[0] == "-":
            python_code(text, self.rel, self.line(stmt), self.context)
        elif re.match(r"#!\S*/(ba|da)?sh\b", text):
            self.sub(text, self.line(stmt), self.board(), function)
        elif re.match(r"\s*\[(Unit|Service)\]", text) and re.search(r"^\s*\[Service\]", text, re.M):
            target = " ".join(word_text(r["Word"])[0] for r in stmt.get("Redirs") or []
                              if not r.get("Hdoc") and r.get("Word"))
            ctx = "guest" if self.rel.startswith("tests/vm/") and "/root/" in target else self.board()
            unit_file(text, self.rel, self.line(stmt), ctx, self.group)

    def board(self):
        """The context of a script or unit a heredoc writes: in a task guide, a file for the
        reader's board (its health check, its boot backend), checked neither here nor in the VM."""
        return "board" if self.rel.startswith("docs/guides/") else self.context

    def sub(self, text, line, context, function=None):
        tree = shfmt(text, f"{self.rel}:{line}")
        if tree:
            w = Walker(self.rel, context, self.group if context == "host" else set(), line - 1)
            w.loops = self.loops
            w.walk(tree, function)

    def wrapper(self, table, name):
        entry = table.get(name)
        return entry[1] if entry and entry[0] in self.group else None

    def values(self, var):
        """The literal values a variable of this file's group is ever given, or None."""
        vals = set()
        for f in self.group:
            vals |= found.assigns.get(f, {}).get(var, set())
        return [v for v, _ in vals] if vals and all(st for _, st in vals) else None

    def call(self, args, line, function, context, condition=False):
        if not args:
            return
        if positional(args[0]):
            if function:
                found.wrappers.add((self.rel, function, line))
            return
        name, static = word_text(args[0])
        rest, texts = args[1:], [word_text(a)[0] for a in args[1:]]
        if not static:
            var = single_param(args[0])
            vals = self.values(var) if var and context == "host" else None
            if vals:
                for v in vals:
                    found.progs.append((context, v, self.rel, line))
            else:
                found.dynamic.append((context, name, self.rel, line))
            return
        if name in (".", "source"):
            return
        i = self.wrapper(PROJECT_WRAPPERS, name)
        if i is not None:
            self.call(rest[i:], line, function, context)
            return
        i = self.wrapper(GUEST_SCRIPT_WRAPPERS, name)
        if i is not None:
            if i < len(rest):
                if positional(rest[i]):
                    if function:
                        found.wrappers.add((self.rel, function, line))
                else:
                    self.sub(word_text(rest[i], quoted=True)[0], line, "guest")
            return
        if name in ("trap", "eval"):
            if rest and positional(rest[0]) and function:
                found.wrappers.add((self.rel, function, line))
            elif rest:
                self.sub(texts[0] if name == "trap" else " ".join(texts), line, context, function)
            return
        if name in ("command", "type", "hash") and (name != "command" or (texts and texts[0] in ("-v", "-V"))):
            # A look-up. As a condition in a script or benchmark, it makes the program optional
            # there (it goes without, or says what to install); a test that skips without it
            # hides the same hole.
            for a in rest if condition and self.rel.startswith(("bench/", "scripts/")) else []:
                var = single_param(a)
                for p in self.loops.get(var, []) if var else [word_text(a)[0]]:
                    found.probed.setdefault(self.rel, set()).add(p)
            return
        if name == "command":
            self.call(rest, line, function, context)
            return
        found.progs.append((context, name, self.rel, line))
        base = os.path.basename(name)
        if base == "env":
            i = 0
            while i < len(texts) and (texts[i].startswith("-") or "=" in texts[i]):
                i += 2 if texts[i] in ("-u", "-C", "-S", "--unset", "--chdir") else 1
            self.call(rest[i:], line, function, context)
        elif base == "find":
            for i, t in enumerate(texts):
                if t in ("-exec", "-execdir", "-ok", "-okdir"):
                    end = next((j for j in range(i + 1, len(texts)) if texts[j] in (";", "+")),
                               len(texts))
                    self.call(rest[i + 1:end], line, function, context)
        elif base in SHELLS or base in ("runuser", "su") and "-c" in texts:
            if "-c" in texts and texts.index("-c") + 1 < len(rest):
                script = rest[texts.index("-c") + 1]
                if positional(script):
                    if function:
                        found.wrappers.add((self.rel, function, line))
                else:
                    self.sub(word_text(script, quoted=True)[0], line, context, function)
        elif base in PYTHONS:
            if "-c" in texts and texts.index("-c") + 1 < len(rest):
                code = rest[texts.index("-c") + 1]
                python_code(word_text(code, quoted=True)[0], self.rel, line, context)
        elif base in EXTERNAL_WRAPPERS:
            opts, operands = EXTERNAL_WRAPPERS[base]
            i = 0
            while i < len(texts) and texts[i].startswith("-") and texts[i] != "-":
                if texts[i] == "--":
                    i += 1
                    break
                i += 2 if texts[i] in opts else 1
            inner = context
            if base == "chroot" and self.rel.startswith("tests/vm/"):
                inner = "guest"  # the VM test's chroot runs the image's programs
            self.call(rest[i + operands:], line, function, inner)


def unit_file(text, rel, line, context, group):
    for n, l in enumerate(text.splitlines()):
        m = re.match(r"\s*Exec\w+=[-@:+!|]*(.*)", l)
        if m:
            tree = shfmt(m.group(1).replace("\\$", "$"), f"{rel}:{line + n}")
            if tree:
                Walker(rel, context, group, line + n - 1).walk(tree)


class PyCalls(ast.NodeVisitor):
    RUNNERS = {("subprocess", f) for f in ("run", "call", "check_call", "check_output", "Popen")}
    SHELL_RUNNERS = {("os", "system"), ("os", "popen")}
    EXECS = {("os", f) for f in ("execv", "execvp", "execve", "execvpe", "execl", "execlp")}

    def __init__(self, rel, line0, context):
        self.rel, self.line0, self.context = rel, line0, context

    def visit_Import(self, node):
        for a in node.names:
            self.module(a.name, node)

    def visit_ImportFrom(self, node):
        if node.module and not node.level:
            self.module(node.module, node)

    def module(self, name, node):
        top = name.split(".")[0]
        if top not in STDLIB and self.context == "host":
            found.modules.append((top, self.rel, self.line0 + node.lineno))

    def visit_Call(self, node):
        f = node.func
        key = (f.value.id, f.attr) if isinstance(f, ast.Attribute) and isinstance(
            f.value, ast.Name) else None
        line = self.line0 + node.lineno
        arg = node.args[0] if node.args else next(
            (k.value for k in node.keywords if k.arg == "args"), None)
        shell = any(k.arg == "shell" and isinstance(k.value, ast.Constant) and k.value.value
                    for k in node.keywords)
        if arg is not None and (key in self.SHELL_RUNNERS or (key in self.RUNNERS and shell)):
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                tree = shfmt(arg.value, f"{self.rel}:{line}")
                if tree:
                    Walker(self.rel, self.context, set(), line - 1).walk(tree)
            else:
                found.dynamic.append((self.context, ast.unparse(arg), self.rel, line))
        elif arg is not None and (key in self.RUNNERS or key in self.EXECS):
            while isinstance(arg, ast.BinOp):  # ["prog", ...] + more
                arg = arg.left
            first = arg.elts[0] if isinstance(arg, (ast.List, ast.Tuple)) and arg.elts else arg
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.progs.append((self.context, first.value, self.rel, line))
            else:
                found.dynamic.append((self.context, ast.unparse(first), self.rel, line))
        self.generic_visit(node)


def python_code(text, rel, line, context):
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        found.errors.append(f"{rel}:{line}: Python cannot parse it: {e}")
        return
    PyCalls(rel, line - 1, context).visit(tree)


def makefile_commands(path):
    """Makefile.am's recipes and *_LOG_COMPILER as shell text, its own variables and automake's
    and autoconf's expanded: [(line, text)]."""
    lines = open(path).read().split("\n")
    known = {"SED": "sed", "MKDIR_P": "mkdir -p", "BASH": "bash", "MAKE": "make", "AM_V_GEN": "",
             "AM_V_at": "", "INSTALL": "install", "LN_S": "ln -s", "SHELL": "/bin/sh",
             "PROTOC_C": "protoc-c"}
    own, cmds, i, in_rule = {}, [], 0, False
    while i < len(lines):
        start, text = i + 1, lines[i]
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text += "\n" + lines[i]
        i += 1
        if text.startswith("\t") and in_rule:
            cmds.append((start, text.lstrip("\t").lstrip("@-+")))
            continue
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(\+?)=\s*(.*)", text, re.S)
        in_rule = not m and bool(re.match(r"^[^\t#\s][^=]*:([^=]|$)", text))
        if m:
            value = m.group(3).replace("\\\n", " ")
            own[m.group(1)] = (own.get(m.group(1), "") + " " + value) if m.group(2) else value
            if m.group(1).endswith("LOG_COMPILER"):
                cmds.append((start, value + " test-program"))

    def expand(s, depth=0):
        def var(m):
            n = m.group(1)
            if n in known:
                return known[n]
            if n in own and depth < 5:
                return expand(own[n], depth + 1)
            return VAR
        s = re.sub(r"\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]", var, s)
        s = re.sub(r"\$[(][^)]*[)]", VAR, s)
        return re.sub(r"\$[<@^?*]", VAR, s)

    return [(n, expand(t).replace("$$", "$").replace("$${", "${")) for n, t in cmds]


def language(path):
    if path.endswith(".py"):
        return "python"
    if path.endswith(".service"):
        return "unit"
    with open(path, "rb") as f:
        first = f.readline().decode(errors="replace")
    return "python" if first.startswith("#!") and "python" in first else "shell"


def sources(srcdir):
    files = []
    for d, ends in (("scripts", None), ("bench", None), ("tests", (".sh", ".inc", ".py")),
                    ("tests/vm", None), ("tests/fuzz", (".sh",)), (".ci", None),
                    ("docs/guides", None)):
        full = os.path.join(srcdir, d)
        if os.path.isdir(full):
            files += [os.path.join(d, n) for n in sorted(os.listdir(full))
                      if os.path.isfile(os.path.join(full, n)) and (ends is None or n.endswith(ends))
                      and not n.endswith((".c", ".h"))]  # bench/fleet-sim.c: built, not run
    return files


def groups(files):
    """What each file sees of the others' functions and variables: the files it sources
    (transitively), and those that source it with what they source (a library calls the
    functions of the test that sources it)."""
    down = {f: set() for f in files}
    for f, srcs in found.sources.items():
        for s in srcs:
            tail = os.path.normpath(re.split(r"\$\{__[VS]\}", s)[-1].lstrip("/"))
            for g in files:
                if g == tail or g.endswith("/" + tail) or (
                        "/" not in tail and os.path.dirname(g) == os.path.dirname(f) and
                        os.path.basename(g) == tail):
                    down[f].add(g)

    def closure(start, edges):
        seen, todo = set(), list(start)
        while todo:
            g = todo.pop()
            if g not in seen:
                seen.add(g)
                todo.extend(edges.get(g, ()))
        return seen

    up = {f: {g for g in files if f in down[g]} for f in files}
    result = {}
    for f in files:
        result[f] = set().union(*(closure([g], down) for g in closure([f], up)))
    return result


def guide_code(path, text):
    """The shell a task guide runs in CI (tests/guides.py): its runnable sh blocks, at their own
    line numbers; prose and the blocks shown for a board (not run) are blank lines."""
    spec = importlib.util.spec_from_file_location("guides", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "guides.py"))
    guides = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guides)
    lines = [""] * (text.count("\n") + 1)
    for b in guides.parse(path)[0]:
        if b.kind == "sh":
            for n, l in enumerate(b.text.split("\n")):
                lines[b.line + n] = l
    return "\n".join(lines)


def scan(srcdir):
    def parse(rel):
        path = os.path.join(srcdir, rel)
        # The test agent runs in the guest (tests/vm/image.sh installs it there).
        context = "guest" if rel in ("tests/vm/agent", "tests/vm/vm-agent.service") else "host"
        lang = language(path)
        text = open(path, encoding="utf-8", errors="replace").read()
        if rel.endswith(".md"):
            text, lang = guide_code(path, text), "shell"
        return (rel, context, shfmt(text, rel) if lang == "shell" else text, lang)

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        parsed = [(rel, context, tree, 0 if lang == "shell" else lang)
                  for rel, context, tree, lang in pool.map(parse, sources(srcdir)) if tree]
    for rel, _, tree, how in parsed:
        if how == 0:
            collect(rel, tree)
    for line, text in makefile_commands(os.path.join(srcdir, "Makefile.am")):
        tree = shfmt(text, f"Makefile.am:{line}")
        if tree:
            parsed.append(("Makefile.am", "host", tree, line - 1))
    group = groups(sorted({p[0] for p in parsed}))
    for rel, context, tree, how in parsed:
        if how == "python":
            python_code(tree, rel, 1, context)
        elif how == "unit":
            unit_file(tree, rel, 1, context, group[rel])
        else:
            Walker(rel, context, group[rel], how).walk(tree)
    # The tables of wrappers must name functions that exist where they say.
    for table in (PROJECT_WRAPPERS, GUEST_SCRIPT_WRAPPERS):
        for fn, (rel, _) in table.items():
            if os.path.exists(os.path.join(srcdir, rel)) and fn not in found.functions.get(rel, set()):
                found.errors.append(f"tests/install-list.py: {rel} defines no function {fn} any more")
    for rel, fn, line in sorted(found.wrappers):
        entry = PROJECT_WRAPPERS.get(fn) or GUEST_SCRIPT_WRAPPERS.get(fn)
        if not entry or entry[0] != rel:
            found.errors.append(f"{rel}:{line}: function {fn} runs its arguments as a command: "
                                "name it in PROJECT_WRAPPERS or GUEST_SCRIPT_WRAPPERS of "
                                "tests/install-list.py")
    return group


SYSTEM_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]


def locate(name):
    if name.startswith("/"):
        return name if os.path.exists(name) else None
    for d in SYSTEM_PATH:
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def candidates(path):
    """The paths dpkg may know a file by: as called, resolved (alternatives: every installed
    choice), and across the merged /usr."""
    paths = [path, os.path.realpath(path)]
    if os.path.islink(path) and os.readlink(path).startswith("/etc/alternatives/"):
        q = subprocess.run(["update-alternatives", "--query", os.path.basename(os.readlink(path))],
                           capture_output=True, text=True)
        paths += re.findall(r"^Alternative: (\S+)", q.stdout, re.M)
    out = []
    for p in paths:
        out.append(p)
        for a, b in (("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"), ("/usr/lib/", "/lib/")):
            if p.startswith(a):
                out.append(b + p[len(a):])
            elif p.startswith(b):
                out.append(a + p[len(b):])
    return list(dict.fromkeys(out))


def owners(paths):
    if not paths:
        return {}
    p = subprocess.run(["dpkg-query", "-S"] + sorted(paths), capture_output=True, text=True)
    out = {}
    for line in p.stdout.splitlines():
        if not line.startswith("diversion "):
            pkgs, _, path = line.rpartition(": ")
            for pkg in pkgs.split(", "):
                out.setdefault(path, set()).add(pkg.split(":")[0])
    return out


def install_lists(srcdir):
    """scripts/install-deps's packages, and those scripts/cross-check installs for itself."""
    def bash_list(script, snippet):
        return set(subprocess.run(["bash", "-c", snippet, "-", os.path.join(srcdir, script)],
                                  capture_output=True, text=True, check=True).stdout.split())
    return (bash_list("scripts/install-deps",
                      'eval "$(sed -n "/^packages=(/,/^)/p" "$1")"; printf "%s\\n" "${packages[@]}"'),
            bash_list("scripts/cross-check",
                      'triplet=TRIPLET; eval "$(grep "^host_pkgs=" "$1")"; echo $host_pkgs'))


def package_db():
    """Installed packages: the Essential ones, and each one's direct hard dependencies (the
    first of alternatives, as apt picks on a fresh machine)."""
    p = subprocess.run(["dpkg-query", "-W", "-f",
                        "${db:Status-Abbrev}|${Package}|${Essential}|${Pre-Depends}, ${Depends}\n"],
                       capture_output=True, text=True, check=True)
    installed, essential, depends = set(), set(), {}
    for line in p.stdout.splitlines():
        status, pkg, ess, deps = line.split("|", 3)
        if not status.startswith("ii"):
            continue
        installed.add(pkg)
        if ess == "yes":
            essential.add(pkg)
        depends[pkg] = {d.split("|")[0].split("(")[0].split(":")[0].strip()
                        for d in deps.split(",") if d.strip()}
    return installed, essential, depends


def module_files(modules):
    code = ("import importlib.util, sys\n"
            "for m in sys.argv[1:]:\n"
            "    try:\n"
            "        s = importlib.util.find_spec(m)\n"
            "    except Exception:\n"
            "        s = None\n"
            "    print(m, (s.origin or list(s.submodule_search_locations)[0]) if s else '-')\n")
    # The system's Python, not a developer's (pyenv, a virtualenv), from a directory that
    # shadows no module.
    p = subprocess.run(["/usr/bin/python3", "-c", code] + sorted(modules), capture_output=True,
                       text=True, check=True, cwd="/")
    return {m: (None if f == "-" else f) for m, f in (l.split(" ", 1) for l in p.stdout.splitlines())}


def main():
    args = sys.argv[1:]
    verbose, guest = "--verbose" in args, "--guest-programs" in args
    without = set(",".join(a[len("--without="):] for a in args if a.startswith("--without=")).split(","))
    args = [a for a in args if not a.startswith("--")]
    srcdir = os.path.abspath(args[0] if args else ".")
    group = scan(srcdir)
    builtins = set(subprocess.run(["bash", "-c", "compgen -b; compgen -k"], capture_output=True,
                                  text=True).stdout.split())
    py_files = {os.path.basename(f)[:-3] for f in sources(srcdir) if f.endswith(".py")}

    def ours(context, name, rel):
        fns = set().union(*(found.functions.get(f, set()) for f in group.get(rel, {rel})))
        return (name in builtins or os.path.basename(name) in PROJECT_PROGRAMS or
                (context == "host" and name in fns) or ("/" in name and not name.startswith("/")))

    progs = [(c, n, f, l) for c, n, f, l in found.progs if not ours(c, n, f)]
    guest_progs = sorted({n for c, n, _, _ in progs if c == "guest"})
    if guest:
        print("\n".join(guest_progs))
        return 0

    failures = list(found.errors)
    listed, cross_listed = install_lists(srcdir)
    listed -= without  # as if scripts/install-deps did not name them (tests/install-list.sh)
    installed, essential, depends = package_db()
    if listed - installed:
        print("FAIL: packages of scripts/install-deps are not installed: "
              f"{' '.join(sorted(listed - installed))} (run scripts/install-deps)")
        return 1
    direct = set().union(*(depends.get(p, set()) for p in listed))

    host, optional = {}, {}
    for c, n, f, l in progs:
        if c == "host":
            (optional if n in found.probed.get(f, ()) else host).setdefault(n, []).append(f"{f}:{l}")
    for n in set(optional) & set(host):
        host[n] += optional.pop(n)
    where = {n: locate(n) for n in list(host) + list(optional)}
    cand = {n: candidates(p) for n, p in where.items() if p}  # optional ones too
    own = owners({p for c in cand.values() for p in c})
    modules = {}
    for m, f, l in found.modules:
        if m not in py_files:
            modules.setdefault(m, []).append(f"{f}:{l}")
    mfiles = module_files(modules) if modules else {}
    mcand = {m: candidates(f) for m, f in mfiles.items() if f}
    mown = owners({p for c in mcand.values() for p in c})

    used = {}

    def judge(what, places, pkgs, missing, out=failures):
        if not pkgs:
            out.append(f"{what} ({', '.join(places[:3])}): {missing}")
            return
        cross_only = all(p.startswith("scripts/cross-check:") for p in places)
        ok = {p for p in pkgs if p in listed or p in essential or p in BOOTSTRAP or p in direct
              or (cross_only and p in cross_listed)}
        if not ok:
            out.append(f"{what} ({', '.join(places[:3])}) comes from package "
                       f"{', '.join(sorted(pkgs))}: neither Essential nor in scripts/install-deps")
        for pkg in ok or pkgs:
            used.setdefault(pkg, set()).add(what)

    unlisted = []  # optional programs the list does not bring: said, not failed
    for n in sorted(host) + sorted(optional):
        pkgs = set().union(*(own.get(p, set()) for p in cand.get(n, [])))
        judge(n, host.get(n) or optional[n], pkgs,
              "not installed here, so no package of scripts/install-deps brings it"
              if not where[n] else f"{where[n]} belongs to no Debian package",
              failures if n in host else unlisted)
    for m in sorted(modules):
        pkgs = set().union(*(mown.get(p, set()) for p in mcand.get(m, [])))
        judge(f"python:{m}", modules[m], pkgs,
              "not importable here, so no package of scripts/install-deps brings it"
              if not mfiles.get(m) else f"{mfiles[m]} belongs to no Debian package")

    print(f"install-list: {len(host)} programs and {len(modules)} Python modules run on the build "
          f"machine, from {len(used)} packages; {len(guest_progs)} programs run in the VM guest; "
          f"{len(optional)} optional in a script or benchmark, {len(unlisted)} of them not listed "
          f"({' '.join(sorted(n.split()[0] for n in unlisted))})")
    if verbose:
        for pkg in sorted(used):
            how = ("install-deps" if pkg in listed else "Essential" if pkg in essential else
                   "depended on by install-deps" if pkg in direct else
                   "scripts/cross-check" if pkg in cross_listed else
                   "bootstrap" if pkg in BOOTSTRAP else "NOT LISTED")
            print(f"  {pkg} ({how}): {' '.join(sorted(used[pkg]))}")
        print(f"guest: {' '.join(guest_progs)}")
        paths = [d for d in found.dynamic if re.match(r"\$\{__[VS]\}/", d[1])]
        dyn = sorted({f"{c} {t} ({f}:{l})" for c, t, f, l in found.dynamic
                      if not re.match(r"\$\{__[VS]\}/", t)})
        print(f"the project's own files run by path: {len(paths)}; "
              f"command names known only at run time, not checked: {len(dyn)}")
        for d in dyn:
            print(f"  {d}")
    for f in failures:
        print(f"FAIL: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
