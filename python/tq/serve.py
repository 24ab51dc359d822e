"""`python3 -m tq.serve MODULE [MODULE...]`: imports the modules (dotted
names, or paths to .py files) whose @tq.task functions it then serves on
stdin/stdout, as `tq-worker --task-server NAME=COMMAND` runs it.

`tq.serve()` is also the function (tq/__init__.py): this module makes itself
callable, so `tq.serve()` works even after something imported `tq.serve`.
"""
import importlib
import importlib.util
import os
import sys
import types

from . import runtime


def load(spec):
    """Imports MODULE (a dotted name, or a path ending in .py)."""
    if spec.endswith(".py") or os.sep in spec:
        path = os.path.abspath(spec)
        name = os.path.splitext(os.path.basename(path))[0]
        sys.path.insert(0, os.path.dirname(path))
        mspec = importlib.util.spec_from_file_location(name, path)
        if mspec is None:
            raise ImportError("cannot import %s" % spec)
        mod = importlib.util.module_from_spec(mspec)
        sys.modules[name] = mod
        mspec.loader.exec_module(mod)
        return mod
    return importlib.import_module(spec)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        sys.stderr.write("usage: python3 -m tq.serve MODULE [MODULE...]\n"
                         "  serves MODULE's @tq.task functions to tq-worker --task-server\n")
        return 0 if argv else 2
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for spec in argv:
        try:
            load(spec)
        except Exception as e:
            sys.stderr.write("tq.serve: cannot import %s: %s: %s\n" % (spec, type(e).__name__, e))
            return 2
    return runtime.serve()


class _CallableModule(types.ModuleType):
    def __call__(self, tasks=None):
        return runtime.serve(tasks)


if __name__ == "__main__":
    sys.exit(main())
else:
    sys.modules[__name__].__class__ = _CallableModule
