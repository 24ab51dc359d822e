"""`pip install ./python` with no package index: the in-tree PEP 517
backend (build_backend/tq_build.py) builds the wheel and the sdist alone."""
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
import zipfile

import support

PYTHONS = [p for p in dict.fromkeys([sys.executable, "/usr/bin/python3"]) if os.path.exists(p)]


def has_pip(py):
    return subprocess.run([py, "-m", "pip", "--version"], capture_output=True).returncode == 0


class Install(unittest.TestCase):
    def run_ok(self, *cmd, **kw):
        out = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
        self.assertEqual(out.returncode, 0, "%s\n%s%s" % (" ".join(cmd), out.stdout, out.stderr))
        return out.stdout

    def test_pip_install_target_offline(self):
        if not any(has_pip(py) for py in PYTHONS):
            self.skipTest("no pip (apt-get install python3-pip)")
        for py in PYTHONS:
            if not has_pip(py):
                continue
            with self.subTest(python=py), tempfile.TemporaryDirectory() as d:
                self.run_ok(py, "-m", "pip", "install", "-q", "--no-index", "--no-cache-dir",
                            "--target", d, support.PYDIR)
                self.assertTrue(os.path.exists(os.path.join(d, "tq", "runtime.py")))
                out = self.run_ok(py, "-c", "import tq, tq.serve; print(tq.__file__, tq.__version__)",
                                  cwd="/", env=dict(os.environ, PYTHONPATH=d))
                self.assertTrue(out.startswith(d), out)
        # pip builds in the tree: it must be left as it was
        self.assertFalse(os.path.exists(os.path.join(support.PYDIR, "build")))

    def test_venv_install(self):
        py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        with tempfile.TemporaryDirectory() as d:
            if subprocess.run([py, "-m", "venv", d], capture_output=True).returncode:
                self.skipTest("no venv module with pip for %s" % py)
            vpy = os.path.join(d, "bin", "python")
            self.run_ok(vpy, "-m", "pip", "install", "-q", "--no-index", support.PYDIR)
            out = self.run_ok(vpy, "-c", "import tq; c = tq.Client; print(tq.__file__)",
                              cwd="/")
            self.assertIn(d, out)

    def test_backend_builds_a_wheel_and_an_sdist(self):
        sys.path.insert(0, os.path.join(support.PYDIR, "build_backend"))
        try:
            import tq_build
        finally:
            sys.path.pop(0)
        with tempfile.TemporaryDirectory() as d:
            whl = tq_build.build_wheel(d)
            self.assertEqual(whl, "tq-%s-py3-none-any.whl" % tq_build._version())
            with zipfile.ZipFile(os.path.join(d, whl)) as z:
                names = z.namelist()
                record = z.read("tq-%s.dist-info/RECORD" % tq_build._version()).decode()
            self.assertIn("tq/client.py", names)
            self.assertFalse([n for n in names if "__pycache__" in n or "tests" in n])
            self.assertEqual(len(record.strip().splitlines()), len(names))
            sd = tq_build.build_sdist(d)
            with tarfile.open(os.path.join(d, sd)) as t:
                members = t.getnames()
            base = sd[:-len(".tar.gz")]
            for want in ("pyproject.toml", "PKG-INFO", "build_backend/tq_build.py",
                         "tq/__init__.py"):
                self.assertIn(base + "/" + want, members)
            # the sdist installs too
            if has_pip(sys.executable):
                tgt = os.path.join(d, "t")
                shutil.unpack_archive(os.path.join(d, sd), os.path.join(d, "u"))
                self.run_ok(sys.executable, "-m", "pip", "install", "-q", "--no-index",
                            "--target", tgt, os.path.join(d, "u", base))
                self.assertTrue(os.path.exists(os.path.join(tgt, "tq", "aio.py")))


if __name__ == "__main__":
    unittest.main()
