"""Command line: ``python -m skmemmap {bench,audit,info}`` (also ``skmemmap ...``)."""

import argparse
import importlib
import os
import shutil
import sys

__all__ = ["main"]


def _build_estimator(text):
    """An estimator from a dotted class path or an expression such as
    ``"sklearn.linear_model.Lasso(alpha=0.1)"``."""
    head, paren, _ = text.partition("(")
    module_name, _, class_name = head.strip().rpartition(".")
    if not module_name or not class_name.isidentifier():
        raise SystemExit(
            f"Cannot read {text!r}: give a dotted class path such as "
            f"sklearn.linear_model.Lasso, optionally with arguments: "
            f"'sklearn.linear_model.Lasso(alpha=0.1)'."
        )
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"Cannot import {head.strip()!r}: {exc}") from None
    if not paren:
        return cls()
    import ast

    try:
        call = ast.parse(text.strip(), mode="eval").body
        if not isinstance(call, ast.Call):
            raise ValueError("not a call")
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError) as exc:
        raise SystemExit(
            f"Cannot read the arguments of {text!r} ({exc}); only literal values "
            f"(numbers, strings, None, lists) are accepted."
        ) from None
    return cls(*args, **kwargs)


def _cmd_audit(args):
    from skmemmap._audit import audit

    estimator = _build_estimator(args.estimator)
    result = audit(estimator, n_samples=args.n_samples, n_features=args.n_features)
    print(result)
    if args.json:
        import json

        with open(args.json, "w") as f:
            json.dump(result.to_dict(), f, indent=1)
    return 0


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
        help="dotted class path or expression, e.g. "
        "'sklearn.linear_model.Lasso(alpha=0.1)'",
    )
    audit.add_argument("--n-samples", type=int, default=None)
    audit.add_argument("--n-features", type=int, default=None)
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
