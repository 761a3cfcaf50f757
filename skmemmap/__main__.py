"""Command line: ``python -m skmemmap {bench,audit,info}`` (also ``skmemmap ...``)."""

import argparse
import importlib
import os
import shutil
import sys

__all__ = ["main"]


class _BadEstimator(ValueError):
    """The estimator argument of ``audit`` cannot be made into an estimator."""


def _estimator_class(name):
    """The class named by a dotted path, or a scikit-learn estimator's name."""
    module_name, _, class_name = name.rpartition(".")
    if not class_name.isidentifier() or (
        module_name and not all(p.isidentifier() for p in module_name.split("."))
    ):
        raise _BadEstimator(
            f"cannot read {name!r}: give a scikit-learn estimator such as Ridge "
            f"or a dotted class path such as sklearn.linear_model.Ridge, "
            f"optionally with arguments: 'Ridge(alpha=0.1)'"
        )
    if not module_name:
        from sklearn.utils.discovery import all_estimators

        classes = dict(all_estimators())
        if name not in classes:
            import difflib

            close = difflib.get_close_matches(name, classes, n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise _BadEstimator(
                f"unknown estimator {name!r}: no scikit-learn estimator has that "
                f"name (give a dotted path such as mypackage.MyEstimator for "
                f"others){hint}"
            )
        return classes[name]
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise _BadEstimator(f"cannot import {name!r}: {exc}") from None
    if not (isinstance(cls, type) and hasattr(cls, "fit")):
        raise _BadEstimator(f"{name!r} is not an estimator class (it has no fit)")
    return cls


def _build_estimator(text):
    """An estimator from a class name, a dotted class path or an expression
    with literal arguments such as ``"Lasso(alpha=0.1)"``.

    Raises ``_BadEstimator`` with a one-line message naming what is wrong.
    """
    import ast

    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise _BadEstimator(f"cannot read {text!r}: {exc.msg}") from None
    call = node if isinstance(node, ast.Call) else None
    name = ast.unparse(call.func) if call else text.strip()
    cls = _estimator_class(name)
    if call is None:
        args, kwargs = [], {}
    else:
        try:
            args = [ast.literal_eval(a) for a in call.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        except (ValueError, TypeError, SyntaxError):
            raise _BadEstimator(
                f"cannot read the arguments of {text!r}: only literal values "
                f"(numbers, strings, None, lists) are accepted"
            ) from None
        if None in kwargs:  # Ridge(**{...})
            raise _BadEstimator(
                f"cannot read the arguments of {text!r}: give them as name=value"
            )
    try:
        return cls(*args, **kwargs)
    except TypeError as exc:
        # "Ridge.__init__() got an unexpected keyword argument 'bogus'"
        message = str(exc).replace(f"{cls.__name__}.__init__()", f"{cls.__name__}()")
        raise _BadEstimator(message) from None


def _cmd_audit(args):
    from skmemmap._audit import audit

    def error(message):
        print(f"skmemmap audit: error: {message}", file=sys.stderr)
        return 2

    try:
        estimator = _build_estimator(args.estimator)
    except _BadEstimator as exc:
        return error(exc)
    try:
        result = audit(
            estimator,
            n_samples=args.n_samples,
            n_features=args.n_features,
            verbose=1,
        )
    except (ValueError, TypeError) as exc:
        # a parameter the estimator rejects when fitted (InvalidParameterError)
        return error(f"{type(estimator).__name__}: {exc}")
    print(result)
    if args.json:
        import json

        with open(args.json, "w") as f:
            json.dump(result.to_dict(), f, indent=1)
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _cmd_info(args):
    import joblib
    import numpy
    import sklearn
    import threadpoolctl

    import skmemmap
    from skmemmap._folder import ENV_VAR, base_folder

    print(f"skmemmap      {skmemmap.__version__}")
    print(f"python        {sys.version.split()[0]} ({sys.executable})")
    for mod in (numpy, sklearn, joblib, threadpoolctl):
        print(f"{mod.__name__:<13} {mod.__version__}")
    print("\nThread pools (threadpoolctl):")
    pools = threadpoolctl.threadpool_info()
    if not pools:
        print("  none loaded")
    for pool in pools:
        print(
            f"  {pool['user_api']:<7} {pool['internal_api']:<10} "
            f"{pool['num_threads']:>3} threads  {pool.get('filepath', '')}"
        )
    print("\nFolder:")
    env = os.environ.get(ENV_VAR)
    try:
        base = base_folder(args.folder)
        usage = shutil.disk_usage(base)
        source = "folder=" if args.folder else (f"${ENV_VAR}" if env else "system temp")
        print(f"  base folder {base} (from {source})")
        print(
            f"  free        {usage.free / 2**30:.1f} GB of {usage.total / 2**30:.1f} GB"
        )
    except OSError as exc:
        print(f"  unusable: {exc}")
    print("\n/dev/shm (RAM; joblib's automatic memmapping uses it):")
    if os.path.isdir("/dev/shm"):
        usage = shutil.disk_usage("/dev/shm")
        print(f"  size {usage.total / 2**30:.1f} GB, used {usage.used / 2**20:.0f} MB")
    else:
        print("  not present")
    return 0


def _cmd_bench(args):
    from skmemmap._bench import main_bench

    return main_bench(args)


def build_parser():
    from skmemmap._bench import add_arguments

    parser = argparse.ArgumentParser(
        prog="skmemmap",
        description="scikit-learn on big arrays without hidden copies.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser(
        "bench",
        help="plain scikit-learn vs skmemmap: peak memory and time, side by side",
    )
    add_arguments(bench)
    bench.set_defaults(func=_cmd_bench)
    audit = sub.add_parser(
        "audit", help="measure the copies an estimator makes for each input layout"
    )
    audit.add_argument(
        "estimator",
        help="scikit-learn estimator name, dotted class path or expression "
        "with literal arguments, e.g. 'Lasso(alpha=0.1)'",
    )
    audit.add_argument(
        "--n-samples", type=_positive_int, default=None, help="default: 20000"
    )
    audit.add_argument(
        "--n-features", type=_positive_int, default=None, help="default: 100"
    )
    audit.add_argument("--json", metavar="FILE", default=None)
    audit.set_defaults(func=_cmd_audit)
    info = sub.add_parser("info", help="versions, thread pools, folder and /dev/shm")
    info.add_argument("--folder", default=None)
    info.set_defaults(func=_cmd_info)
    return parser


def main(argv=None):
    """Entry point of ``python -m skmemmap`` and the ``skmemmap`` script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
