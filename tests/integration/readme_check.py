#!/usr/bin/env python3
"""readme_check.py -- keeps README.md true (run by t_readme.sh).

  readme_check.py flags README TQ_BIN       every tq / tq-worker line uses a
                                            command, subcommand and flags
                                            that exist
  readme_check.py exits README TQ_BIN SRC   the exit-code table is tq --help's
                                            and tq_exit_code's
  readme_check.py run README TQ_BIN DIR     runs the blocks marked as doc
                                            tests, in order, in one bash

Doc-test markers (HTML comments, invisible on GitHub), on the line before a
fenced block:
  <!-- doctest -->         run the block; a `$ CMD` line is a command, the
                           lines after it up to the next `$ ` its expected
                           output (stdout and stderr together)
  <!-- doctest: run -->    run the block, compare nothing (timing output)
  <!-- doctest: setup -->  a block without prompts: each line runs, except
                           `redis-server` (the test has started its own)
Expected output: blank lines are ignored, runs of blanks are one space, a
trailing `  # comment` is dropped; `...` inside a line matches any text and a
line `...` any number of lines; an id (34 characters) matches any id and is
bound to it, so later commands that name the README's id get the real one.
A command that exits non-zero fails the test unless README shows its output.
Everything README shows for a command must match; a command with no output
shown is not compared. Prints one line per problem (with README's line
number) and exits 1 if there is one.
"""
import os
import re
import shlex
import subprocess
import sys
import time

ID_RE = r"[0-9a-z]{26}[0-9a-z]{8}"
TIME_RE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
PROBLEMS = []


def problem(lineno, msg):
    PROBLEMS.append(f"README.md:{lineno}: {msg}")


def blocks(path):
    """(marker or None, lang, first line number, [lines]) of each fence."""
    out, marker, inside = [], None, None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines, 1):
        if inside is None:
            m = re.match(r"^\s*```(\w*)\s*$", line)
            if m:
                prev = lines[i - 2].strip() if i >= 2 else ""
                mk = re.match(r"^<!-- doctest(?::\s*(\w+))? -->$", prev)
                inside = (mk.group(1) or "compare") if mk else None, m.group(1), i + 1, []
                indent = len(line) - len(line.lstrip())
            continue
        if re.match(r"^\s*```\s*$", line):
            out.append(inside)
            inside = None
            continue
        inside[3].append(line[indent:] if line[:indent].strip() == "" else line)
    return out, lines


def commands(blk):
    """[(line number, command text, [expected lines])] of a block."""
    _, _, first, lines = blk
    prompted = any(l.startswith("$ ") for l in lines)
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if prompted and not line.startswith("$ "):
            if out:
                out[-1][2].append(line)
            i += 1
            continue
        lineno, cmd = first + i, line[2:] if prompted else line
        while cmd.endswith("\\") and i + 1 < len(lines):
            i += 1
            cmd = cmd + "\n" + lines[i]
        out.append((lineno, cmd, []))
        i += 1
    return out


# ---------------------------------------------------------------- flags

def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def segments(cmd):
    """The simple commands of a shell line, as token lists."""
    lex = shlex.shlex(cmd.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    seg, out = [], []
    try:
        for tok in lex:
            if tok and set(tok) <= set("|;&()<>"):
                out.append(seg)
                seg = []
            else:
                seg.append(tok)
    except ValueError:
        return out + [seg]
    return out + [seg]


class Helps:
    def __init__(self, tq_bin):
        self.tq = os.path.join(tq_bin, "tq")
        self.worker = os.path.join(tq_bin, "tq-worker")
        self.cache = {}
        rc, over = run([self.tq, "--help"])
        self.pairs = set()
        for m in re.finditer(r"^  ([a-z-]+) ([a-z]+)\b", over, re.M):
            self.pairs.add((m.group(1), m.group(2)))

    def text(self, argv):
        key = tuple(argv)
        if key not in self.cache:
            self.cache[key] = run(argv + ["--help"])
        return self.cache[key]


def has_flag(text, flag):
    return re.search(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])", text) is not None


def check_line(h, lineno, cmd, prose=False):
    for seg in segments(cmd):
        while seg and (re.match(r"^\w+=", seg[0]) or seg[0] in ("time", "xargs", "sudo", "exec", "$")):
            seg = seg[1:]
        if not seg:
            continue
        prog = os.path.basename(seg[0])
        if prog not in ("tq", "tq-worker"):
            continue
        words = [t.split("#")[0] if t.startswith("#") else t for t in seg[1:]]
        if "#" in words:
            words = words[: words.index("#")]
        if prog == "tq-worker":
            rc, text = h.text([h.worker])
            where = "tq-worker"
        else:
            pos = [w for w in words if not w.startswith("-")]
            if not pos or pos[0] == "help":
                continue
            c = pos[0]
            sub = pos[1] if len(pos) > 1 and (c, pos[1]) in h.pairs else None
            argv = [h.tq, c] + ([sub] if sub else [])
            rc, text = h.text(argv)
            where = "tq " + c + (" " + sub if sub else "")
            if rc != 0 and prose:
                continue            # `tq developers <...>`: not a command line
            if rc != 0:
                problem(lineno, f"`{where}`: no such command ({text.strip().splitlines()[0] if text.strip() else rc})")
                continue
        for w in words:
            if w.startswith("#"):
                break
            m = re.match(r"^(--?[a-zA-Z][\w-]*)", w)
            if not m or re.match(r"^-\d", w):
                continue
            if not has_flag(text, m.group(1)):
                problem(lineno, f"`{where}` has no flag {m.group(1)} (in: {cmd.strip()})")


# Flags README names in prose that belong to other programs.
FOREIGN = {"--port", "--save", "--appendonly", "--daemonize", "--tls-port",
           "--tls-cert-file", "--tls-key-file", "--tls-ca-cert-file",
           "--pedantic", "--now", "--root", "--fuzz"}


def cmd_flags(path, tq_bin):
    h = Helps(tq_bin)
    bl, lines = blocks(path)
    for b in bl:
        if b[1] in ("python", "json", "yaml"):
            continue
        for lineno, cmd, expect in commands(b):
            # a typo shown on purpose: its output is the suggestion
            if not any("did you mean" in l for l in expect):
                check_line(h, lineno, cmd)
    # every flag anywhere in README's prose: one of tq's or tq-worker's
    every = h.text([h.worker])[1]
    for c, _ in list(h.pairs) + [(m, None) for m in re.findall(r"^  ([a-z-]+)\b", h.text([h.tq])[1], re.M)]:
        every += h.text([h.tq, c])[1]
    for c, s in h.pairs:
        every += h.text([h.tq, c, s])[1]
    fence = False
    for i, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if fence:
            continue
        for span in re.findall(r"`([^`]+)`", line):
            if re.match(r"^(tq|tq-worker) ", span):
                check_line(h, i, span, prose=True)
            for f in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", span):
                if f not in FOREIGN and not has_flag(every, f):
                    problem(i, f"{f} is no flag of tq or tq-worker")


# ---------------------------------------------------------------- exit codes

def exits(path, tq_bin, src):
    _, lines = blocks(path)
    readme, inside = {}, False
    for i, line in enumerate(lines, 1):
        if line.startswith("## Exit codes of `tq`"):
            inside = True
        elif inside and line.startswith("## "):
            break
        elif inside:
            m = re.match(r"^\| (\d+) \| (.*) \|$", line)
            if m:
                readme[int(m.group(1))] = (i, m.group(2))
    _, text = run([os.path.join(tq_bin, "tq"), "--help"])
    helpc = {}
    sec = text.split("exit codes:", 1)[1].split("\n\n", 1)[0]
    for m in re.finditer(r"^  (\d)  (.*(?:\n     .*)*)", sec, re.M):
        helpc[int(m.group(1))] = " ".join(m.group(2).split())
    if not readme:
        problem(0, "no exit-code table under '## Exit codes of `tq`'")
    if set(readme) != set(helpc):
        problem(0, f"exit codes: README has {sorted(readme)}, tq --help {sorted(helpc)}")
    stop = {"a", "an", "the", "or", "in", "of", "by", "to", "their", "are", "is", "it"}
    for code, meaning in helpc.items():
        if code not in readme:
            continue
        lineno, rm = readme[code]
        words = set(re.findall(r"[a-z]+", rm.lower()))
        # the help line's words before a parenthesis or colon, each in README's
        want = re.findall(r"[a-z]+", re.split(r"[(:]", meaning)[0].lower())
        missing = [w for w in want if w not in stop and w not in words]
        if missing:
            problem(lineno, f"exit {code}: README says '{rm[:60]}', tq --help '{meaning}' (missing: {' '.join(missing)})")
    with open(os.path.join(src, "proto", "errors.c"), encoding="utf-8") as f:
        body = f.read().split("int tq_exit_code(int err)", 1)[1].split("\n}", 1)[0]
    lib = set(int(n) for n in re.findall(r"return (?:[^;]*\? )?(\d+)", body))
    lib |= set(int(n) for n in re.findall(r": (\d+);", body))
    if lib - set(readme):
        problem(0, f"tq_exit_code returns {sorted(lib)}, README's table has {sorted(readme)}")


# ---------------------------------------------------------------- doc tests

def norm(s):
    s = re.sub(r"\s+#( .*)?$", "", s) if re.search(r"\s{2,}# ", s) else s
    return " ".join(s.split())


def match_block(exp, got, ids):
    """Match expected lines against actual ones; binds ids. True/False."""
    exp = [norm(l) for l in exp if l.strip()]
    got = [" ".join(l.split()) for l in got if l.strip()]

    def line_re(e):
        parts = []
        for tok in re.split(r"(\.\.\.|" + ID_RE + r"|" + TIME_RE + r")", e):
            if tok == "...":
                parts.append(".*?")
            elif re.fullmatch(TIME_RE, tok):
                parts.append(TIME_RE)
            elif re.fullmatch(ID_RE, tok):
                parts.append(f"(?P<i{len(parts)}>{ID_RE})")
            else:
                parts.append(re.escape(tok))
        return "".join(parts), [t for t in re.split(r"(" + ID_RE + r")", e) if re.fullmatch(ID_RE, t)]

    def go(i, j, bound):
        if i == len(exp):
            return bound if j == len(got) else None
        if exp[i] == "...":
            for k in range(j, len(got) + 1):
                r = go(i + 1, k, bound)
                if r is not None:
                    return r
            return None
        if j == len(got):
            return None
        rx, names = line_re(exp[i])
        m = re.fullmatch(rx, got[j])
        if not m:
            return None
        b = dict(bound)
        vals = [v for k, v in sorted(m.groupdict().items(), key=lambda kv: int(kv[0][1:]))]
        for name, val in zip(names, vals):
            if b.get(name, val) != val:
                return None
            b[name] = val
        return go(i + 1, j + 1, b)

    r = go(0, 0, dict(ids))
    if r is None:
        return False
    ids.update(r)
    return True


def doctests(path, tq_bin, work):
    bl, _ = blocks(path)
    env = dict(os.environ)
    sh = subprocess.Popen(["bash", "--norc", "--noprofile"], stdin=subprocess.PIPE,
                          cwd=os.getcwd(), env=env, text=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    url = env["TQ_REDIS_URL"]
    port = re.search(r":(\d+)", url.split("@")[-1]).group(1)
    ids, n = {}, 0
    try:
        sh.stdin.write("set +e\n")
        for b in bl:
            mode = b[0]
            if mode is None:
                continue
            cmds = commands(b)
            if b[1] == "python" and os.environ.get("TQ_DOCTEST_SKIP_PYTHON"):
                continue
            if b[1] == "python":        # the block is one program
                cmds = [(b[2], "python3 - <<'__PY__'\n" + "\n".join(b[3]) + "\n__PY__", [])]
            for lineno, cmd, expect in cmds:
                if mode == "setup" and cmd.startswith("redis-server"):
                    continue
                for readme_id, real in ids.items():
                    cmd = cmd.replace(readme_id, real)
                cmd = cmd.replace("redis://127.0.0.1:6390/0", url).replace("-p 6390", "-p " + port)
                cmd = cmd.replace("$PWD/build", tq_bin)
                n += 1
                out, rcf = os.path.join(work, f"{n}.out"), os.path.join(work, f"{n}.rc")
                sh.stdin.write(f"{{ {cmd}\n}} >{out} 2>&1 </dev/null; echo $? >{rcf}.t; mv {rcf}.t {rcf}\n")
                sh.stdin.flush()
                t0 = time.time()
                while not os.path.exists(rcf):
                    if time.time() - t0 > 20 or sh.poll() is not None:
                        problem(lineno, f"`{cmd}` did not end within 20 s")
                        return n
                    time.sleep(0.02)
                with open(rcf) as f:
                    rc = int(f.read().strip() or 1)
                with open(out, encoding="utf-8", errors="replace") as f:
                    got = f.read().split("\n")
                print(f"README.md:{lineno}: $ {cmd.splitlines()[0]}  (exit {rc})", flush=True)
                shown = [l for l in expect if l.strip()]
                if mode == "compare" and shown:
                    if not match_block(expect, got, ids):
                        problem(lineno, f"`{cmd}` printed:\n" + "\n".join("    | " + l for l in got if l.strip())
                                + "\n  README shows:\n" + "\n".join("    | " + l for l in shown))
                elif rc != 0 and mode != "run":
                    problem(lineno, f"`{cmd}` exited {rc}:\n" + "\n".join("    | " + l for l in got if l.strip()))
    finally:
        try:
            sh.stdin.write("kill $(jobs -p) 2>/dev/null; wait\nexit 0\n")
            sh.stdin.close()
            sh.wait(timeout=40)
        except Exception:
            pass
        if sh.poll() is None:
            os.killpg(sh.pid, 9)
    return n


def wait_table(path, tq_bin):
    """Each row of README's `tq wait` table, made to happen and compared."""
    _, lines = blocks(path)
    tq = os.path.join(tq_bin, "tq")
    rows, inside = [], False
    for i, line in enumerate(lines, 1):
        if line.startswith("### What `tq wait` prints"):
            inside = True
        elif inside and line.startswith("#"):
            break
        elif inside and line.startswith("| ") and not line.startswith("| the job"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if len(cells) == 4:
                rows.append((i, cells))

    def submit(*argv):
        return subprocess.run([tq, "submit", *argv], capture_output=True, text=True).stdout.strip()

    def pat(cell, **vals):
        m = re.search(r"`([^`]*)`", cell)
        if not m:
            return None
        rx = re.escape(m.group(1))
        for k, v in vals.items():
            rx = rx.replace(k, v)
        return rx

    seen = set()
    for lineno, (what, out, err, code) in rows:
        argv, vals, reasons = None, {}, [""]
        if what.startswith("succeeded"):
            jid = submit("tq.noop", '"x"')
            argv, want_out = [tq, "wait", jid], '"x"'
        elif what.startswith("failed"):
            jid = submit("--retries", "0", "tq.fail", '"boom"')
            argv, vals = [tq, "wait", jid], {"ID": jid, "ERROR": "boom"}
        elif what.startswith("cancelled"):
            jid = submit("--queue", "doctest-nowhere", "tq.noop")
            subprocess.run([tq, "cancel", jid], capture_output=True)
            argv, vals = [tq, "wait", jid], {"ID": jid}
            reasons = [""] + re.findall(r"`([^`]*)`", err)[1:]
        elif what.startswith("not finished"):
            jid = submit("--queue", "doctest-nowhere", "tq.noop")
            argv = [tq, "wait", "--timeout", "0.3", jid]
            vals = {"ID": jid, "STATE": "pending", "DUR": "0.3s?"}
        elif what.startswith("no record"):
            jid = "00000000000000000000000000xepta5m6"
            argv, vals = [tq, "wait", jid], {"ID": jid}
        else:
            problem(lineno, f"a `tq wait` row this test does not know: {what}")
            continue
        seen.add(what.split()[0])
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        if what.startswith("succeeded"):
            ok_out = p.stdout.strip() == want_out
        else:
            ok_out = p.stdout.strip() == out.strip("`")
        if err == "nothing":
            ok_err = p.stderr == ""
        else:
            rx = pat(err, **vals)
            ok_err = rx is not None and any(re.fullmatch(rx + re.escape(r).replace("ID2", ID_RE), p.stderr.strip())
                                            for r in reasons)
        ok_rc = str(p.returncode) == code
        if not (ok_out and ok_err and ok_rc):
            problem(lineno, f"`tq wait` for a job {what}: got stdout {p.stdout.strip()!r}, "
                            f"stderr {p.stderr.strip()!r}, exit {p.returncode}")
        else:
            print(f"README.md:{lineno}: tq wait, {what.split('(')[0].strip()}: as README says", flush=True)
    if len(seen) < 5:
        problem(0, f"the `tq wait` table has {len(seen)} of its 5 rows")


def main():
    mode, path, tq_bin = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "flags":
        cmd_flags(path, tq_bin)
    elif mode == "exits":
        exits(path, tq_bin, sys.argv[4])
    elif mode == "wait":
        wait_table(path, tq_bin)
    elif mode == "run":
        n = doctests(path, tq_bin, sys.argv[4])
        print(f"{n} README commands run")
        if n < 10:
            problem(0, f"only {n} commands marked as doc tests")
    for p in PROBLEMS:
        print("PROBLEM " + p)
    sys.exit(1 if PROBLEMS else 0)


if __name__ == "__main__":
    main()
