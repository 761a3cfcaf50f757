"""Command line: ``python -m skmemmap {bench,audit,forecast,info}`` (also
``skmemmap ...``)."""

import argparse
import importlib
import os
import shutil
import sys

__all__ = ["main"]


class _BadEstimator(ValueError):
    """The estimator argument of ``audit`` cannot be made into an estimator."""


def _short_names(nested):
    """Classes an expression may name without a module: scikit-learn's
    estimators (the Halving searches included), skmemmap's meta-estimators and,
    as arguments, scikit-learn's and skmemmap's cross-validators."""
    import sklearn.model_selection as model_selection
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.utils.discovery import all_estimators

    import skmemmap

    classes = dict(all_estimators())
    for name in ("HalvingGridSearchCV", "HalvingRandomSearchCV"):
        classes[name] = getattr(model_selection, name)
    for name in ("MemmapEstimator", "StreamingEstimator"):
        if hasattr(skmemmap, name):
            classes[name] = getattr(skmemmap, name)
    if nested:
        for name in dir(model_selection):
            value = getattr(model_selection, name)
            if isinstance(value, type) and hasattr(value, "split"):
                classes.setdefault(name, value)
        classes["ContiguousKFold"] = skmemmap.ContiguousKFold
    return classes


def _estimator_class(name, nested=False):
    """The class named by a dotted path, or a scikit-learn estimator's name
    (with ``nested``, also a cross-validator, as an argument)."""
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
        classes = _short_names(nested)
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
    if not (
        isinstance(cls, type)
        and (hasattr(cls, "fit") or (nested and hasattr(cls, "split")))
    ):
        raise _BadEstimator(f"{name!r} is not an estimator class (it has no fit)")
    return cls


_LITERALS = (
    "only literal values (numbers, strings, None, lists, dicts) and estimator "
    "or splitter constructors are accepted"
)


def _build_estimator(text):
    """An estimator from a class name, a dotted class path or an expression
    with literal arguments and nested constructors, such as
    ``"GridSearchCV(Ridge(), {'alpha': [0.1, 1.0]}, cv=KFold(5))"``.

    Raises ``_BadEstimator`` with a one-line message naming what is wrong.
    """
    import ast

    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise _BadEstimator(f"cannot read {text!r}: {exc.msg}") from None
    if not isinstance(node, ast.Call):
        return _estimator_class(text.strip())()
    return _construct(node, text, nested=False)


def _construct(call, text, nested):
    """Build the object of a constructor call, its arguments evaluated."""
    import ast

    name = ast.unparse(call.func)
    try:
        cls = _estimator_class(name, nested=nested)
    except _BadEstimator as exc:
        if not nested:
            raise
        raise _BadEstimator(
            f"cannot read the arguments of {text!r}: {_LITERALS}; {exc}"
        ) from None
    if any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords
    ):  # Ridge(*args) or Ridge(**{...})
        raise _BadEstimator(
            f"cannot read the arguments of {text!r}: give them as name=value"
        )
    args = [_argument(a, text) for a in call.args]
    kwargs = {k.arg: _argument(k.value, text) for k in call.keywords}
    try:
        return cls(*args, **kwargs)
    except TypeError as exc:
        # "Ridge.__init__() got an unexpected keyword argument 'bogus'"
        message = str(exc).replace(f"{cls.__name__}.__init__()", f"{cls.__name__}()")
        raise _BadEstimator(message) from None


def _argument(node, text):
    """A literal value, or a constructor call, possibly inside containers."""
    import ast

    if isinstance(node, ast.Call):
        return _construct(node, text, nested=True)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        values = [_argument(e, text) for e in node.elts]
        kind = {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)]
        return kind(values)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {
            _argument(k, text): _argument(v, text)
            for k, v in zip(node.keys, node.values, strict=True)
        }
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        raise _BadEstimator(
            f"cannot read the arguments of {text!r}: {_LITERALS}"
        ) from None


def _error(command, message):
    """A one-line error on stderr, as argparse's; exit status 2."""
    print(f"skmemmap {command}: error: {message}", file=sys.stderr)
    return 2


def _cmd_audit(args):
    from skmemmap._audit import audit

    try:
        estimator = _build_estimator(args.estimator)
    except _BadEstimator as exc:
        return _error("audit", exc)
    try:
        result = audit(
            estimator,
            n_samples=args.n_samples,
            n_features=args.n_features,
            verbose=1,
        )
    except (ValueError, TypeError) as exc:
        # a parameter the estimator rejects when fitted (InvalidParameterError)
        return _error("audit", f"{type(estimator).__name__}: {exc}")
    print(result)
    if args.json:
        import json

        with open(args.json, "w") as f:
            json.dump(result.to_dict(), f, indent=1)
    return 0


def _parse_shape(text):
    """``(n_samples, n_features)`` from ``"1000000x400"`` (``_`` and ``,`` allowed
    in the numbers)."""
    parts = text.lower().replace("_", "").replace(",", "").split("x")
    if len(parts) == 2 and all(p.strip().isdigit() and int(p) > 0 for p in parts):
        return int(parts[0]), int(parts[1])
    raise _BadEstimator(
        f"--shape must be N_SAMPLESxN_FEATURES of positive integers, e.g. "
        f"1000000x400; got {text!r}"
    )


def _cmd_forecast(args):
    import numpy as np

    from skmemmap._estimator import MemmapEstimator
    from skmemmap._forecast import forecast, side_by_side

    try:
        estimator = _build_estimator(args.estimator)
        shape = _parse_shape(args.shape)
        dtype = np.dtype(args.dtype)
    except _BadEstimator as exc:
        return _error("forecast", exc)
    except TypeError:
        return _error(
            "forecast",
            f"--dtype must be a numpy dtype such as float32, got {args.dtype!r}",
        )
    if isinstance(estimator, MemmapEstimator):
        plain, wrapped = estimator.estimator, estimator
    else:
        plain, wrapped = estimator, MemmapEstimator(estimator)
    try:
        results = [
            forecast(e, shape, dtype=dtype, memmap=args.memmap)
            for e in (plain, wrapped)
        ]
    except (ValueError, TypeError) as exc:
        return _error("forecast", exc)
    if args.json:
        import json

        with open(args.json, "w") as f:
            json.dump(
                {"plain": results[0].to_dict(), "skmemmap": results[1].to_dict()},
                f,
                indent=1,
            )
    print(side_by_side(*results))
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
    fc = sub.add_parser(
        "forecast",
        help="forecast a fit's peak memory and disk, plain scikit-learn and skmemmap",
    )
    fc.add_argument(
        "estimator",
        help="an estimator expression with literal arguments and nested "
        'constructors, e.g. "GridSearchCV(RandomForestClassifier(), '
        "{'max_depth': [3, 5]}, cv=5, n_jobs=4)\"",
    )
    fc.add_argument(
        "--shape",
        required=True,
        help="X's shape, N_SAMPLESxN_FEATURES, e.g. 1000000x400",
    )
    fc.add_argument("--dtype", default="float64", help="X's dtype (default: float64)")
    fc.add_argument(
        "--memmap",
        action="store_true",
        help="X will be a MemmapArray (skmemmap.memmap or load), not in memory",
    )
    fc.add_argument("--json", metavar="FILE", default=None)
    fc.set_defaults(func=_cmd_forecast)
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
