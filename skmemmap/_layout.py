"""Which memory layout each estimator reads without copying X.

scikit-learn estimators convert X to the dtype and memory order their
solvers read (``check_array`` in ``sklearn/utils/validation.py``). Handing
them X in that layout already avoids the conversion copy, in every worker and
for every candidate of a search. The registry below records that layout per
class; it is looked up along the class's MRO, so subclasses inherit it.
Built-in entries name scikit-learn classes by name (matched only for classes
defined in scikit-learn), so they survive scikit-learn moving a class between
private modules; :func:`register_layout` adds third-party classes.
"""

import dataclasses

import numpy as np

from skmemmap._signal import LAYOUT, CopyEvent, emit

__all__ = ["Layout", "layout_for", "own_copies", "register_layout"]


@dataclasses.dataclass(frozen=True)
class Layout:
    """The memory layout an estimator reads X in without copying it.

    Parameters
    ----------
    dtype : dtype, tuple of dtypes, or None, default=None
        The dtype(s) the estimator reads without converting. With a tuple,
        X keeps its dtype if it is one of them, else is converted to the
        first. ``None`` keeps X's dtype.
    order : {"C", "F"}, tuple of them, or None, default=None
        The memory order(s) it reads without a copy. With a tuple, X keeps
        its order if it is one of them and its dtype is kept; a converted X
        gets the first. ``None`` keeps X's order.
    writeable : bool, default=False
        Whether the estimator needs a writeable X. scikit-learn copies a
        read-only X for such estimators; skmemmap gives them a copy-on-write
        map of the same file instead, so only the pages they write are copied
        and the file never changes.

    Examples
    --------
    >>> import numpy as np
    >>> from skmemmap import Layout
    >>> Layout(np.float32, "F")
    Layout(dtype=dtype('float32'), order='F', writeable=False)
    >>> Layout((np.float64, np.float32), "C").describe()
    'float64 or float32 C'

    >>> Layout().keeps_input
    True
    """

    dtype: object = None
    order: object = None
    writeable: bool = False

    def __post_init__(self):
        if self.dtype is not None:
            many = isinstance(self.dtype, (tuple, list))
            dtypes = tuple(np.dtype(d) for d in (self.dtype if many else [self.dtype]))
            if not dtypes or any(d.kind not in "biuf" for d in dtypes):
                raise ValueError(
                    f"Layout dtype must be a numeric dtype or a non-empty tuple of "
                    f"them, got {self.dtype!r}."
                )
            object.__setattr__(self, "dtype", dtypes if many else dtypes[0])
        if isinstance(self.order, list):
            object.__setattr__(self, "order", tuple(self.order))
        if self.order is not None and (
            not self.orders or any(o not in ("C", "F") for o in self.orders)
        ):
            raise ValueError(
                f"Layout order must be 'C', 'F', a tuple of them or None, got "
                f"{self.order!r}."
            )
        if not isinstance(self.writeable, bool):
            raise TypeError(f"Layout writeable must be a bool, got {self.writeable!r}.")

    @property
    def keeps_input(self):
        """True if X is passed in whatever layout it has."""
        return self.dtype is None and self.order is None

    @property
    def dtypes(self):
        """The accepted dtypes as a tuple (empty when any dtype is kept)."""
        if self.dtype is None:
            return ()
        return self.dtype if isinstance(self.dtype, tuple) else (self.dtype,)

    def target_dtype(self, dtype):
        """The dtype X of ``dtype`` is given in: its own if accepted, else the first."""
        dtype = np.dtype(dtype)
        accepted = self.dtypes
        return dtype if not accepted or dtype in accepted else accepted[0]

    def resolve(self, X):
        """``(dtype, order)`` for X: this layout, X's own where this allows it."""
        dtype = self.target_dtype(X.dtype)
        from skmemmap._array import order_of  # _array does not import _layout

        own = order_of(X)
        orders = self.orders
        if not orders or (own in orders and dtype == X.dtype):
            return np.dtype(dtype), own
        return np.dtype(dtype), orders[0]

    @property
    def orders(self):
        """The accepted orders as a tuple (empty when any order is kept)."""
        if self.order is None:
            return ()
        return self.order if isinstance(self.order, tuple) else (self.order,)

    def describe(self):
        """Human-readable name, e.g. ``'float32 Fortran'``."""
        if self.keeps_input:
            return "X's own layout"
        dtype = " or ".join(d.name for d in self.dtypes) or "any dtype"
        names = {"C": "C", "F": "Fortran"}
        order = " or ".join(names[o] for o in self.orders) or "any order"
        return f"{dtype} {order}"


# The layouts below were measured with scikit-learn 1.9.1 on read-only memmap
# input with `python -m skmemmap audit`, and re-checked by measurement in the
# test suite (tests/test_audit.py).
# Estimators that compute in float32 as well read float32 X as it is: converting
# it to float64 would double it. liblinear and libsvm read float64 only.
_F64_32 = (np.float64, np.float32)
# Cython splitters read float32 in any order without a copy; a converted X is
# written in F, which keeps each feature's column contiguous for the splitter.
_TREES = Layout(np.float32, ("F", "C"))
# Coordinate descent walks columns; its check_array uses force_writeable=True.
_CD = Layout(_F64_32, "F", writeable=True)
_C64 = Layout(np.float64, "C")
_C = Layout(_F64_32, "C")
_C_W = Layout(_F64_32, "C", writeable=True)  # check_array(force_writeable=True)
_KEEP = Layout()

_BUILTIN = {
    # trees and tree ensembles
    "BaseDecisionTree": _TREES,
    "BaseForest": _TREES,
    "BaseGradientBoosting": _TREES,
    "IsolationForest": _TREES,
    # bins X into its own uint8 copy: no input layout avoids that
    "BaseHistGradientBoosting": _KEEP,
    # coordinate descent (Lasso, MultiTask*, and their CV variants inherit)
    "ElasticNet": _CD,
    "LinearModelCV": _CD,
    # C order (float32 kept where the estimator computes in it)
    "LogisticRegression": _C,
    "LogisticRegressionCV": _C,
    "BaseSGD": _C,
    "LinearSVC": _C64,
    "LinearSVR": _C64,
    "BaseLibSVM": _C64,
    "NeighborsBase": _C,
    "_BaseKMeans": _C,
    "GaussianNB": _C,
    "_BaseRidge": _C_W,
    "_BaseRidgeCV": _C_W,
    "LinearRegression": _C_W,
    "BayesianRidge": _C_W,
    "ARDRegression": _C_W,
    "PCA": _C_W,
    "StandardScaler": _C_W,
    "MinMaxScaler": _C_W,
    "MaxAbsScaler": _C_W,
    "RobustScaler": _C_W,
}

# Copies an estimator makes by itself whatever layout it gets, as a multiple
# of X's size during fit (float64 X), measured with scikit-learn 1.9.1 by
# `python -m skmemmap audit` (see the layout table in the user guide).
# Reported once per class.
_OWN_COPIES = {
    "BaseHistGradientBoosting": (
        0.125,
        "it bins X into its own uint8 copy (and, with early stopping, splits off "
        "a validation set by fancy indexing: +0.86x)",
    ),
    "ElasticNet": (
        1.0,
        "its solver centers a copy of X (about 2x with fit_intercept=False)",
    ),
    "LinearModelCV": (1.0, "its solver centers a copy of X for every fold"),
    "_BaseRidge": (2.0, "it centers a copy of X, and its solver copies it again"),
    "LinearRegression": (2.1, "scipy's lstsq copies X, after centering"),
    "_BaseKMeans": (2.0, "it centers a copy of X and keeps distance buffers"),
    "BayesianRidge": (3.0, "it centers a copy of X and computes its SVD"),
    "PCA": (1.0, "it centers a copy of X before the SVD"),
    "StandardScaler": (1.1, "fit accumulates in float64 blocks"),
    "GaussianNB": (1.0, "it computes per-class means and variances on copies"),
    # Measured by tests/test_audit.py (4000 x 60; MiniBatchKMeans 20000 x 60).
    "LinearSVC": (2.2, "liblinear builds its own 16-bytes-per-value copy of X in C"),
    # Found before _BaseKMeans' 2x along the MRO: mini-batches copy far less.
    "MiniBatchKMeans": (0.3, "it copies its mini-batches and keeps distance buffers"),
}
# Own copies that a parameter of the estimator reduces: (parameter, value
# that reduces them, factor with that value). Ridge(copy_X=False) centers X
# in place (in its copy-on-write map: the written pages become private
# memory, 1x), which halves its 2x. Lasso's and ElasticNet's copy_X do not
# help (measured: the solver still centers a copy), nor does any parameter
# of KMeans.
_OWN_COPY_PARAMS = {
    "_BaseRidge": (
        "copy_X",
        False,
        1.0,
        "it centers X in place (in copy-on-write pages of its file, which become "
        "private memory) and its solver copies it",
    ),
}

_registry = {}  # classes registered with register_layout


def register_layout(cls, layout):
    """Declare the no-copy layout of an estimator class (and its subclasses).

    Parameters
    ----------
    cls : type
        An estimator class.
    layout : Layout or None
        Its layout. ``None`` removes a registration.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from skmemmap import Layout, layout_for, register_layout
    >>> class MyTreeModel(BaseEstimator):
    ...     pass
    >>> register_layout(MyTreeModel, Layout(np.float32, "F"))
    >>> layout_for(MyTreeModel())
    Layout(dtype=dtype('float32'), order='F', writeable=False)
    >>> register_layout(MyTreeModel, None)
    """
    if not isinstance(cls, type):
        raise TypeError(f"cls must be a class, got {cls!r}.")
    if layout is None:
        _registry.pop(cls, None)
        return
    if not isinstance(layout, Layout):
        raise TypeError(f"layout must be a skmemmap.Layout, got {layout!r}.")
    _registry[cls] = layout


def _lookup(table, cls, registered=None):
    for klass in cls.__mro__:
        if registered is not None and klass in registered:
            return registered[klass]
        if klass.__module__.split(".")[0] == "sklearn" and klass.__name__ in table:
            return table[klass.__name__]
    return None


def _reader_of_x(estimator):
    """The estimator that reads X first, looking inside meta-estimators."""
    from sklearn.pipeline import Pipeline

    seen = 0
    while seen < 50:  # guards against a cycle in a malformed estimator
        seen += 1
        if _is_layout_wrapper(estimator):
            if isinstance(estimator.layout, Layout):
                return estimator, estimator.layout
            estimator = estimator.estimator
        elif isinstance(estimator, Pipeline):
            steps = [
                s for _, s in estimator.steps if s is not None and s != "passthrough"
            ]
            if not steps:
                return estimator, _KEEP
            estimator = steps[0]
        elif (
            type(estimator) in _registry
            or _lookup(_BUILTIN, type(estimator)) is not None
        ):
            return estimator, None
        else:
            inner = _inner_estimator(estimator)
            if inner is None:
                return estimator, None
            estimator = inner
    return estimator, None


def _is_layout_wrapper(estimator):
    """A MemmapEstimator, or anything like it: an ``estimator`` it wraps and a
    ``layout`` that is ``"auto"`` or a Layout (duck typing: _estimator imports
    this module, not the other way round)."""
    layout = getattr(estimator, "layout", None)
    return hasattr(estimator, "estimator") and (
        isinstance(layout, Layout) or (isinstance(layout, str) and layout == "auto")
    )


def _inner_estimator(estimator):
    try:
        params = estimator.get_params(deep=False)
    except Exception:
        return None
    inner = params.get("estimator")
    return inner if hasattr(inner, "fit") else None


def layout_for(estimator):
    """The layout in which ``estimator`` reads X without copying it.

    Looks inside :class:`~sklearn.pipeline.Pipeline` (its first step reads X),
    searches such as :class:`~sklearn.model_selection.GridSearchCV`, a nested
    :class:`~skmemmap.MemmapEstimator`, and any meta-estimator with an
    ``estimator`` parameter. Unknown estimators keep X's layout
    (``Layout()``), and a :class:`~skmemmap.LayoutWarning` says so once per
    call: skmemmap does not guess.

    Parameters
    ----------
    estimator : estimator instance or class

    Returns
    -------
    layout : Layout

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.linear_model import Lasso
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmemmap import layout_for
    >>> layout_for(RandomForestClassifier()).describe()
    'float32 Fortran or C'
    >>> layout_for(Lasso()).describe()
    'float64 or float32 Fortran'
    >>> layout_for(make_pipeline(StandardScaler(), Lasso())).describe()
    'float64 or float32 C'
    """
    if isinstance(estimator, type):
        cls = estimator
    else:
        reader, explicit = _reader_of_x(estimator)
        if explicit is not None:
            return explicit
        cls = type(reader)
    layout = _lookup(_BUILTIN, cls, _registry)
    if layout is not None:
        return layout
    name = cls.__name__
    emit(
        CopyEvent(
            "layout-unknown",
            f"skmemmap does not know which layout {name} reads without a copy, "
            f"so X is passed in the layout it has",
            remedy=f"Measure it with skmemmap.audit({name}()), then declare it with "
            f"skmemmap.register_layout({name}, skmemmap.Layout(dtype, order))",
            estimator=name,
            kind=LAYOUT,
            avoidable=False,
        )
    )
    return _KEEP


def own_copies(estimator):
    """``(factor, cause)`` of the copies the X-reading estimator makes by itself.

    These are copies no input layout avoids (Ridge centers a copy of X,
    LinearRegression's least squares copies it again), measured with
    scikit-learn 1.9.1 on float64 X, for the estimator's parameters as they
    are (``Ridge(copy_X=False)`` makes half the copies of ``Ridge()``). Looks
    inside meta-estimators as :func:`layout_for` does.

    Parameters
    ----------
    estimator : estimator instance or class

    Returns
    -------
    factor : float
        Extra memory during fit as a multiple of X's size; ``0.0`` when none
        is known.
    cause : str
        Why, in words; ``""`` when none is known.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from skmemmap import own_copies
    >>> own_copies(Ridge())[0], own_copies(Ridge(copy_X=False))[0]
    (2.0, 1.0)
    """
    reader = _x_reader(estimator)
    factor, cause = _lookup(_OWN_COPIES, _cls(reader)) or (0.0, "")
    fix = _lookup(_OWN_COPY_PARAMS, _cls(reader))
    if fix is not None and not isinstance(reader, type):
        param, value, reduced, reduced_cause = fix
        if reader.get_params(deep=False).get(param) == value:
            factor, cause = reduced, reduced_cause
    return factor, cause


def own_copy_fix(estimator):
    """``(reader, parameter, value, factor)`` if setting a parameter of the
    X-reading estimator would reduce its own copies, else None."""
    reader = _x_reader(estimator)
    fix = _lookup(_OWN_COPY_PARAMS, _cls(reader))
    if fix is None or isinstance(reader, type):
        return None
    param, value, reduced, _ = fix
    if reader.get_params(deep=False).get(param) == value:
        return None
    return reader, param, value, reduced


def _x_reader(estimator):
    return estimator if isinstance(estimator, type) else _reader_of_x(estimator)[0]


def _cls(reader):
    return reader if isinstance(reader, type) else type(reader)
