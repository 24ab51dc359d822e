"""A PEP 517 build backend for the pure-Python tq package, in the standard
library alone: pip needs nothing from a package index to build it (Debian
machines that reach only Debian's archive install it with `pip install
./python`). It builds a wheel of tq/ (build_wheel, build_editable) and an
sdist of this folder.
"""
import base64
import hashlib
import io
import os
import re
import tarfile
import time
import zipfile

NAME = "tq"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY = "Client and asyncio task-server runtime for tq, the distributed task queue in C"


def _version():
    with open(os.path.join(HERE, "tq", "__init__.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)
    return m.group(1)


def _metadata():
    readme = os.path.join(HERE, "README.md")
    body = _read(readme).decode("utf-8") if os.path.exists(readme) else ""
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n"
            "Requires-Python: >=3.8\nDescription-Content-Type: text/markdown\n\n%s"
            % (NAME, _version(), SUMMARY, body))


def _package_files():
    for root, dirs, files in os.walk(os.path.join(HERE, NAME)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                full = os.path.join(root, f)
                yield full, os.path.relpath(full, HERE).replace(os.sep, "/")


def _wheel(wheel_directory, files):
    """files: (archive name, bytes); adds the dist-info and RECORD."""
    ver = _version()
    dist = "%s-%s.dist-info" % (NAME, ver)
    files = list(files) + [
        (dist + "/METADATA", _metadata().encode()),
        (dist + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: tq_build\n"
                          b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = []
    name = "%s-%s-py3-none-any.whl" % (NAME, ver)
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in files:
            z.writestr(zipfile.ZipInfo(arc, time.gmtime(315532800)[:6]), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append("%s,sha256=%s,%d" % (arc, digest.decode(), len(data)))
        record.append(dist + "/RECORD,,")
        z.writestr(zipfile.ZipInfo(dist + "/RECORD", time.gmtime(315532800)[:6]),
                   "\n".join(record) + "\n")
    return name


# ---------------------------------------------------------------- PEP 517 / 660

def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_sdist = get_requires_for_build_wheel
get_requires_for_build_editable = get_requires_for_build_wheel


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, [(arc, _read(full)) for full, arc in _package_files()])


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, [("tq_editable.pth", (HERE + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (NAME, _version())
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as t:
        for rel in ["pyproject.toml", "README.md", "build_backend/tq_build.py"]:
            if os.path.exists(os.path.join(HERE, rel)):
                t.add(os.path.join(HERE, rel), base + "/" + rel)
        for full, arc in _package_files():
            t.add(full, base + "/" + arc)
        pkg = _metadata().encode()
        info = tarfile.TarInfo(base + "/PKG-INFO")
        info.size = len(pkg)
        info.mtime = int(time.time())
        t.addfile(info, io.BytesIO(pkg))
    return name
