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
import inspect
import numbers

import numpy as np

from skmemmap._signal import LAYOUT, CopyEvent, emit

__all__ = ["Layout", "OwnCopies", "layout_for", "own_copies", "register_layout"]


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

    See Also
    --------
    layout_for
        The layout of an estimator.
    register_layout
        Declare the layout of an estimator class.
    MemmapEstimator
        Fits an estimator on X in its layout.

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
        from skmemmap._array import order_of  # _array does not import _layout

        return self._target(X.dtype, order_of(X))

    def _target(self, dtype, order):
        """``(dtype, order)`` for an X of ``dtype`` read in ``order``: X's dtype
        if accepted, and its order if accepted and its dtype is kept."""
        target = self.target_dtype(dtype)
        orders = self.orders
        if not orders or (order in orders and target == dtype):
            return target, order
        return target, orders[0]

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


# The layouts below were measured with scikit-learn 1.9.1 with
# `python -m skmemmap audit`, which hands X over as MemmapEstimator does (a
# read-only map, or a copy-on-write map for the writeable layouts), and are
# re-checked by measurement in the test suite (tests/test_audit.py).
# Estimators that compute in float32 as well read float32 X as it is: converting
# it to float64 would double it. liblinear and libsvm read float64 only.
_F64_32 = (np.float64, np.float32)
# Cython splitters read float32 in any order without a copy; a converted X is
# written in F, which keeps each feature's column contiguous for the splitter.
_TREES = Layout(np.float32, ("F", "C"))
# Coordinate descent walks columns, but with copy_X=True (the default) or
# fit_intercept=True it copies or centers X whatever its order: the audit
# measures the same 1x X on C and Fortran input, so a C map stays C (a
# conversion would buy nothing). Without the intercept, Fortran order saves
# a copy: see _coordinate_descent.
_CD_ANY = Layout(_F64_32, ("F", "C"), writeable=True)
_CD_F = Layout(_F64_32, "F", writeable=True)
_C64 = Layout(np.float64, "C")
_C = Layout(_F64_32, "C")
_C_W = Layout(_F64_32, "C", writeable=True)  # check_array(force_writeable=True)
_C64_W = Layout(np.float64, "C", writeable=True)
_KEEP = Layout()


def _coordinate_descent(params):
    """ElasticNet's layout: Fortran only where it does not center X.

    Centering copies X (or writes all of it in place) in any order. Without
    it, X in Fortran order is read as it is (copy_X=False) or copied once
    (copy_X=True); C order costs one more copy, the conversion to Fortran.
    """
    return _CD_ANY if params.get("fit_intercept", True) else _CD_F


def _ridge_cv_layout(params):
    """RidgeCV's layout: its leave-one-out solver (cv=None) reads float64 only
    (measured: 6x a float32 X, 3x a float64 one); with cv, each fold is a
    Ridge, which reads float32 too."""
    return _C_W if params.get("cv") is not None else _C64_W


_BUILTIN = {
    # trees and tree ensembles
    "BaseDecisionTree": _TREES,
    "BaseForest": _TREES,
    "BaseGradientBoosting": _TREES,
    "IsolationForest": _TREES,
    # bins X into its own uint8 copy: no input layout avoids that
    "BaseHistGradientBoosting": _KEEP,
    # hands each transformer its own columns of X (taken by name or index, a
    # copy of them in whatever layout X has): X is passed as it is
    "ColumnTransformer": _KEEP,
    # coordinate descent (Lasso, MultiTask*, and their CV variants inherit)
    "ElasticNet": _coordinate_descent,
    "LinearModelCV": _CD_ANY,
    # C order (float32 kept where the estimator computes in it)
    "LogisticRegression": _C,
    # converts float32 X to float64 (measured: 4x a float32 X, 1x a float64 one)
    "LogisticRegressionCV": _C64,
    "BaseSGD": _C,
    "LinearSVC": _C64,
    "LinearSVR": _C64,
    "BaseLibSVM": _C64,
    "NeighborsBase": _C,
    # writeable: KMeans(copy_x=False) centers X in place (in copy-on-write
    # pages of its file) instead of failing on a read-only X
    "_BaseKMeans": _C_W,
    "GaussianNB": _C,
    "_BaseRidge": _C_W,
    "_BaseRidgeCV": _ridge_cv_layout,
    "LinearRegression": _C_W,
    "BayesianRidge": _C_W,
    "ARDRegression": _C_W,
    "PCA": _C_W,
    # Measured alike in all four layouts (python -m skmemmap audit
    # "sklearn.decomposition.IncrementalPCA(n_components=5)"): keep X's.
    "IncrementalPCA": Layout(_F64_32, ("C", "F")),
    "StandardScaler": _C_W,
    "MinMaxScaler": _C_W,
    "MaxAbsScaler": _C_W,
    "RobustScaler": _C_W,
}


@dataclasses.dataclass(frozen=True)
class _Own:
    """Copies an estimator makes by itself, for X as MemmapEstimator hands it.

    ``factor`` is a multiple of X as the estimator reads it (its dtype);
    ``up_to`` marks an upper bound (the amount depends on the data, such as
    the number of classes); ``buffers`` is bytes of working memory that does
    not grow with the rows (HistGradientBoosting's histograms): not a copy of
    X, but part of what the audit measures on a small X.
    """

    factor: float
    cause: str = ""
    up_to: bool = False
    buffers: int = 0


_NONE = _Own(0.0)
# Copies of X's pages that a copy-on-write map turns into private memory: an
# estimator that centers X in place (copy_X=False) writes every page.
_IN_PLACE = (
    "it centers X in place: the pages it writes in its copy-on-write map of X's "
    "file become private memory"
)


def _centering(params, copy="copy_X"):
    """Ridge's, ElasticNet's and KMeans' own 1x X: a copy, or written pages."""
    copies = params.get(copy, True)
    centers = params.get("fit_intercept", True)
    if copies:
        return _Own(
            1.0, f"it {'centers' if centers else 'makes'} a copy of X ({copy}=True)"
        )
    if centers:
        return _Own(1.0, _IN_PLACE)
    return _NONE


def _ridge(params, n_samples, n_features, dtype):
    solver = params.get("solver", "auto")
    if solver == "auto":
        solver = "lbfgs" if params.get("positive") else "cholesky"
    if solver == "svd":
        return _Own(4.0, "its svd solver copies X and decomposes it (scipy.linalg.svd)")
    return _centering(params)


def _ridge_classifier(params, n_samples, n_features, dtype):
    own = _ridge(params, n_samples, n_features, dtype)
    if not params.get("fit_intercept", True) or params.get("solver") == "svd":
        return own
    # It fits with sample weights (from class_weight, ones by default); the
    # weighted mean of X is computed on an X-sized product.
    return _plus(own, 1.0, "computes X's weighted mean on an X-sized product")


def _ridge_cv(params, n_samples, n_features, dtype):
    if params.get("cv") is not None:
        return _Own(3.0, "each fold's Ridge copies and centers its rows", up_to=True)
    return _Own(
        3.0,
        "its leave-one-out solver centers a copy of X and decomposes it",
        up_to=True,
    )


def _plus(own, factor, cause):
    """``own`` and one more copy of ``factor`` x X, for ``cause``."""
    both = f"{own.cause}, and {cause}" if own.factor else cause
    return _Own(own.factor + factor, both, own.up_to)


def _linear_regression(params, n_samples, n_features, dtype):
    return _plus(_centering(params), 1.0, "scipy's least squares (lstsq) copies X")


def _bayesian_ridge(params, n_samples, n_features, dtype):
    return _plus(
        _centering(params), 2.0, "it computes X's SVD (a copy and an X-sized factor)"
    )


def _pca_solver(params, n_samples, n_features):
    """The solver PCA uses for this shape (sklearn.decomposition.PCA._fit)."""
    solver = params.get("svd_solver", "auto")
    if solver != "auto":
        return solver
    k = params.get("n_components")
    k = min(n_samples, n_features) if k is None else k
    if n_features <= 1_000 and n_samples >= 10 * n_features:
        return "covariance_eigh"
    if max(n_samples, n_features) <= 500 or k == "mle":
        return "full"
    if isinstance(k, numbers.Integral) and 1 <= k < 0.8 * min(n_samples, n_features):
        return "randomized"
    return "full"


def _pca(params, n_samples, n_features, dtype):
    solver = _pca_solver(params, n_samples, n_features)
    if solver == "covariance_eigh":
        # the features' covariance matrix: no copy of X, but larger than X
        # when X is wider than tall
        ratio = n_features / max(1, n_samples)
        return _Own(
            0.0 if ratio <= 1 else ratio,
            "it forms the n_features x n_features covariance matrix",
            buffers=n_features * n_features * 8 if ratio <= 1 else 0,
        )
    centered = "it centers a copy of X" if params.get("copy", True) else _IN_PLACE
    if solver == "full":
        # LAPACK's gesdd copies X and returns U (X-sized); its workspace and
        # Vt add about 4 k^2 + k p values, k = min(n, p): 0.01x X at 50,000 x
        # 100, 1x X at 3,000 x 600 (measured 3.0x and 4.0x with copy=True)
        k = min(n_samples, n_features)
        work = (4 * k * k + k * n_features) / (n_samples * n_features)
        copies = 2.0 + bool(params.get("copy", True)) + work
        return _Own(
            copies,
            f"{centered}, and its full SVD (LAPACK's gesdd) copies it and computes "
            f"an X-sized factor in a workspace of about 4 min(n_samples, "
            f"n_features)^2 values",
        )
    k = params.get("n_components")
    k = min(n_samples, n_features) if not isinstance(k, numbers.Integral) else k
    if solver == "randomized":
        width = k + params.get("n_oversamples", 10)
        return _Own(
            1.0 + 3 * min(width, n_features) / n_features,
            f"{centered}, and its randomized SVD keeps about 3 blocks of "
            f"n_samples x {width} (n_components + n_oversamples)",
        )
    return _Own(  # arpack
        1.0 + 3 * k / n_features,
        f"{centered}, and ARPACK keeps about 3 blocks of n_samples x n_components",
        up_to=True,
    )


def _coordinate_descent_copies(params, n_samples, n_features, dtype):
    return _centering(params)


def _linear_model_cv(params, n_samples, n_features, dtype):
    cv = params.get("cv")
    k = 5 if cv is None else cv if isinstance(cv, numbers.Integral) else None
    k = getattr(cv, "n_splits", k)
    if not isinstance(k, numbers.Integral) or k < 2:
        return _Own(
            2.0,
            "each fold copies its training and test rows (fancy indexing) and "
            "centers a copy of the training rows",
            up_to=True,
        )
    return _Own(
        1.0 + (1 - 1 / k),
        "each fold copies its training and test rows (fancy indexing) and "
        "centers a copy of the training rows",
    )


def _kmeans(params, n_samples, n_features, dtype):
    own = _centering(params, copy="copy_x")
    if params.get("tol", 1e-4) == 0:
        return own
    # the tolerance is scaled by X's variance, computed on an X-sized
    # temporary; with copy_x=False that comes before the centering writes
    if params.get("copy_x", True):
        return _plus(own, 1.0, "computes X's variance on an X-sized temporary (tol)")
    return own


def _mini_batch_kmeans(params, n_samples, n_features, dtype):
    batch = params.get("batch_size", 1024)
    init = params.get("init_size") or 3 * batch
    rows = 2 * min(init, n_samples) + min(batch, n_samples)
    return _Own(
        min(1.0, rows / max(1, n_samples)),
        f"it copies random rows of X: init_size ({init}) rows twice to choose its "
        f"initial centers, and batch_size ({batch}) rows per step",
    )


def _liblinear(dtype):
    # liblinear's own 16 bytes per value (index and double), in C: 2.0x a
    # float64 X, 4.0x a float32 X measured by the audit at 100 features.
    return _Own(
        16 / np.dtype(dtype).itemsize,
        "liblinear builds its own 16-bytes-per-value copy of X in C",
    )


def _logistic_regression(params, n_samples, n_features, dtype):
    solver = params.get("solver", "lbfgs")
    if solver == "liblinear":
        return _liblinear(dtype)
    if solver == "newton-cg":
        return _Own(
            2.0,
            "its newton-cg solver keeps X-sized products for the Hessian "
            "(2x X for two classes, far less for more)",
            up_to=True,
        )
    if solver == "newton-cholesky":
        return _Own(1.1, "its newton-cholesky solver forms an X-sized weighted product")
    return _NONE


def _linear_svc(params, n_samples, n_features, dtype):
    return _liblinear(dtype)


def _hist_gradient_boosting(params, n_samples, n_features, dtype):
    itemsize = np.dtype(dtype).itemsize
    parts = [(1 / itemsize, "it bins X into its own uint8 copy")]
    if np.dtype(dtype) != np.float64:
        parts.append((8 / itemsize, f"converts {np.dtype(dtype).name} X to float64"))
    stopping = params.get("early_stopping", "auto")
    if stopping is True or (stopping == "auto" and n_samples > 10_000):
        parts.append(
            (
                8 / itemsize,
                "with early stopping (on by default above 10,000 rows), "
                "splits off a float64 validation set by fancy indexing",
            )
        )
    leaves = params.get("max_leaf_nodes") or (
        2 ** params["max_depth"]
        if params.get("max_depth")
        else max(1, n_samples // max(1, params.get("min_samples_leaf", 20)))
    )
    # a histogram per growing node: n_features x (max_bins + 1) bins of 20
    # bytes (sum of gradients, of hessians, count); up to one per leaf alive
    bins = params.get("max_bins", 255) + 1
    causes = [c for _, c in parts]
    cause = (
        causes[0] if len(causes) == 1 else f"{', '.join(causes[:-1])} and {causes[-1]}"
    )
    return _Own(
        sum(f for f, _ in parts),
        cause,
        buffers=int(n_features * bins * 20 * min(leaves, n_samples)),
    )


def _standard_scaler(params, n_samples, n_features, dtype):
    if not params.get("with_std", True):
        return _NONE
    return _Own(
        9 / np.dtype(dtype).itemsize,
        "fit computes X minus its mean in float64, and a mask of its NaNs, "
        "to accumulate the variance",
    )


_OWN_COPIES = {
    # name: (function of (params, n_samples, n_features, dtype), what the
    # layout table in the docs says)
    "BaseHistGradientBoosting": (
        _hist_gradient_boosting,
        "0.125x X for its uint8 binned copy; +1x X of float64 for early stopping's "
        "validation split (on by default above 10,000 rows); +1x X of float64 for "
        "float32 X, which it converts",
    ),
    "ElasticNet": (
        _coordinate_descent_copies,
        "1x X (a centered copy, or centering in place with copy_X=False); none "
        "with fit_intercept=False, copy_X=False",
    ),
    "LinearModelCV": (
        _linear_model_cv,
        "1x X plus each fold's training rows (1.8x X with cv=5)",
    ),
    "RidgeClassifier": (
        _ridge_classifier,
        "2x X (a centered copy and a weighted mean); 4x X with solver='svd'",
    ),
    "_BaseRidge": (
        _ridge,
        "1x X (a centered copy, or centering in place with copy_X=False); 4x X "
        "with solver='svd'; none with fit_intercept=False, copy_X=False",
    ),
    "_BaseRidgeCV": (_ridge_cv, "up to 3x X"),
    "LinearRegression": (
        _linear_regression,
        "2x X (centering and scipy's lstsq); 1x X with fit_intercept=False, "
        "copy_X=False",
    ),
    "KMeans": (
        _kmeans,
        "2x X (a centered copy, and X's variance for tol); 1x X with copy_x=False",
    ),
    "BisectingKMeans": (
        _kmeans,
        "2x X (a centered copy, and X's variance for tol); 1x X with copy_x=False",
    ),
    "MiniBatchKMeans": (
        _mini_batch_kmeans,
        "(2 init_size + batch_size) random rows of X",
    ),
    "BayesianRidge": (
        _bayesian_ridge,
        "3x X (a centered copy and its SVD); 2x X with copy_X=False",
    ),
    "PCA": (
        _pca,
        "by solver: none for 'covariance_eigh' (what 'auto' picks for n_samples >= "
        "10 n_features, n_features <= 1000); 3x X for 'full' (2x with copy=False), "
        "plus a workspace of 4 min(n_samples, n_features)^2 values; 1x X plus 3 "
        "n_samples x (n_components + 10) blocks for 'randomized'",
    ),
    "StandardScaler": (
        _standard_scaler,
        "9 bytes per value (1.1x a float64 X, 2.3x a float32 X)",
    ),
    "IncrementalPCA": (
        lambda params, n, f, dtype: _Own(
            1.1, "it validates X into a copy (copy=True) before its batches"
        ),
        "1.1x X",
    ),
    "MaxAbsScaler": (
        lambda params, n, f, dtype: _Own(1.0, "fit computes abs(X), an X-sized array"),
        "1x X",
    ),
    "GaussianNB": (
        lambda params, n, f, dtype: _Own(
            1.0, "it computes per-class means and variances on copies"
        ),
        "1x X",
    ),
    "LogisticRegression": (
        _logistic_regression,
        "by solver: none for lbfgs, sag, saga; 1.1x X for newton-cholesky; up to "
        "2x X for newton-cg; 2x a float64 X for liblinear (its own copy in C)",
    ),
    "LinearSVC": (_linear_svc, "2x X (liblinear's own copy in C)"),
    "LinearSVR": (_linear_svc, "2x X (liblinear's own copy in C)"),
    "LogisticRegressionCV": (
        lambda params, n, f, dtype: _Own(
            1.0, "each fold copies its training and test rows (fancy indexing)"
        ),
        "1x X (each fold's rows)",
    ),
    "ARDRegression": (
        lambda params, n, f, dtype: _plus(
            _centering(params),
            1.0,
            "each iteration copies the columns of X still in the model (all of "
            "them at first)",
        ),
        "2x X (a centered copy, and the columns still in the model)",
    ),
    # libsvm points into X; what it keeps is a copy of the rows that become
    # support vectors, which the data decides (all of them for random labels)
    "BaseLibSVM": (
        lambda params, n, f, dtype: _Own(
            1.0,
            "it keeps its support vectors: a copy of the rows of X that become "
            "support vectors",
            up_to=True,
        ),
        "up to 1x X (its support vectors)",
    ),
}
# Parameter changes that leave the fitted model as it is (a solver of the
# same problem, whether X is copied first), tried as remedies: one is named
# only if it lowers the amount the registry measured. Lasso's, KMeans' and
# Ridge's copy_X/copy_x lower nothing while they center (the centering then
# writes X's pages), but everything when they do not.
_REMEDIES = {
    "_BaseRidge": (("solver", "cholesky"), ("copy_X", False)),
    "ElasticNet": (("copy_X", False),),
    "LinearRegression": (("copy_X", False),),
    "BayesianRidge": (("copy_X", False),),
    "_BaseKMeans": (("copy_x", False),),
    # covariance_eigh only where PCA's own "auto" would pick it (tall and
    # narrow X): elsewhere its n_features^2 matrix is no saving
    "PCA": (
        ("svd_solver", "covariance_eigh", lambda n, f: f <= 1_000 and n >= 10 * f),
        ("copy", False),
    ),
}
# A remedy is named when it saves at least this much of X: less is within
# what the audit can tell apart (its tolerance).
_REMEDY_MIN_SAVING = 0.25

_registry = {}  # classes registered with register_layout


def register_layout(cls, layout):
    """Declare the no-copy layout of an estimator class (and its subclasses).

    Parameters
    ----------
    cls : type
        An estimator class.
    layout : Layout or None
        Its layout. ``None`` removes a registration.

    See Also
    --------
    layout_for
        Look a layout up.
    audit
        Measure the layout an estimator reads without a copy.
    Layout
        What a layout says.

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

    See Also
    --------
    own_copies
        The copies no layout avoids.
    register_layout
        Declare the layout of an estimator class.
    audit
        Measure it.
    MemmapEstimator
        Fits an estimator on X in this layout.

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
    'float64 or float32 Fortran or C'
    >>> layout_for(Lasso(fit_intercept=False, copy_X=False)).describe()
    'float64 or float32 Fortran'
    >>> layout_for(make_pipeline(StandardScaler(), Lasso())).describe()
    'float64 or float32 C'
    """
    if not (
        isinstance(estimator, type)
        or hasattr(estimator, "fit")
        or hasattr(estimator, "get_params")
    ):
        raise TypeError(
            f"estimator must be a scikit-learn estimator or estimator class, got "
            f"{estimator!r}."
        )
    layout = known_layout(estimator)
    if layout is not None:
        return layout
    cls = _cls(_x_reader(estimator))
    name = cls.__name__
    # audit() fits a clone of an instance: name one the user can write
    instance = f"{name}()" if _constructible(cls) else f"your {name}(...)"
    emit(
        CopyEvent(
            "layout-unknown",
            f"skmemmap does not know which layout {name} reads without a copy, "
            f"so X is passed in the layout it has",
            remedy=f"Measure it with skmemmap.audit({instance}), then declare it "
            f"with skmemmap.register_layout({name}, skmemmap.Layout(dtype, order))",
            estimator=name,
            kind=LAYOUT,
            avoidable=False,
        )
    )
    return _KEEP


def known_layout(estimator):
    """:func:`layout_for` without its LayoutWarning: None when the registry
    does not know the estimator that reads X."""
    if isinstance(estimator, type):
        reader = estimator
    else:
        reader, explicit = _reader_of_x(estimator)
        if explicit is not None:
            return explicit
    layout = _lookup(_BUILTIN, _cls(reader), _registry)
    if callable(layout):  # it depends on the estimator's parameters
        layout = layout(_params_of(reader))
    return layout


@dataclasses.dataclass(frozen=True)
class OwnCopies:
    """What the registry says an estimator copies by itself, for one X.

    Attributes
    ----------
    reader : str
        Class name of the estimator that reads X (inside meta-estimators).
    factor : float
        Extra memory during fit as a multiple of X as the estimator reads it.
    cause : str
        Why, in words.
    up_to : bool
        ``factor`` is an upper bound.
    buffers : int
        Bytes of working buffers that do not grow with X's rows.
    remedy : tuple or None
        ``(parameter, value, factor)``: a parameter value measured to lower
        the copies to ``factor``.
    nbytes : int
        ``factor`` times the bytes of X as the estimator reads it.
    """

    reader: str
    factor: float
    cause: str
    up_to: bool = False
    buffers: int = 0
    remedy: tuple | None = None
    nbytes: int = 0


# The X that own_copies assumes when given none: large, float64.
_DEFAULT_X = (1_000_000, 100, np.float64)


def _params_of(reader):
    """The estimator's parameters, or a class's defaults."""
    if isinstance(reader, type):
        try:
            signature = inspect.signature(reader.__init__)
        except (TypeError, ValueError):
            return {}
        return {
            name: p.default
            for name, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty
        }
    try:
        return reader.get_params(deep=False)
    except Exception:
        return {}


def _constructible(cls):
    """Whether ``cls()`` needs no argument."""
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not inspect.Parameter.empty
        or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for name, p in signature.parameters.items()
        if name != "self"
    )


def own_copy_info(estimator, n_samples=None, n_features=None, dtype=None):
    """The registry's :class:`OwnCopies` for ``estimator`` fitting an X of
    this shape and dtype (as the estimator reads it); defaults: a large
    float64 X."""
    n_samples = _DEFAULT_X[0] if n_samples is None else int(n_samples)
    n_features = _DEFAULT_X[1] if n_features is None else int(n_features)
    dtype = np.dtype(_DEFAULT_X[2] if dtype is None else dtype)
    reader = _x_reader(estimator)
    cls = _cls(reader)
    entry = _lookup(_OWN_COPIES, cls)
    if entry is None:
        return OwnCopies(cls.__name__, 0.0, "")
    params = _params_of(reader)

    def evaluate(params):
        try:
            return entry[0](params, n_samples, n_features, dtype)
        except (TypeError, ValueError, KeyError):  # parameters it cannot read
            return _NONE

    own = evaluate(params)
    remedy = None
    for param, value, *applies in _lookup(_REMEDIES, cls) or ():
        if param not in params or params[param] == value:
            continue
        if applies and not applies[0](n_samples, n_features):
            continue
        reduced = evaluate({**params, param: value}).factor
        best = own.factor if remedy is None else remedy[2]
        if reduced <= best - _REMEDY_MIN_SAVING:
            remedy = (param, value, reduced)
    nbytes = int(own.factor * n_samples * n_features * dtype.itemsize)
    return OwnCopies(
        cls.__name__, own.factor, own.cause, own.up_to, own.buffers, remedy, nbytes
    )


def own_copies(estimator, X=None):
    """``(factor, cause)`` of the copies the X-reading estimator makes by itself.

    These are copies no input layout avoids (Ridge centers a copy of X,
    LinearRegression's least squares copies it again), measured with
    scikit-learn 1.9.1 on X as :class:`~skmemmap.MemmapEstimator` hands it
    over (a copy-on-write map for estimators that write into X), for the
    estimator's parameters as they are (``PCA(svd_solver="full")`` copies
    more than ``PCA()``) and for X's shape and dtype where they matter
    (``HistGradientBoostingClassifier`` stops early above 10,000 rows, and
    converts float32 X to float64). Looks inside meta-estimators as
    :func:`layout_for` does.

    Parameters
    ----------
    estimator : estimator instance or class
    X : array-like of shape (n_samples, n_features), default=None
        X as the estimator reads it (only its shape and dtype are used).
        ``None``: a large float64 X.

    Returns
    -------
    factor : float
        Extra memory during fit as a multiple of X's size; ``0.0`` when none
        is known.
    cause : str
        Why, in words; ``""`` when none is known.

    See Also
    --------
    layout_for
        The layout that avoids the other copies.
    audit
        Measure an estimator's copies.
    forecast
        Adds these copies up for a whole fit or search.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.linear_model import Ridge
    >>> from skmemmap import own_copies
    >>> own_copies(Ridge())[0], own_copies(Ridge(solver="svd"))[0]
    (1.0, 4.0)
    >>> X = np.zeros((20_000, 100))
    >>> full = PCA(10, svd_solver="full")
    >>> own_copies(PCA(10), X)[0], round(own_copies(full, X)[0], 2)
    (0.0, 3.02)
    """
    shape = getattr(X, "shape", None) if X is not None else None
    if X is not None and (shape is None or len(shape) != 2):
        raise ValueError(f"X must be 2-D, got shape {shape}.")
    info = own_copy_info(
        estimator,
        *(shape if shape is not None else (None, None)),
        getattr(X, "dtype", None),
    )
    return info.factor, info.cause


def _x_reader(estimator):
    return estimator if isinstance(estimator, type) else _reader_of_x(estimator)[0]


def _cls(reader):
    return reader if isinstance(reader, type) else type(reader)
