"""The ctypes mirror of include/tq/tq.h: struct layouts against the C
compiler's, defaults against tq_submit_opts_init, the version against
TQ_VERSION, and option parsing."""
import ctypes
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import support  # noqa: F401  (paths, TQ_LIBTQ)
import tq
from tq import _lib
from tq.client import duration_ms, make_opts

HELPER = r"""
#include <stdio.h>
#include <stddef.h>
#include <tq/tq.h>
#define F(t, f) printf(#t " " #f " %zu %zu\n", offsetof(t, f), sizeof(((t *)0)->f))
int main(void) {
    printf("tq_submit_opts sizeof %zu 0\n", sizeof(tq_submit_opts));
    printf("tq_group_info sizeof %zu 0\n", sizeof(tq_group_info));
    %FIELDS%
    return 0;
}
"""


class Layout(unittest.TestCase):
    def test_submit_opts_and_group_info_match_the_compiler(self):
        cc = shutil.which("cc") or shutil.which("gcc")
        if not cc:
            self.skipTest("no C compiler")
        lines = []
        for cname, st in (("tq_submit_opts", _lib.SubmitOpts), ("tq_group_info", _lib.GroupInfo)):
            lines += ["F(%s, %s);" % (cname, f) for f, _ in st._fields_]
        src = HELPER.replace("%FIELDS%", "\n    ".join(lines))
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "h.c"), "w") as f:
                f.write(src)
            subprocess.run([cc, "-std=c11", "-I", os.path.join(support.REPO, "include"), "-o",
                            os.path.join(d, "h"), os.path.join(d, "h.c")], check=True)
            out = subprocess.run([os.path.join(d, "h")], capture_output=True, text=True,
                                 check=True).stdout
        seen = 0
        for line in out.splitlines():
            cname, field, off, size = line.split()
            st = _lib.SubmitOpts if cname == "tq_submit_opts" else _lib.GroupInfo
            if field == "sizeof":
                self.assertEqual(ctypes.sizeof(st), int(off), cname)
                continue
            desc = getattr(st, field)
            self.assertEqual((desc.offset, desc.size), (int(off), int(size)), cname + "." + field)
            seen += 1
        self.assertEqual(seen, len(_lib.SubmitOpts._fields_) + len(_lib.GroupInfo._fields_))

    def test_every_field_of_the_header_is_mirrored(self):
        with open(os.path.join(support.REPO, "include", "tq", "tq.h")) as f:
            h = f.read()
        body = re.search(r"typedef struct tq_submit_opts \{(.*?)\} tq_submit_opts;", h, re.S)
        body = re.sub(r"/\*.*?\*/", "", body.group(1), flags=re.S)
        names = re.findall(r"(\w+);", body)
        self.assertEqual(names, [f for f, _ in _lib.SubmitOpts._fields_])

    def test_defaults_come_from_tq_submit_opts_init(self):
        o, _ = make_opts({})
        self.assertEqual(o.queue, b"default")
        self.assertEqual((o.priority, o.delay_ms, o.at, o.timeout_ms), (0, 0, 0.0, 0))
        self.assertEqual((o.max_retries, o.backoff_ms, o.result_ttl_ms, o.max_lost),
                         (3, 1000, 86400000, 3))
        self.assertEqual((o.semaphore, o.unique, o.rate_limit, o.fair_key), (None,) * 4)
        self.assertEqual((o.max_args, o.durable, o.durable_timeout_ms), (512 * 1024, 0, 1000))

    def test_options_map_to_fields(self):
        o, keep = make_opts(dict(queue="q", priority=5, delay=1.5, at=1e9, timeout="30s",
                                 retries=0, backoff="250ms", result_ttl="1h", max_lost=1,
                                 semaphore="s", unique="u", durable=1, durable_timeout=2,
                                 rate_limit="api:k", fair_key="f"))
        self.assertEqual((o.queue, o.priority, o.delay_ms, o.at, o.timeout_ms), (b"q", 5, 1500, 1e9, 30000))
        self.assertEqual((o.max_retries, o.backoff_ms, o.result_ttl_ms, o.max_lost), (0, 250, 3600000, 1))
        self.assertEqual((o.semaphore, o.unique, o.durable, o.durable_timeout_ms),
                         (b"s", b"u", 1, 2000))
        self.assertEqual((o.rate_limit, o.fair_key), (b"api:k", b"f"))

    def test_bad_options_are_invalid_argument(self):
        for opts in ({"queues": "x"}, {"delay": -1}, {"timeout": "soon"}, {"retries": "3"},
                     {"priority": True}, {"at": "tomorrow"}, {"delay": float("nan")}):
            with self.assertRaises(tq.InvalidArgument, msg=opts) as cm:
                make_opts(opts)
            self.assertEqual(cm.exception.code, -2)
            self.assertEqual(cm.exception.exit_code, 2)

    def test_durations(self):
        self.assertEqual(duration_ms(0.25), 250)
        self.assertEqual(duration_ms("5m"), 300000)
        self.assertEqual(duration_ms(2), 2000)

    def test_version_matches_the_header(self):
        with open(os.path.join(support.REPO, "include", "tq", "tq.h")) as f:
            v = re.search(r'#define TQ_VERSION "([^"]+)"', f.read()).group(1)
        self.assertEqual(tq.__version__, v)
        with open(os.path.join(support.PYDIR, "pyproject.toml")) as f:
            self.assertIn('version = "%s"' % v, f.read())

    def test_missing_library_is_one_clear_error(self):
        code = ("import tq\ntry:\n    tq.Client()\nexcept tq.LibraryNotFound as e:\n"
                "    print(isinstance(e, ImportError), e)\n")
        env = dict(os.environ, TQ_LIBTQ="/nonexistent/libtq.so", PYTHONPATH=support.PYDIR)
        out = subprocess.run(["python3", "-c", code], capture_output=True, text=True, env=env)
        self.assertIn("True tq: cannot load libtq.so", out.stdout)
        self.assertIn("TQ_LIBTQ", out.stdout)


if __name__ == "__main__":
    unittest.main()
