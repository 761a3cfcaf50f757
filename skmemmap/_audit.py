"""Measure which input layouts let an estimator fit and predict without copying X.

For each candidate layout (float64/float32 x C/F), X is written to a read-only
memory-mapped file in that layout and handed to the estimator as
:class:`~skmemmap.MemmapEstimator` hands it (``fit`` of an estimator that
writes into X gets a copy-on-write map of the file, so scikit-learn's copy of
a read-only X is not made), and the estimator's ``fit`` and then ``predict``
(or ``transform``) are measured two ways at once:

* tracemalloc: every allocation made through numpy or Python, which covers
  ``check_array`` conversions;
* the process's anonymous memory (``RssAnon``, sampled every millisecond):
  copies made in C (liblinear's) and copy-on-write pages, which tracemalloc
  never sees.

Each meter gives the peak growth during the call and what is still held when
it returns (the fitted model, the predictions). What a call copies is its peak
minus two things that are not copies of X: the memory the result keeps in the
layout where it keeps least (a forest's trees, SVC's support vectors) and what
the same call uses, beyond what it keeps, on the same rows of X's first few
columns (per-sample and thread buffers, the allocator's churn while a model
grows). Readings are compared with a noise floor measured in the same
process; below it, the audit reports "no measurable copy".
"""

import contextlib
import ctypes
import ctypes.util
import gc
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.base import clone, is_classifier, is_regressor

from skmemmap._construct import memmap
from skmemmap._convert import _copy_on_write
from skmemmap._layout import layout_for, own_copy_info
from skmemmap._utils import child_env, format_mb, layout_name

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
# A layout counts as copy-free if its fit copies at most this much more (as a
# multiple of X in that layout) than the best layout. The smallest conversion
# copy is half of X (float64 to float32), so a quarter of X is halfway between
# "no copy" and the smallest copy. A quarter of X in float64 also bounds the
# noise floor: above it, the audit cannot tell a conversion from noise and
# says so.
_TOLERANCE = 0.25
# Registry own-copy factors and audit readings agree within this many X
# (absolute, in multiples of X in the registry's layout) or this fraction of
# the factor, whichever is larger: the factors are rounded measurements.
_OWN_COPY_TOLERANCE = (0.35, 0.25)
_SAMPLE_SECONDS = 0.001
# The baseline X is X's first columns (at most a fifth of them, 4 at most, so
# that PCA(n_components=3) still fits): the same rows, so per-sample buffers,
# the model's size and its allocator churn are the same as with X, while a
# copy of X shrinks with the columns.
_BASELINE_FEATURES = 4
# The unmeasured warm-up fit (thread pools, caches) runs on about this many rows.
_WARM_UP_ROWS = 500


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

    def now(self):
        """Growth since the start, now (``None`` without RssAnon)."""
        if self.start is None:
            return None
        value = _read_anon() or 0
        self.peak = max(self.peak, value)
        return max(0, value - self.start)

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


def _settle(libc):
    gc.collect()
    if libc is not None:
        libc.malloc_trim(0)


def _measure(func, libc):
    """One reading of ``func()``: peak and kept bytes per meter, and seconds.

    "kept" is what is still allocated when ``func`` has returned, with its
    result alive and freed memory handed back to the system.
    """
    _settle(libc)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with _AnonPeak() as anon:
            result = func()
            seconds = time.perf_counter() - start
            _settle(libc)
            kept_tm = tracemalloc.get_traced_memory()[0]
            kept_anon = anon.now()
        peak_tm = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return {
        "peak_tm": peak_tm,
        "kept_tm": kept_tm,
        "peak_anon": anon.growth,
        "kept_anon": kept_anon,
        "seconds": seconds,
    }


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


_METERS = ("tm", "anon")


def _least(readings, key):
    values = [r[key] for r in readings]
    return None if not values or None in values else min(values)


def _spread(readings, key):
    values = [r[key] for r in readings]
    return 0 if len(values) < 2 or None in values else max(values) - min(values)


def _analyse_call(call, layouts, baseline, noop, scale):
    """Copy estimates (bytes per meter and layout) and the noise floor of a call.

    ``layouts`` maps a layout name to its readings; ``baseline`` holds the
    readings on the narrow X, whose copies are ``1 - 1 / scale`` smaller.

    A copy is ``peak - kept - fixed``, per meter, and the larger of the two
    meters in each reading. The floor adds up the reading of an empty call
    (the meters' own noise), the spread of the baseline's readings and the
    spread of each layout's repeated copy readings (which carries the spread
    of what the model keeps, since the peak includes it). The meters are
    combined per reading before the spread is taken because the sampled
    meter can miss a short-lived copy under load that tracemalloc sees: such
    a miss is not noise.
    """
    measured = {name: r[call] for name, r in layouts.items() if r[call]}
    if not measured:
        return None
    base = baseline.get(call) or []
    meters = [
        m
        for m in _METERS
        if all(r[0][f"peak_{m}"] is not None for r in measured.values())
    ]
    # What the result keeps in the layout where it keeps least is the model
    # itself (trees, support vectors): no layout avoids it and it is not a
    # copy. A layout that keeps more keeps a copy (KNeighbors storing a
    # converted X), which stays counted.
    kept = {m: min(_least(r, f"kept_{m}") for r in measured.values()) for m in meters}
    # What the same call uses on the narrow X, beyond what it keeps, is not a
    # copy of X either: per-sample buffers, thread buffers, the allocator's
    # churn while the model grows.
    fixed = {
        m: max(0, min((r[f"peak_{m}"] - r[f"kept_{m}"] for r in base), default=0))
        for m in meters
    }

    # What one reading keeps beyond the least its layout keeps was allocated
    # once for the process (BLAS thread buffers on the first large call, seen
    # up to 20 MB): it is not a copy of X, and no later reading pays it.
    once = {
        name: {m: _least(readings, f"kept_{m}") for m in meters}
        for name, readings in measured.items()
    }

    def extra(reading, m, name):
        first = max(0, reading[f"kept_{m}"] - once[name][m])
        return max(0, reading[f"peak_{m}"] - kept[m] - fixed[m] - first) * scale

    copies, spreads = {}, [0]
    for name, readings in measured.items():
        copies[name] = {m: None for m in _METERS}
        copies[name].update(
            {m: min(extra(r, m, name) for r in readings) for m in meters}
        )
        combined = [
            max((extra(r, m, name) for m in meters), default=0) for r in readings
        ]
        spreads.append(max(combined) - min(combined))
    transient = [
        max((r[f"peak_{m}"] - r[f"kept_{m}"] for m in meters), default=0) for r in base
    ]
    noise = max((_least(noop, f"peak_{m}") for m in meters), default=0)
    spread = max(transient) - min(transient) if transient else 0
    floor = (noise + spread) * scale + max(spreads)
    return {
        "copies": copies,
        "combined": {
            name: min(
                max((extra(r, m, name) for m in meters), default=0) for r in readings
            )
            for name, readings in measured.items()
        },
        "floor": floor,
        "kept": kept,
        "fixed": fixed,
        "seconds": {name: _least(r, "seconds") for name, r in measured.items()},
    }


def _own_copy_check(info, row, nbytes):
    """The registry's own copies (``info``, an OwnCopies) against a measured
    fit (``row`` of an AuditResult, X of ``nbytes`` in its layout)."""
    buffers = info.buffers / nbytes
    measured = row["fit_x"] if row["fit_measurable"] else 0.0
    allowed = max(_OWN_COPY_TOLERANCE[0], _OWN_COPY_TOLERANCE[1] * info.factor)
    low = 0.0 if info.up_to else info.factor - allowed
    high = info.factor + buffers + allowed
    return {
        "layout": row["layout"],
        "registry_x": info.factor,
        "buffers_mb": info.buffers / 2**20,
        "expected_x": info.factor + buffers,
        "measured_x": measured,
        "up_to": info.up_to,
        "agrees": low <= measured <= high,
    }


class AuditResult:
    """What :func:`audit` measured, per layout.

    Every ``*_x`` number is the extra memory of a call that is a copy, as a
    multiple of X's size in the row's own layout (1.0x is one full copy of
    the X it was given, whatever its dtype). It is the call's peak growth
    minus what the fitted model keeps in the layout where it keeps least
    (``model_kept_mb``) and minus what the call uses on a baseline X, the
    same rows and X's first few columns (``fixed_mb``: per-sample buffers,
    thread buffers), scaled up by ``n_features / (n_features - columns)`` for
    the part of a copy that the baseline X has too.

    A copy at or below the noise floor is **no measurable copy**: its row's
    ``fit_measurable`` (``predict_measurable``) is ``False``, the table shows
    ``~0``, and ``own_copy_x`` is ``None`` when the best layout's copy is
    below it. The floor is the sum of the reading of an empty call (the
    meters' own noise), the spread of the baseline's repeated readings and
    the largest spread of a layout's repeated readings.

    Attributes
    ----------
    estimator : str
        The estimator's repr.
    x_shape : tuple
        Shape of the sample X.
    x_nbytes : int
        Size of the sample X in float64.
    rows : list of dict
        One per layout: ``layout``; ``fit_x`` (the larger of the two
        meters), ``fit_tracemalloc_x``, ``fit_anon_x``, ``fit_measurable``
        (above the noise floor), ``fit_seconds``; the same for ``predict_*``
        with ``predict_method`` (``None`` when the estimator has no
        predict/transform). ``*_anon_x`` is ``None`` where the platform has
        no RssAnon.
    noise_floor_mb : dict
        ``{"fit": ..., "predict": ...}``: the noise floor of each call in MB.
    model_kept_mb, fixed_mb : dict
        ``{"fit": ..., "predict": ...}``: what was subtracted as the model
        and as fixed-size buffers (the larger meter), in MB.
    measurable : bool
        Whether the floor is at most 0.25x X, so that the smallest
        conversion copy (float64 to float32, 0.5x X) stands out. ``False``
        means X is too small for this estimator: audit a larger X.
    suggested_n_samples : int or None
        When not ``measurable``, a number of rows at which it should be.
    no_copy_layouts : list of str
        Layouts whose fit costs at most 0.25x X (in float64) more than the
        best one.
    own_copy_x : float or None
        The best layout's fit copy: copies no layout avoids. ``None``: no
        measurable copy.
    registry_layout : str
        What :func:`~skmemmap.layout_for` says for float64 C input.
    agrees : bool or None
        Whether the registry's layout is among ``no_copy_layouts``. ``None``
        when there is nothing to check: the registry keeps X's layout, its
        layout was not measured, or X is too small (not ``measurable``).
    registry_own_copy_x : float
        What :func:`~skmemmap.own_copies` says for this X in float64 (or
        the first dtype measured; ``0.0``: none known).
    own_copy_checks : list of dict
        One per layout the estimator reads X in (the registry's target for
        each dtype, or every measured layout when it keeps X's): the
        registry's ``registry_x`` for this X's shape and dtype, the
        ``buffers_mb`` it expects besides (working buffers that do not grow
        with the rows, such as HistGradientBoosting's histograms),
        ``expected_x`` (both, as a multiple of X in that layout),
        ``measured_x``, ``up_to`` (the registry gives a bound) and
        ``agrees``: within 0.35x X or 25%, or below the bound.
    own_copies_agree : bool or None
        Whether every own-copy check agrees; ``None`` when not
        ``measurable`` or no layout the estimator reads was measured.

    See Also
    --------
    audit
        Measures an estimator and returns this.
    register_layout
        Record a measured layout for an estimator.

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

    def __init__(self, estimator, x_shape, measured, registry):
        self.estimator = estimator
        self.x_shape = tuple(x_shape)
        self.x_nbytes = int(np.prod(x_shape)) * 8
        self._nbytes = nbytes = {r["layout"]: r["nbytes"] for r in measured["layouts"]}
        by_layout = {r["layout"]: r for r in measured["layouts"]}
        columns, n_features = measured["baseline_columns"], self.x_shape[1]
        self._baseline_columns = columns
        scale = n_features / (n_features - columns)
        calls = {
            call: _analyse_call(
                call, by_layout, measured["baseline"], measured["noop"], scale
            )
            for call in ("fit", "predict")
        }
        self.rows = [self._row(r, calls, nbytes) for r in measured["layouts"]]

        def mb(call, key):
            info = calls[call]
            if info is None:
                return None
            if key == "floor":
                return info["floor"] / 2**20
            return max(info[key].values(), default=0) / 2**20

        self.noise_floor_mb = {c: mb(c, "floor") for c in calls}
        self.model_kept_mb = {c: mb(c, "kept") for c in calls}
        self.fixed_mb = {c: mb(c, "fixed") for c in calls}
        floor = calls["fit"]["floor"]
        self.measurable = floor <= _TOLERANCE * self.x_nbytes
        self.suggested_n_samples = None
        if not self.measurable:
            # Copies grow with X, the floor mostly does not: scale X so that
            # the floor is a tenth of X, and round up to 2 significant digits.
            rows = self.x_shape[0] * 10 * floor / self.x_nbytes
            step = 10 ** max(0, int(math.log10(rows)) - 1)
            self.suggested_n_samples = int(math.ceil(rows / step) * step)
        # Copies are compared in multiples of X in each layout: what is left
        # after the model and the baseline scales with X's itemsize (Lasso
        # centers a float32 copy of float32 X), while a conversion copy costs
        # at least half of the X it converts.
        fit_x = {r["layout"]: r["fit_x"] for r in self.rows}
        best = min(fit_x, key=fit_x.get)
        self.no_copy_layouts = [
            name
            for name, x in fit_x.items()
            if x <= fit_x[best] + max(_TOLERANCE, floor / nbytes[name])
        ]
        best_row = next(r for r in self.rows if r["layout"] == best)
        self.own_copy_x = best_row["fit_x"] if best_row["fit_measurable"] else None
        self.registry_layout = registry["describe"]
        own = registry["own"]
        first = own.get("float64") or next(iter(own.values()))
        self.registry_own_copy_x, self.registry_cause = first.factor, first.cause
        self.agrees = self.own_copies_agree = None
        if self.measurable and not registry["keeps_input"]:
            checks = [
                self._no_copy_among(t, registry["accepted"], fit_x, floor)
                for t in registry["targets"].values()
            ]
            if None not in checks:
                self.agrees = all(checks)
        self.own_copy_checks = (
            self._own_copy_checks(registry) if self.measurable else []
        )
        if self.own_copy_checks:
            self.own_copies_agree = all(c["agrees"] for c in self.own_copy_checks)

    def _own_copy_checks(self, registry):
        """The registry's own copies against the fit measured in each layout
        the estimator is handed X in (every layout, when it keeps X's).

        Working buffers (``buffers``) are an upper bound: how many of
        HistGradientBoosting's histograms are alive at once depends on the
        trees. The copies of X are what the registry states.
        """
        targets = set(registry["targets"].values())
        return [
            _own_copy_check(
                registry["own"][row["layout"].split()[0]],
                row,
                self._nbytes[row["layout"]],
            )
            for row in self.rows
            if row["fit_x"] is not None and (not targets or row["layout"] in targets)
        ]

    def _no_copy_among(self, target, accepted, fit_x, floor):
        """Whether ``target`` copies no more than the layouts it competes with.

        A registry layout that accepts several dtypes keeps X's dtype, so its
        target for each dtype competes with the layouts of that dtype only
        (KMeans copies less of a float32 X, but converting to float32 would
        change its results); otherwise with every layout. ``None`` when
        ``target`` was not measured.
        """
        if target not in fit_x:
            return None
        dtype = target.split()[0]
        rivals = [n for n in fit_x if dtype not in accepted or n.split()[0] == dtype]
        best = min(fit_x[n] for n in rivals)
        return fit_x[target] <= best + max(_TOLERANCE, floor / self._nbytes[target])

    @staticmethod
    def _row(raw, calls, nbytes):
        name = raw["layout"]
        row = {"layout": name}
        for call in ("fit", "predict"):
            info = calls[call]
            if info is None or name not in info["copies"]:
                row.update(
                    {
                        f"{call}_x": None,
                        f"{call}_tracemalloc_x": None,
                        f"{call}_anon_x": None,
                        f"{call}_measurable": None,
                        f"{call}_seconds": None,
                    }
                )
                continue
            copies = info["copies"][name]
            ratio = {
                m: None if copies[m] is None else copies[m] / nbytes[name]
                for m in _METERS
            }
            combined = info["combined"][name]
            row[f"{call}_x"] = combined / nbytes[name]
            row[f"{call}_tracemalloc_x"] = ratio["tm"]
            row[f"{call}_anon_x"] = ratio["anon"]
            row[f"{call}_measurable"] = combined > info["floor"]
            row[f"{call}_seconds"] = info["seconds"][name]
        row["predict_method"] = raw["predict_method"]
        return row

    def to_dict(self):
        """A plain dict (JSON-serialisable) of everything measured."""
        return {
            "estimator": self.estimator,
            "x_shape": list(self.x_shape),
            "x_nbytes": self.x_nbytes,
            "rows": [dict(r) for r in self.rows],
            "noise_floor_mb": dict(self.noise_floor_mb),
            "model_kept_mb": dict(self.model_kept_mb),
            "fixed_mb": dict(self.fixed_mb),
            "measurable": self.measurable,
            "suggested_n_samples": self.suggested_n_samples,
            "no_copy_layouts": list(self.no_copy_layouts),
            "own_copy_x": self.own_copy_x,
            "registry_layout": self.registry_layout,
            "agrees": self.agrees,
            "registry_own_copy_x": self.registry_own_copy_x,
            "own_copies_agree": self.own_copies_agree,
            "own_copy_checks": [dict(c) for c in self.own_copy_checks],
        }

    def _cell(self, row, key, call):
        value = row[key]
        if value is None:
            return "-"
        floor = self.noise_floor_mb[call] * 2**20
        return "~0" if value * self._nbytes[row["layout"]] <= floor else f"{value:.2f}x"

    def _x_of(self, mb):
        return f"{format_mb(mb * 2**20)} = {mb * 2**20 / self.x_nbytes:.2f}x X"

    def __str__(self):
        head = (
            f"{'layout':<16} {'fit':>7} {'(tm':>7} {'anon)':>7} {'fit s':>7}"
            f" {'predict':>8} {'(tm':>7} {'anon)':>7}"
        )
        lines = [
            f"Audit of {self.estimator} on X {self.x_shape} "
            f"({format_mb(self.x_nbytes)} as float64); copies as multiples "
            f"of X in each layout",
            head,
            "-" * len(head),
        ]
        for r in self.rows:
            mark = "*" if r["layout"] in self.no_copy_layouts else " "
            seconds = "-" if r["fit_seconds"] is None else f"{r['fit_seconds']:.2f}"
            lines.append(
                f"{mark}{r['layout']:<15} {self._cell(r, 'fit_x', 'fit'):>7} "
                f"{self._cell(r, 'fit_tracemalloc_x', 'fit'):>7} "
                f"{self._cell(r, 'fit_anon_x', 'fit'):>7} {seconds:>7} "
                f"{self._cell(r, 'predict_x', 'predict'):>8} "
                f"{self._cell(r, 'predict_tracemalloc_x', 'predict'):>7} "
                f"{self._cell(r, 'predict_anon_x', 'predict'):>7}"
            )
        lines.append("* no-copy layouts (fit within 0.25x X of the best)")
        lines.append(
            f"~0 no measurable copy: at or below the noise floor (fit "
            f"{self._x_of(self.noise_floor_mb['fit'])})"
        )
        lines.append(
            f"Not counted as copies: the fitted model keeps "
            f"{format_mb(self.model_kept_mb['fit'] * 2**20)}; fixed-size buffers "
            f"{format_mb(self.fixed_mb['fit'] * 2**20)} (a fit on X's first "
            f"{self._baseline_columns} columns)"
        )
        if not self.measurable:
            lines.append(
                f"X is too small to measure copies of this estimator: its noise "
                f"floor is above 0.25x X. Audit a larger X, e.g. "
                f"n_samples={self.suggested_n_samples} "
                f"(--n-samples {self.suggested_n_samples})."
            )
        own = (
            "no measurable copy"
            if self.own_copy_x is None
            else f"{self.own_copy_x:.2f}x X"
        )
        if self.registry_own_copy_x:
            known = f"registry: {self.registry_own_copy_x:.3g}x, {self.registry_cause}"
        else:
            known = "registry: none"
        verdict = {True: "consistent", False: "INCONSISTENT", None: "not checked"}
        lines.append(
            f"Own copies no layout avoids: {own} ({known}; "
            f"{verdict[self.own_copies_agree]})"
        )
        for check in self.own_copy_checks:
            buffers = (
                f" + up to {format_mb(check['buffers_mb'] * 2**20)} of buffers"
                if check["buffers_mb"]
                else ""
            )
            bound = "up to " if check["up_to"] else ""
            total = f" = up to {check['expected_x']:.2f}x" if buffers else ""
            lines.append(
                f"  {check['layout']}: registry {bound}{check['registry_x']:.3g}x X"
                f"{buffers}{total}, measured {check['measured_x']:.2f}x "
                f"({verdict[check['agrees']]})"
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
    verbose=0,
):
    """Measure the copies that fit and predict make for each input layout.

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
        copy. The spread of the readings is part of the noise floor.
    isolated : bool, default=True
        Measure in a fresh Python subprocess (the estimator, X and y are
        pickled to it). Threads, allocator state and caches left in the
        calling process (a notebook, a test session) add their own noise to
        the anonymous-memory reading; a fresh process has none. ``False``
        measures in this process.
    folder : str, default=None
        Base folder for the temporary files (see :func:`skmemmap.memmap`).
    verbose : int, default=0
        Verbosity level: ``0`` is silent; ``1`` or more prints one line per
        measured step (baseline, then fit and predict of each layout) with
        its time on ``sys.stderr``, as ``python -m skmemmap audit`` does.

    Returns
    -------
    result : AuditResult
        ``print(result)`` shows a table; ``result.to_dict()`` a plain dict.

    Raises
    ------
    Exception
        Whatever the estimator raises when fitted (for example
        ``InvalidParameterError`` for a bad parameter), re-raised from the
        subprocess.

    See Also
    --------
    layout_for
        The layout the registry gives an estimator.
    own_copies
        The copies an estimator makes whatever its input.
    register_layout
        Record a measured layout.

    Notes
    -----
    Before measuring, the estimator is fitted once on a few hundred rows to
    load its thread pools and caches; fits on all rows of X's first columns
    (at most 4) then measure what is not a copy of X, and an empty call
    measures the meters' own noise. X is handed to ``fit`` as
    :class:`~skmemmap.MemmapEstimator` hands it: a read-only map, or a
    copy-on-write map for an estimator whose :func:`~skmemmap.layout_for` is
    ``writeable`` (the pages it writes are counted: they become private
    memory). Clones whose ``random_state`` is
    ``None`` get ``random_state=0``, so that repeated fits build the same
    model. See :class:`AuditResult` for how these make the
    noise floor. On glibc the measuring process's mmap threshold is fixed at
    its default (128 KiB), so that freed copies leave RssAnon and do not hide
    later ones.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmemmap import audit
    >>> result = audit(LogisticRegression(max_iter=5), n_samples=4000, n_features=20)
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
    job = {
        "estimator": estimator,
        "X": X,
        "y": y,
        "layouts": layouts,
        "repeats": repeats,
        "folder": folder,
        "verbose": verbose,
    }
    measured = _measure_in_subprocess(job) if isolated else _measure_layouts(**job)
    layout = layout_for(estimator)
    accepted = [d.name for d in layout.dtypes]
    targets = {}
    if not layout.keeps_input:
        for dtype in dict.fromkeys(d for d, _ in layouts):
            resolved = layout.resolve(np.empty((1, 1), dtype=dtype))
            targets[dtype] = layout_name(*resolved)
    registry = {
        "describe": layout.describe(),
        "keeps_input": layout.keeps_input,
        "accepted": accepted,
        "targets": targets,
        # what the registry expects for this X, by the dtype the estimator reads
        "own": {
            dtype: own_copy_info(estimator, *X.shape, dtype)
            for dtype in dict.fromkeys(d for d, _ in layouts)
        },
    }
    return AuditResult(repr(estimator), X.shape, measured, registry)


class _Progress:
    """scikit-learn-style progress lines on stderr: ``audit: <step>... 1.2 s``."""

    def __init__(self, estimator, verbose):
        self.name = type(estimator).__name__
        self.verbose = verbose

    @contextlib.contextmanager
    def step(self, what):
        if not self.verbose:
            yield
            return
        sys.stderr.write(f"audit: {self.name} {what}... ")
        sys.stderr.flush()
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            sys.stderr.write("failed\n")
            raise
        finally:
            sys.stderr.flush()
        sys.stderr.write(f"{time.perf_counter() - start:.1f} s\n")
        sys.stderr.flush()


def _baseline_columns(n_features):
    """Columns of the narrow X whose fit measures what is not a copy of X."""
    return max(0, min(_BASELINE_FEATURES, n_features // 5, n_features - 1))


def _fixed_seed(estimator):
    """A clone whose ``random_state=None`` is 0: repeated fits build the same
    model, so the spread of the readings is the meters' and not the model's."""
    model = clone(estimator)
    if model.get_params(deep=False).get("random_state", 0) is None:
        model.set_params(random_state=0)
    return model


def _measure_calls(estimator, X, y, libc, repeats, writeable=False):
    """Readings of ``repeats`` fits and predicts of clones of ``estimator``.

    X is handed over as :class:`~skmemmap.MemmapEstimator` hands it: to an
    estimator whose layout is ``writeable``, ``fit`` gets a copy-on-write map
    of X's file (so scikit-learn's ``force_writeable`` copy of a read-only X
    is not made); ``predict`` gets the read-only X.
    """
    fits, predicts, method = [], [], None
    for _ in range(max(1, repeats)):
        model = _fixed_seed(estimator)
        fits.append(_measure(lambda m=model: m.fit(_as_handed(X, writeable), y), libc))
        method = _predict_method(model)
        if method is not None:
            call = getattr(model, method)
            predicts.append(_measure(lambda c=call: c(X), libc))
    return {"fit": fits, "predict": predicts, "predict_method": method}


def _as_handed(X, writeable):
    """X as MemmapEstimator's fit hands it to the estimator (see _convert)."""
    return _copy_on_write(X) if writeable else X


def _measure_layouts(estimator, X, y, layouts, repeats, folder, verbose=0):
    """Raw readings: an empty call, the narrow-X baseline, then each layout."""
    progress = _Progress(estimator, verbose)
    result = {"layouts": []}
    with (
        tempfile.TemporaryDirectory(dir=folder) as tmp,
        _honest_allocator() as libc,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        writeable = layout_for(estimator).writeable
        columns = _baseline_columns(X.shape[1])
        with progress.step(f"baseline on X[:, :{columns}]"):
            result.update(
                _measure_baseline(estimator, X, y, libc, repeats, tmp, writeable)
            )
        for dtype, order in layouts:
            name = layout_name(dtype, order)
            Xl = memmap(X, dtype=dtype, order=order, folder=tmp)
            with progress.step(f"{name} fit and predict"):
                readings = _measure_calls(estimator, Xl, y, libc, repeats, writeable)
            result["layouts"].append({"layout": name, "nbytes": Xl.nbytes, **readings})
            del Xl
            gc.collect()
    return result


def _measure_baseline(estimator, X, y, libc, repeats, folder, writeable=False):
    """Warm-up, then readings of an empty call and of the narrow-X baseline.

    An estimator that cannot fit the narrow X (it needs more columns) gets no
    baseline: nothing is subtracted from its readings.
    """
    columns = _baseline_columns(X.shape[1])
    step = max(1, X.shape[0] // _WARM_UP_ROWS)
    y_few = None if y is None else np.asarray(y)[::step]
    baseline = {"fit": [], "predict": []}
    try:
        if not columns:
            raise ValueError("no column to spare")
        narrow = memmap(X[:, :columns], folder=folder)
        # The first fit loads thread pools and caches: not measured.
        _measure_calls(estimator, narrow[::step], y_few, libc, 1, writeable)
        baseline = _measure_calls(estimator, narrow, y, libc, repeats, writeable)
    except Exception:
        few = memmap(X[::step], folder=folder)
        _measure_calls(estimator, few, y_few, libc, 1, writeable)
        columns = 0
    noop = [_measure(lambda: None, libc) for _ in range(repeats)]
    return {"baseline": baseline, "baseline_columns": columns, "noop": noop}


def _measure_in_subprocess(job):
    """Run _measure_layouts in ``python -m skmemmap._audit`` on a pickled job.

    The child's stderr is read as it comes, so that its progress lines reach
    this process's ``sys.stderr`` (a notebook's, too) while it measures. An
    exception raised by the estimator in the child is pickled back and
    re-raised here.
    """
    with tempfile.TemporaryDirectory(dir=job["folder"]) as tmp:
        path = os.path.join(tmp, "job.pkl")
        with open(path, "wb") as f:
            pickle.dump(job, f)
        proc = subprocess.Popen(
            # -c rather than -m: skmemmap/__init__ imports this module already
            [sys.executable, "-c", _CHILD, path],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=child_env(),
        )
        tail = b""
        while chunk := os.read(proc.stderr.fileno(), 4096):
            if job["verbose"]:
                sys.stderr.write(chunk.decode(errors="replace"))
                sys.stderr.flush()
            tail = (tail + chunk)[-3000:]
        proc.stderr.close()
        returncode = proc.wait()
        if os.path.exists(path + ".error"):
            with open(path + ".error", "rb") as f:
                raise pickle.load(f)
        if returncode != 0:
            raise RuntimeError(
                f"The audit subprocess failed (exit {returncode}):\n"
                f"{tail.decode(errors='replace')}"
            )
        with open(path + ".json") as f:
            return json.load(f)


_CHILD = "import sys; from skmemmap._audit import _main; _main(sys.argv[1])"


def _main(path):
    with open(path, "rb") as f:
        job = pickle.load(f)
    try:
        result = _measure_layouts(**job)
    except Exception as exc:
        try:
            data = pickle.dumps(exc)
        except Exception:
            raise exc from None
        with open(path + ".error", "wb") as f:
            f.write(data)
        return
    with open(path + ".json", "w") as f:
        json.dump(result, f)


def check_own_copies(
    estimator, dtype="float64", order="C", n_samples=None, n_features=None
):
    """Does the own-copy warning tell the truth for this estimator and X?

    X of ``dtype`` and ``order`` is mapped and handed to the estimator as
    :class:`~skmemmap.MemmapEstimator` hands it (in the layout the wrapper
    gives it, a copy-on-write map where the estimator writes into X), and the
    fit is audited in that layout. The registry's amount for this X
    (:func:`skmemmap._layout.own_copy_info`: a multiple of X plus working
    buffers that do not grow with the rows) must agree with the measured one
    within the audit's tolerance (0.35x X or 25%; at most that above an "up
    to" bound), and the remedy the warning names, if any, is audited as well:
    it must agree too, and lower the measured amount by at least 0.25x X.
    Where the audit finds X too small to measure (a loaded machine's noise),
    it is measured again at the size the audit suggests.

    Returns a dict: ``estimator``, ``x``, ``read_as``, ``measurable``,
    ``registry_x``, ``up_to``, ``buffers_mb``, ``expected_x``, ``measured_x``,
    ``remedy`` (None, or ``param``, ``registry_x``, ``measured_x``,
    ``agrees``, ``lowers``) and ``agrees`` (all of it true).
    """
    n = n_samples or _DEFAULT_SHAPE[0]
    p = n_features or _DEFAULT_SHAPE[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unknown layout: X's own
        layout = layout_for(estimator)
    read_dtype, read_order = layout.resolve(np.empty((2, 2), dtype=dtype, order=order))
    read_dtype = np.dtype(read_dtype)
    layouts = [(read_dtype, read_order)]
    result = audit(estimator, n_samples=n, n_features=p, layouts=layouts)
    if not result.measurable:  # what the audit says to do: a larger X
        n = result.suggested_n_samples
        result = audit(estimator, n_samples=n, n_features=p, layouts=layouts)
    (row,) = result.rows
    info = own_copy_info(estimator, n, p, read_dtype)
    check = _own_copy_check(info, row, n * p * read_dtype.itemsize)
    measured, expected = check["measured_x"], check["expected_x"]
    out = {
        "estimator": repr(estimator),
        "x": f"{n:,} x {p} {layout_name(np.dtype(dtype), order)}",
        "read_as": layout_name(read_dtype, read_order),
        "measurable": result.measurable,
        "registry_x": info.factor,
        "up_to": info.up_to,
        "buffers_mb": info.buffers / 2**20,
        "expected_x": expected,
        "measured_x": measured,
        "agrees": bool(check["agrees"] and result.measurable),
        "remedy": None,
    }
    if info.remedy:
        param, value, reduced = info.remedy
        fixed = clone(estimator).set_params(**{param: value})
        after = check_own_copies(fixed, dtype, order, n, p)
        out["remedy"] = {
            "param": f"{param}={value!r}",
            "registry_x": reduced,
            "measured_x": after["measured_x"],
            "agrees": after["agrees"],
            "lowers": after["measured_x"] <= measured - _TOLERANCE,
        }
        out["agrees"] = out["agrees"] and after["agrees"] and out["remedy"]["lowers"]
    return out
