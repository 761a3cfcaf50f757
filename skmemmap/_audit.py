"""Measure which input layouts let an estimator fit and predict without copying X.

For each candidate layout (float64/float32 x C/F), X is written to a read-only
memory-mapped file in that layout, and the estimator's ``fit`` and then
``predict`` (or ``transform``) are measured two ways at once:

* tracemalloc's peak: every allocation made through numpy or Python, which
  covers ``check_array`` conversions;
* the peak growth of the process's anonymous memory (``RssAnon``, sampled
  every millisecond): copies made in C (liblinear's) and copy-on-write pages,
  which tracemalloc never sees.

The larger of the two is the extra memory of the call, reported as a multiple
of X's size *in that layout*: 1.0x means one full copy of the X it was given,
whatever its dtype.
"""

import contextlib
import ctypes
import ctypes.util
import gc
import json
import os
import pickle
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.base import clone, is_classifier, is_regressor

from skmemmap._array import memmap
from skmemmap._layout import layout_for, own_copies
from skmemmap._utils import format_mb, layout_name, run_module

__all__ = ["AuditResult", "audit"]

DEFAULT_LAYOUTS = (
    (np.float64, "C"),
    (np.float64, "F"),
    (np.float32, "C"),
    (np.float32, "F"),
)
# 20,000 x 100 float64 is 16 MB: a copy of X stands far above allocator noise
# (well under 1 MB) and most estimators fit it in well under a second.
_DEFAULT_SHAPE = (20_000, 100)
# A layout counts as copy-free if its fit costs at most this much more (as a
# multiple of X in float64) than the best layout: below a quarter of X, what is
# left is the estimator's own buffers, not a conversion of X.
_TOLERANCE = 0.25
_SAMPLE_SECONDS = 0.001


def _read_anon():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class _AnonPeak:
    """Samples this process's anonymous memory in a thread; keeps the peak."""

    def __init__(self):
        self.start = _read_anon()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            value = _read_anon()
            if value is not None and value > self.peak:
                self.peak = value
            time.sleep(_SAMPLE_SECONDS)

    def __enter__(self):
        if self.start is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.start is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _read_anon() or 0)

    @property
    def growth(self):
        return None if self.start is None else max(0, self.peak - self.start)


def _glibc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError, TypeError):
        return None
    return libc


@contextlib.contextmanager
def _honest_allocator():
    """Make freed memory show up as freed in RssAnon (glibc only).

    glibc raises its mmap threshold after a large block is freed, so later
    large allocations come from the heap and stay resident after being freed:
    a second measurement would then miss a copy. Fixing the threshold at its
    default (128 KiB) and trimming the heap between measurements avoids that.
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    yield libc


def _measure(func, libc):
    gc.collect()
    if libc is not None:
        libc.malloc_trim(0)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with _AnonPeak() as anon:
            result = func()
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak, anon.growth, seconds


def _target(estimator, n_samples, rng):
    if is_classifier(estimator):
        return (np.arange(n_samples) % 2).astype(np.int64)[rng.permutation(n_samples)]
    if is_regressor(estimator):
        return rng.standard_normal(n_samples)
    return None


def _predict_method(estimator):
    for name in ("predict", "transform", "decision_function", "score_samples"):
        if hasattr(estimator, name):
            return name
    return None


class AuditResult:
    """What :func:`audit` measured, per layout.

    Attributes
    ----------
    estimator : str
        The estimator's repr.
    x_shape : tuple
        Shape of the sample X.
    x_nbytes : int
        Size of the sample X in float64 (each ``*_x`` number is a multiple of
        X's size in the row's own layout).
    rows : list of dict
        One per layout: ``layout``, ``fit_tracemalloc_x``, ``fit_anon_x``,
        ``fit_x`` (the larger), ``fit_seconds``, and the same for
        ``predict_*`` (``None`` when the estimator has no predict/transform),
        ``anon`` is ``None`` where the platform has no RssAnon.
    no_copy_layouts : list of str
        Layouts whose fit costs within 0.25x of the best one.
    own_copy_x : float
        The best layout's fit cost: copies no layout avoids.
    registry_layout : str
        What :func:`~skmemmap.layout_for` says for float64 C input.
    agrees : bool or None
        Whether the registry's layout is among ``no_copy_layouts`` (``None``
        when the registry keeps X's layout: nothing to check).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmemmap import audit
    >>> result = audit(LogisticRegression(max_iter=5), n_samples=1000,
    ...                n_features=10, layouts=[("float64", "C")])
    >>> result.x_shape, [row["layout"] for row in result.rows]
    ((1000, 10), ['float64 C'])
    >>> result.registry_layout
    'float64 or float32 C'
    >>> result.to_dict()["rows"][0]["layout"]
    'float64 C'
    """

    def __init__(
        self, estimator, x_shape, rows, registry_layout, registry_target, known_copy
    ):
        self.estimator = estimator
        self.x_shape = x_shape
        self.x_nbytes = int(np.prod(x_shape)) * 8
        self.rows = rows
        best = min(r["fit_x"] for r in rows)
        self.own_copy_x = best
        self.no_copy_layouts = [
            r["layout"] for r in rows if r["fit_x"] <= best + _TOLERANCE
        ]
        self.registry_layout = registry_layout
        self.known_copy = known_copy
        if registry_target is None:
            self.agrees = None
        else:
            target = layout_name(*registry_target)
            measured = [r["layout"] for r in rows]
            self.agrees = target in self.no_copy_layouts if target in measured else None

    def to_dict(self):
        """A plain dict (JSON-serialisable) of everything measured."""
        return {
            "estimator": self.estimator,
            "x_shape": list(self.x_shape),
            "x_nbytes": self.x_nbytes,
            "rows": [dict(r) for r in self.rows],
            "no_copy_layouts": list(self.no_copy_layouts),
            "own_copy_x": self.own_copy_x,
            "registry_layout": self.registry_layout,
            "agrees": self.agrees,
        }

    def __str__(self):
        def cell(value):
            return "-" if value is None else f"{value:.2f}x"

        head = (
            f"{'layout':<16} {'fit':>7} {'(tm':>7} {'anon)':>7} {'fit s':>7}"
            f" {'predict':>8} {'(tm':>7} {'anon)':>7}"
        )
        lines = [
            f"Audit of {self.estimator} on X {self.x_shape} "
            f"({format_mb(self.x_nbytes)} as float64); extra memory as multiples "
            f"of X in each layout",
            head,
            "-" * len(head),
        ]
        for r in self.rows:
            mark = "*" if r["layout"] in self.no_copy_layouts else " "
            lines.append(
                f"{mark}{r['layout']:<15} {cell(r['fit_x']):>7} "
                f"{cell(r['fit_tracemalloc_x']):>7} {cell(r['fit_anon_x']):>7} "
                f"{r['fit_seconds']:>7.2f} {cell(r['predict_x']):>8} "
                f"{cell(r['predict_tracemalloc_x']):>7} "
                f"{cell(r['predict_anon_x']):>7}"
            )
        lines.append("* no-copy layouts (fit within 0.25x of the best)")
        lines.append(
            f"Own copies no layout avoids: {self.own_copy_x:.2f}x X"
            + (f" ({self.known_copy})" if self.known_copy else "")
        )
        verdict = {True: "agrees", False: "DISAGREES", None: "nothing to check"}
        lines.append(
            f"skmemmap.layout_for: {self.registry_layout} ({verdict[self.agrees]})"
        )
        return "\n".join(lines)

    def __repr__(self):
        return f"<AuditResult of {self.estimator}: no-copy {self.no_copy_layouts}>"


def audit(
    estimator,
    X=None,
    y=None,
    *,
    layouts=None,
    n_samples=None,
    n_features=None,
    random_state=0,
    repeats=2,
    isolated=True,
    folder=None,
):
    """Measure the extra memory of fit and predict for each input layout.

    Parameters
    ----------
    estimator : estimator object
        Cloned for every measurement.
    X : array-like of shape (n_samples, n_features), default=None
        Data to measure on. ``None`` makes a synthetic sample (20,000 x 100
        by default: 16 MB in float64, large enough that a copy stands out,
        small enough to take seconds).
    y : array-like, default=None
        Target for ``X``; synthetic by default (binary for classifiers,
        continuous for regressors, none otherwise).
    layouts : list of (dtype, order), default=None
        Layouts to measure; default float64/float32 x C/F.
    n_samples, n_features : int, default=None
        Shape of the synthetic sample.
    random_state : int, default=0
        Seed of the synthetic sample.
    repeats : int, default=2
        Each call is measured this many times and the smallest reading kept:
        other threads' allocations can only add to a reading, never hide a
        copy.
    isolated : bool, default=True
        Measure in a fresh Python subprocess (the estimator, X and y are
        pickled to it). Threads, allocator state and caches left in the
        calling process (a notebook, a test session) add their own noise to
        the anonymous-memory reading; a fresh process has none. ``False``
        measures in this process.
    folder : str, default=None
        Base folder for the temporary files (see :func:`skmemmap.memmap`).

    Returns
    -------
    result : AuditResult
        ``print(result)`` shows a table; ``result.to_dict()`` a plain dict.

    Notes
    -----
    Measurements run one after the other, in a subprocess unless
    ``isolated=False``. On glibc the measuring process's mmap threshold is
    fixed at its default (128 KiB), so that freed copies leave RssAnon and do
    not hide later ones.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmemmap import audit
    >>> result = audit(LogisticRegression(max_iter=5), n_samples=2000, n_features=20)
    >>> "float64 C" in result.no_copy_layouts
    True
    """
    rng = np.random.RandomState(random_state)
    if X is None:
        shape = (n_samples or _DEFAULT_SHAPE[0], n_features or _DEFAULT_SHAPE[1])
        X = rng.standard_normal(shape)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}.")
    if y is None:
        y = _target(estimator, X.shape[0], rng)
    layouts = [
        (np.dtype(d).name, o)
        for d, o in (DEFAULT_LAYOUTS if layouts is None else layouts)
    ]
    if isolated:
        rows = _measure_in_subprocess(estimator, X, y, layouts, repeats, folder)
    else:
        rows = _measure_layouts(estimator, X, y, layouts, repeats, folder)
    layout = layout_for(estimator)
    target = None if layout.keeps_input else layout.resolve(np.empty((1, 1)))
    factor, cause = own_copies(estimator)
    known = f"registry notes about {factor:g}x: {cause}" if factor else ""
    return AuditResult(repr(estimator), X.shape, rows, layout.describe(), target, known)


def _measure_layouts(estimator, X, y, layouts, repeats, folder):
    rows = []
    with tempfile.TemporaryDirectory(dir=folder) as tmp, _honest_allocator() as libc:
        for dtype, order in layouts:
            Xl = memmap(X, dtype=dtype, order=order, folder=tmp)
            rows.append(_audit_layout(estimator, Xl, y, libc, repeats))
            del Xl
            gc.collect()
    return rows


def _measure_in_subprocess(estimator, X, y, layouts, repeats, folder):
    """Run _measure_layouts in ``python -m skmemmap._audit`` on pickled inputs."""
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        job = os.path.join(tmp, "job.pkl")
        with open(job, "wb") as f:
            pickle.dump(
                {
                    "estimator": estimator,
                    "X": X,
                    "y": y,
                    "layouts": layouts,
                    "repeats": repeats,
                    "folder": folder,
                },
                f,
            )
        run_module("skmemmap._audit", job, what="The audit subprocess")
        with open(job + ".json") as f:
            return json.load(f)


def _least(readings):
    """Smallest reading of each quantity over repeated measurements."""
    return [
        None if any(v is None for v in values) else min(values)
        for values in zip(*readings, strict=True)
    ]


def _audit_layout(estimator, X, y, libc, repeats):
    reference_nbytes = X.nbytes
    order = "F" if np.isfortran(X) else "C"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits, predicts = [], []
        for _ in range(max(1, repeats)):
            model = clone(estimator)
            fits.append(_measure(lambda m=model: m.fit(X, y), libc)[1:])
            method = _predict_method(model)
            if method is not None:
                call = getattr(model, method)
                predicts.append(_measure(lambda c=call: c(X), libc)[1:3])
        fit_tm, fit_anon, fit_s = _least(fits)
        pred_tm, pred_anon = _least(predicts) if predicts else (None, None)

    def ratio(value):
        return None if value is None else value / reference_nbytes

    def worst(a, b):
        values = [v for v in (a, b) if v is not None]
        return max(values) / reference_nbytes if values else None

    return {
        "layout": layout_name(X.dtype, order),
        "fit_x": worst(fit_tm, fit_anon),
        "fit_tracemalloc_x": ratio(fit_tm),
        "fit_anon_x": ratio(fit_anon),
        "fit_seconds": fit_s,
        "predict_method": method,
        "predict_x": worst(pred_tm, pred_anon),
        "predict_tracemalloc_x": ratio(pred_tm),
        "predict_anon_x": ratio(pred_anon),
    }


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        job = pickle.load(f)
    rows = _measure_layouts(
        job["estimator"],
        job["X"],
        job["y"],
        job["layouts"],
        job["repeats"],
        job["folder"],
    )
    with open(sys.argv[1] + ".json", "w") as f:
        json.dump(rows, f)
