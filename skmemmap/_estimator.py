"""MemmapEstimator: give the wrapped estimator X in its no-copy layout."""

import contextlib
import copy
import dataclasses
import functools
import inspect
import itertools
import re
import sys
import types

import numpy as np
import sklearn
from scipy import sparse
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import get_tags, metadata_routing

# Private: see _output_follows_set_output.
from sklearn.utils._set_output import _get_output_config, _wrap_data_with_container
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    validate_data,
)
from threadpoolctl import threadpool_limits

from skmemmap._array import (
    file_of,
    is_memmap_view,
    mark_fold_fits,
    on_fold_rows,
    set_fold_layout,
)
from skmemmap._chunked import check_aligned
from skmemmap._convert import lay_out
from skmemmap._forecast import check_budget, parse_budget
from skmemmap._input import CHUNKS, FILE, MEMORY, SPARSE, describe_input
from skmemmap._layout import Layout, layout_for, own_copy_info
from skmemmap._layout import _registry as _layout_registry
from skmemmap._resources import warn_if_bigger_than_memory
from skmemmap._signal import (
    LAYOUT,
    CopyEvent,
    begin_call,
    channel_folder,
    cv_fold_inputs,
    dispatching,
    emit,
    in_cv_fold,
    is_worker,
    set_parent_channel,
    sklearn_frame,
)
from skmemmap._split import announce_subsampling, is_search, refuse_copied_folds
from skmemmap._utils import parse_nbytes
from skmemmap.exceptions import CopyError

__all__ = ["MemmapEstimator"]

_ON_COPY = ("warn", "raise", "ignore")


# The tags a wrapper takes from the estimator it wraps (see
# MemmapEstimator.__sklearn_tags__).
WRAPPED_TAGS = (
    "estimator_type",
    "input_tags",
    "target_tags",
    "classifier_tags",
    "regressor_tags",
    "transformer_tags",
    "non_deterministic",
    "no_validation",
    "_skip_test",
)


def inherit_tags(tags, estimator):
    """``tags`` (a wrapper's) with ``estimator``'s WRAPPED_TAGS."""
    inner = get_tags(estimator)
    for field in WRAPPED_TAGS:
        setattr(tags, field, getattr(inner, field))
    return tags


def _estimator_has(attr):
    """Check the fitted estimator if there is one, else the unfitted one."""

    def check(self):
        getattr(
            self.estimator_ if hasattr(self, "estimator_") else self.estimator, attr
        )
        return True

    return check


# scikit-learn before 1.8 builds the scorer of scoring=None from a search's
# estimator's *own* score request (metrics/_scorer.py, _PassthroughScorer),
# not from a meta-estimator's routing: a search of a wrapper would then score
# without sample_weight where the bare estimator's search weights it.
_SKLEARN_BEFORE_1_8 = tuple(
    int(n) for n in re.match(r"(\d+)\.(\d+)", sklearn.__version__).groups()
) < (1, 8)


def _mirror_score_request(cls):
    """On scikit-learn < 1.8, give ``cls`` (a wrapper routing ``score`` to its
    ``estimator``) the wrapped estimator's score request as its own."""
    if not _SKLEARN_BEFORE_1_8:
        return cls

    def _metadata_request(self):
        requests = self._get_default_requests()
        inner = getattr(self.estimator, "_get_metadata_request", None)
        if inner is not None:
            requests.score = copy.deepcopy(inner().score)
        return requests

    cls._metadata_request = property(_metadata_request)
    return cls


# Estimators whose n_jobs runs threads, not processes: they never hand X to
# another process (forests and neighbors use joblib's threading backend).
_THREADED = ("BaseForest", "NeighborsBase", "IsolationForest")


def _hands_x_to_other_processes(estimator, _depth=0):
    """Whether fitting ``estimator`` sends X to other processes, or slices it by
    cross-validation: a search, a ``*CV`` or ``cv=`` estimator, a
    process-parallel ensemble, or a Pipeline or meta-estimator holding one.
    Then a file of X, mapped once, serves every fold and worker as views."""
    try:
        params = estimator.get_params(deep=False)
    except Exception:
        return False
    if "cv" in params:
        return True
    n_jobs = params.get("n_jobs")
    if n_jobs not in (None, 1) and not any(
        klass.__name__ in _THREADED for klass in type(estimator).__mro__
    ):
        return True
    if _depth > 10:
        return False
    inner = []
    for value in params.values():
        if hasattr(value, "get_params") and hasattr(value, "fit"):
            inner.append(value)
        elif isinstance(value, (list, tuple)):
            inner += [
                step[-1] if isinstance(step, tuple) else step
                for step in value
                if hasattr(step[-1] if isinstance(step, tuple) else step, "fit")
            ]
    return any(_hands_x_to_other_processes(e, _depth + 1) for e in inner)


# scikit-learn's set_output machinery. Its public face, TransformerMixin's
# _SetOutputMixin, cannot be inherited here: it rebinds transform and
# fit_transform without their available_if checks, so every MemmapEstimator
# would look like a transformer. These two private helpers are what that mixin
# calls (imported above); they are the only place the container rules (pandas,
# polars, global config, sparse errors) are defined.
def _output_follows_set_output(method):
    """``method`` (an ``available_if`` descriptor) with its output in the
    container chosen by ``set_output`` or ``transform_output``.

    The wrapped estimator runs with default (ndarray) output and the wrapper
    builds the container, as a bare transformer does from its own input: with
    X's row index and the wrapper's feature names, whatever X became on the
    way (a file, row blocks) before the wrapped estimator saw it.
    """
    func = method.fn

    @functools.wraps(func)
    def wrapped(self, X, *args, **kwargs):
        if sklearn.get_config()["transform_output"] == "default" and (
            _get_output_config("transform", self)["dense"] == "default"
        ):
            return func(self, X, *args, **kwargs)
        # Also under a global "pandas" with this wrapper set to "default": the
        # wrapped estimator must not build a frame of its own (without X's
        # index or column names) where the bare estimator returns an array.
        with sklearn.config_context(transform_output="default"):
            out = func(self, X, *args, **kwargs)
        if isinstance(out, tuple):  # (X_new, y_new) of cross decompositions
            return (_wrap_data_with_container("transform", out[0], X, self), *out[1:])
        return _wrap_data_with_container("transform", out, X, self)

    return available_if(method.check)(wrapped)


class MemmapEstimator(MetaEstimatorMixin, BaseEstimator):
    """Fit an estimator on X in the memory layout it reads without copying.

    Each scikit-learn estimator reads X without a copy only in its own
    layout: tree ensembles in float32, coordinate-descent models in float64
    Fortran order, most other linear models in float64 C order (see
    :func:`~skmemmap.layout_for`). Anything else is converted, silently, in
    every worker and for every candidate of a search. ``MemmapEstimator``
    gives the wrapped estimator X in its layout:

    * a :class:`~skmemmap.MemmapArray` in another layout is converted **once
      per file** into a sibling file, and the same rows are taken from the
      sibling as a view. Every later fit on the same file reuses the sibling:
      other candidates, other folds, other worker processes;
    * in-memory X is written once to a file in the target layout (block by
      block) and mapped only where that saves memory: when the wrapped
      estimator hands X to other processes or slices it by cross-validation
      (a search, a ``*CV`` or ``cv=`` estimator, a process-parallel
      ensemble, or a Pipeline holding one): wrapping the whole search,
      ``MemmapEstimator(GridSearchCV(...)).fit(X, y)``, is the automatic way
      to give every fold in every worker a view of one file. When only this
      process reads X and the estimator reads it as it is, nothing is
      written; when it must be converted anyway and is larger than
      ``max_nbytes``, it is converted into a file (measured: the same fit
      time, 0.10x X of private memory instead of 0.58x X in memory, see
      ``benchmarks/convert_memory_or_file.py``);
    * estimators that write into X get a copy-on-write map of the same file:
      only the pages they write are copied, the file never changes.

    Parameters
    ----------
    estimator : estimator object
        The estimator to fit. It is cloned in :meth:`fit`.
    layout : "auto" or Layout, default="auto"
        ``"auto"`` uses :func:`~skmemmap.layout_for` on ``estimator``.
    folder : str or path-like, default=None
        Base folder for converted files (see :func:`skmemmap.memmap`).
    max_nbytes : int or str, default="1M"
        In-memory X (or a strided view of a file) that must be converted for
        the estimator is converted into a file when larger than this, in
        memory otherwise. ``None`` always converts in memory.
    on_copy : {"warn", "raise", "ignore"}, default="warn"
        What to do about each copy skmemmap makes or knows the estimator will
        make: report it (one :class:`~skmemmap.CopyWarning` per cause when
        the call ends, see :func:`~skmemmap.copy_report`), raise
        :class:`~skmemmap.CopyError` before an avoidable copy is made (strict
        mode: in-memory X in a cross-validation, a layout conversion, a fold
        that is not one block of rows, a parameter value measured to lower
        the estimator's own copies; inside a search or a ``cross_*``
        function, the folds are checked when the search clones this
        estimator, so the call ends with the CopyError before any fold is
        taken; the estimator's own unavoidable copies are warned about, not
        raised), or neither record nor warn. Copies smaller than the
        ``warn_nbytes`` setting (1 MB by default) are recorded, not warned
        about.
    blas_threads : int, default=None
        If set, limits BLAS and OpenMP threads to this number during fit and
        predict (with threadpoolctl).
    max_memory : int, str or None, default=None
        A budget for the peak memory of ``fit``: bytes, a string such as
        ``"8GB"`` or ``"500MB"``, or ``"auto"`` for the memory this process
        may use (the cgroup limit or ``MemAvailable``). When
        :func:`~skmemmap.forecast` says the fit would exceed it, ``fit``
        raises :class:`~skmemmap.MemoryBudgetError` before anything is fit
        or written, naming the changes that would fit. ``None``: no budget.

    Attributes
    ----------
    estimator_ : estimator object
        The fitted clone of ``estimator``.
    layout_ : Layout
        The layout handed to the estimator: ``layout``, or
        ``layout_for(estimator)`` for ``"auto"``. X is given to the wrapped
        estimator in it, in its own dtype and order where the layout accepts
        them.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X is a DataFrame with string
        column names.
    classes_ : ndarray
        The wrapped classifier's classes (classifiers only).

    See Also
    --------
    StreamingEstimator : Fit an incremental estimator on X block by block.
    ContiguousKFold : Folds of contiguous rows, whose training sets stay views.
    forecast : The peak memory of a fit, before running it.
    layout_for : The layout an estimator reads without a copy.
    memmap : Write X to a file once, in a given layout.
    copy_report : Record the copies of the calls inside a block.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = skmemmap.memmap(rng.rand(100, 4).astype(np.float32), order="F")
    >>> y = (X[:, 0] > 0.5).astype(int)
    >>> model = skmemmap.MemmapEstimator(RandomForestClassifier(n_estimators=5,
    ...                                                         random_state=0))
    >>> model.fit(X, y).layout_.describe()
    'float32 Fortran or C'
    >>> model.predict(X[:3])
    array([1, 0, 1])
    """

    def __init__(
        self,
        estimator,
        *,
        layout="auto",
        folder=None,
        max_nbytes="1M",
        on_copy="warn",
        blas_threads=None,
        max_memory=None,
    ):
        self.estimator = estimator
        self.layout = layout
        self.folder = folder
        self.max_nbytes = max_nbytes
        self.on_copy = on_copy
        self.blas_threads = blas_threads
        self.max_memory = max_memory

    # -- parameters, tags, routing ---------------------------------------------
    def _check_params(self):
        if not hasattr(self.estimator, "fit") or isinstance(self.estimator, type):
            raise TypeError(
                f"estimator must be a scikit-learn estimator instance (with fit), "
                f"got {self.estimator!r}. Pass one, e.g. "
                f"MemmapEstimator(LogisticRegression())."
            )
        if not (self.layout == "auto" or isinstance(self.layout, Layout)):
            raise ValueError(
                f"layout must be 'auto' or a skmemmap.Layout, got {self.layout!r}."
            )
        if self.on_copy not in _ON_COPY:
            raise ValueError(
                f"on_copy must be one of {_ON_COPY}, got {self.on_copy!r}."
            )
        if self.blas_threads is not None and (
            not isinstance(self.blas_threads, (int, np.integer))
            or isinstance(self.blas_threads, bool)
            or self.blas_threads < 1
        ):
            raise ValueError(
                "blas_threads must be None or a positive int, got "
                f"{self.blas_threads!r}."
            )
        parse_nbytes(self.max_nbytes, "max_nbytes")
        if self.max_memory != "auto":
            parse_budget(self.max_memory)

    def _resolved_layout(self):
        return layout_for(self.estimator) if self.layout == "auto" else self.layout

    def __sklearn_tags__(self):
        # What the wrapped estimator accepts and predicts is what the wrapper
        # accepts and predicts: it adds no validation of its own beyond the
        # feature count and names. get_tags builds the wrapped estimator's
        # tags afresh on each call, so these are the wrapper's own.
        # scikit-learn 1.9 has no tag for expected check failures (the old
        # _xfail_checks is gone): those are passed to check_estimator /
        # parametrize_with_checks as expected_failed_checks (see
        # tests/test_common.py). _skip_test is the one check-related tag:
        # an estimator scikit-learn must not check (FrozenEstimator) is not
        # checked through the wrapper either.
        return inherit_tags(super().__sklearn_tags__(), self.estimator)

    def get_metadata_routing(self):
        """Route metadata to the wrapped estimator's methods of the same name.

        Returns
        -------
        routing : MetadataRouter
        """
        mapping = MethodMapping()
        for method in (
            "fit",
            "partial_fit",
            "predict",
            "predict_proba",
            "predict_log_proba",
            "decision_function",
            "score",
            "transform",
            "inverse_transform",
        ):
            mapping.add(caller=method, callee=method)
        mapping.add(caller="fit_transform", callee="fit")
        mapping.add(caller="fit_transform", callee="transform")
        mapping.add(caller="fit_predict", callee="fit")
        mapping.add(caller="fit_predict", callee="predict")
        return MetadataRouter(owner=self).add(
            estimator=self.estimator, method_mapping=mapping
        )

    def _route(self, method, params):
        # score_samples is not a method scikit-learn's routing knows: its
        # parameters pass straight through, as without routing.
        if method != "score_samples" and sklearn.get_config().get(
            "enable_metadata_routing", False
        ):
            return process_routing(self, method, **params).estimator
        return None

    # -- preparing X -----------------------------------------------------------
    def _emit(self, event, X=None):
        """Report a copy (or a layout notice) to the copy signal: workers log it
        for the calling process, which warns once per cause per call."""
        mapped = file_of(X)
        if mapped is not None and event.family is None:
            event = dataclasses.replace(event, family=mapped.family)
        emit(
            event,
            folder=mapped.cache_folder if mapped else None,
            channel=getattr(self, "_skm_channel", None),
            on_copy=self.on_copy,
        )

    def _in_worker(self):
        return is_worker(channel=getattr(self, "_skm_channel", None))

    def _threads(self):
        if self.blas_threads is None:
            return contextlib.nullcontext()
        return threadpool_limits(limits=self.blas_threads)

    def _shares(self, inp):
        """Whether fit writes in-memory X to a file for other processes."""
        return (
            inp.kind == MEMORY
            and not self._in_worker()
            and _hands_x_to_other_processes(self.estimator)
        )

    def _prepare_fit(self, inp):
        """X in the target layout, and the own copies reported if deferred."""
        Xp = self._layout_fit_input(inp)
        if getattr(self, "_skm_own_deferred", False):
            self._skm_own_deferred = False
            self._report_own_copies(inp, Xp)
        return Xp

    def _layout_fit_input(self, inp):
        """X in the target layout: a view of a file where that saves memory."""
        X, layout = inp.X, self.layout_
        name = type(self.estimator).__name__
        share = False
        if inp.kind == SPARSE:
            self._emit(
                CopyEvent(
                    "sparse",
                    f"X is a sparse matrix: MemmapEstimator passes it to {name} as it "
                    f"is, not memory-mapped (memory maps hold dense arrays)",
                    estimator=name,
                    kind=LAYOUT,
                    avoidable=False,
                )
            )
            return X
        if inp.kind == FILE:
            self._refuse_gathered(inp)
        elif inp.kind == CHUNKS:
            if not self._in_worker() and _hands_x_to_other_processes(self.estimator):
                return X  # a search's folds of a chunk list are chunk pieces
            # The estimator needs one array: the rows are gathered once, into
            # its layout (X's own if skmemmap does not know it).
            X.refuse_consolidation(f"{name} (in MemmapEstimator)")
        elif inp.kind == MEMORY:
            if not inp.frame and in_cv_fold():
                self._report_fold(inp)
            share = self._shares(inp)
        else:
            return X  # not something we map: the estimator validates it itself
        Xp = self._file_view(inp, layout, share=share)
        if inp.kind != MEMORY:
            warn_if_bigger_than_memory(self, Xp)
        return Xp

    def _report_fold(self, inp):
        """In-memory X in a CV fold: say whose copy it is, once.

        The fold itself, taken from in-memory X: scikit-learn's indexing
        copied it. Taken from a MemmapArray: skmemmap's indexing copied the
        rows and reported them already. Anything else is the output of an
        earlier pipeline step, new memory that step wrote (X may well be
        mapped): that step's copy, which no remedy here avoids.
        """
        name = type(self.estimator).__name__
        source, fold = cv_fold_inputs() or (None, None)
        if fold is not None and not np.may_share_memory(inp.X, fold):
            step = _step_before(self)
            self._emit(
                CopyEvent(
                    "step-output",
                    f"{step} wrote its output for {name} into new memory in this fold",
                    inp.nbytes,
                    "",
                    f"{step} is the pipeline step before {name}: its transform "
                    f"returns a new in-memory array of the fold's rows, whether X is "
                    f"mapped or not (the folds of a mapped X are views)",
                    avoidable=False,
                    estimator=step,
                    shape=inp.shape,
                )
            )
            return
        if is_memmap_view(source):
            return  # the rows were copied, and reported, by X's own indexing
        self._emit(
            CopyEvent(
                "in-memory-folds",
                f"scikit-learn copied the training rows of in-memory X for {name}",
                inp.nbytes,
                "Map it once: skmemmap.memmap(X), or fit MemmapEstimator(search)",
                "X is not a skmemmap.MemmapArray, so scikit-learn's fancy "
                "indexing copies every fold, for every candidate, in every worker",
                shape=inp.shape,
            )
        )

    def _file_view(self, inp, layout, *, share=False):
        """X in ``layout`` through skmemmap._convert.lay_out, the copy reported."""

        def report(conversion):
            self._emit(self._conversion_event(conversion), inp.X)

        strict = self.on_copy == "raise"
        view, conversion = lay_out(
            inp,
            layout,
            folder=self.folder,
            max_nbytes=parse_nbytes(self.max_nbytes, "max_nbytes"),
            share=share,
            check=report if strict else None,  # raises before the copy
        )
        if conversion is not None and not strict:
            report(conversion)
        return view

    def _conversion_event(self, conversion):
        """The CopyEvent of a copy ``lay_out`` made, in the words of its kind."""
        name = type(self.estimator).__name__
        src, dst = conversion.src, conversion.dst
        call = (
            f"skmemmap.memmap(X, dtype='{conversion.dtype.name}', "
            f"order='{conversion.order}')"
        )
        reads = f"{name} reads {dst} without a copy and X is {src}"
        cause, what, remedy, why = {
            "map": (
                "in-memory",
                f"In-memory X written once to a {dst} file for the folds and "
                f"workers of {name}",
                f"Map it yourself to reuse the file: {call}",
                f"{name} hands X to other processes or slices it by "
                f"cross-validation; one file mapped by all of them costs less "
                f"than the copies scikit-learn makes of in-memory X",
            ),
            "to-file": (
                "convert",
                f"Rows of X ({src}) written to a {dst} file for {name}",
                f"Map it so once: {call}",
                f"{name} reads {dst}; X is not a run of whole rows of a file in "
                f"that layout, so no converted file of its source can serve it",
            ),
            "memory-to-file": (
                "convert",
                f"In-memory X converted from {src} to a {dst} file for {name}",
                f"Map it so once: {call}",
                f"{reads}; converted into a file, the copy is page cache that the "
                f"kernel can reclaim, not private memory (X larger than max_nbytes)",
            ),
            "sibling": (
                "convert",
                f"X converted from {src} to {dst} for {name}",
                f"Map it so once: {call}",
                f"{reads}; the converted file is written once, and every fold, "
                f"candidate and worker on the same X reuses it",
            ),
            "in-memory": (
                "convert",
                f"X converted from {src} to {dst} in memory for {name}",
                f"Map it so once: {call}",
                reads,
            ),
            "gather": (
                "gather",
                f"Rows of a chunk list gathered into a {dst} file for {name}",
                f"StreamingEstimator({name}) reads the chunk pieces block by block "
                f"without a copy"
                if hasattr(self.estimator, "partial_fit")
                else "",
                f"{name} needs X as one array and these rows lie in several chunk "
                f"files; they were written once, in the layout {name} reads, for "
                f"every candidate and worker to reuse",
            ),
        }[conversion.kind]
        return CopyEvent(
            cause,
            what,
            conversion.nbytes,
            remedy,
            why,
            on_disk=conversion.on_disk,
            quiet=conversion.kind == "map",
            estimator=name,
        )

    def _refuse_gathered(self, inp):
        """Strict mode: a training set gathered into a file is an avoidable copy."""
        if self.on_copy != "raise" or not inp.gathered:
            return
        raise CopyError(
            f"The rows given to {type(self.estimator).__name__} were gathered into "
            f"a file ({inp.shape[0]} rows): they are not one contiguous block of X. "
            f"Use contiguous folds: skmemmap.ContiguousKFold(2), after "
            f"skmemmap.shuffle(X, y) if rows are ordered."
        )

    def _report_own_copies(self, inp, Xp=None):
        """The copies the wrapped estimator makes by itself, for X as it gets
        it (``Xp``, the file X was written to, if it was)."""
        if inp.kind not in (FILE, CHUNKS, MEMORY):
            return
        dtype = self.layout_.target_dtype(inp.dtype)
        event = own_copy_event(self.estimator, inp.shape, dtype, inp.dtype)
        if event is not None:
            self._emit(event, inp.X if Xp is None else Xp)

    @contextlib.contextmanager
    def _fold_fits_reported(self, Xp):
        """While a search this wrapper runs fits folds of ``Xp`` (in workers),
        the own copies of each fold's fit are reported where the fold is taken,
        as a MemmapEstimator wrapping the search's estimator would report them."""
        mapped = file_of(Xp)
        if (
            mapped is None
            or not mapped.cache_folder
            or self.on_copy == "ignore"
            or self._in_worker()
            or not _hands_x_to_other_processes(self.estimator)
        ):
            yield
            return
        with mark_fold_fits(mapped):
            yield

    # -- fitting -----------------------------------------------------------------
    def fit(self, X, y=None, **fit_params):  # see _FitSignature below the class
        """Fit the wrapped estimator on X in its no-copy layout.

        Parameters
        ----------
        X : array-like, MemmapArray or ChunkedArray of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Target values.
        **fit_params : dict
            Passed to the wrapped estimator's ``fit`` (routed when metadata
            routing is enabled).

        Returns
        -------
        self : object
        """
        self._check_params()
        routed = self._route("fit", fit_params)
        if routed is not None:
            fit_params = routed.fit
        inp = self._fit_start(X)
        if y is not None and inp.kind in (FILE, CHUNKS, MEMORY):
            # scikit-learn's own check and message, made before X is written
            # or converted to a file rather than after.
            check_consistent_length(X, y)
            check_aligned(X, y)
        if self.on_copy == "raise" and is_search(self.estimator):
            search = self.estimator  # its folds, before X is written or sliced
            groups = fit_params.get("groups")
            refuse_copied_folds(self, call=(search, search.cv, X, y, groups))
        Xp = self._prepare_fit(inp)
        self.estimator_ = clone(self.estimator)
        with self._threads(), self._fold_fits_reported(Xp):
            self.estimator_.fit(Xp, y, **fit_params)
        return self

    def _fit_start(self, X):
        """The checks and reports before a first fit; X described, once."""
        inp = describe_input(X)
        if self.max_memory is not None and not self._in_worker() and not in_cv_fold():
            check_budget(self, inp, max_memory=self.max_memory)  # before any write
        if not self._in_worker():
            # The call's scope opens before any worker logs a copy.
            begin_call(trace=dispatching())
        self.layout_ = self._resolved_layout()
        if inp.two_d:
            validate_data(self, X, reset=True, skip_check_array=True)
        elif hasattr(self, "n_features_in_"):
            del self.n_features_in_
        # In-memory X that the wrapper writes to a file for a search: reported
        # once X is that file, so that the folds' own copies (reported where
        # each fold is taken, see _fold_fits_reported) join the same cause.
        self._skm_own_deferred = self._shares(inp)
        if not self._skm_own_deferred:
            self._report_own_copies(inp)
        return inp

    @available_if(_estimator_has("partial_fit"))
    def partial_fit(self, X, y=None, **partial_fit_params):
        """Incrementally fit the wrapped estimator (created on the first call).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
        **partial_fit_params : dict
            Passed to the wrapped estimator's ``partial_fit``.

        Returns
        -------
        self : object
        """
        self._check_params()
        routed = self._route("partial_fit", partial_fit_params)
        if routed is not None:
            partial_fit_params = routed.partial_fit
        if not hasattr(self, "estimator_"):
            inp = self._fit_start(X)
            self.estimator_ = clone(self.estimator)
        else:
            inp = describe_input(X)
            if inp.two_d:
                validate_data(self, X, reset=False, skip_check_array=True)
        Xp = self._prepare_fit(inp)
        with self._threads():
            self.estimator_.partial_fit(Xp, y, **partial_fit_params)
        return self

    @available_if(_estimator_has("fit_transform"))
    def fit_transform(self, X, y=None, **fit_params):
        """Fit on X in its no-copy layout, then return the transformed X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like, default=None
        **fit_params : dict

        Returns
        -------
        X_new : ndarray or DataFrame
            A DataFrame when :meth:`set_output` asks for one.
        """
        self._check_params()
        routed = self._route("fit_transform", fit_params)
        if routed is not None:
            fit_params = routed.fit
        Xp = self._prepare_fit(self._fit_start(X))
        self.estimator_ = clone(self.estimator)
        with self._threads():
            return self.estimator_.fit_transform(Xp, y, **fit_params)

    @available_if(_estimator_has("fit_predict"))
    def fit_predict(self, X, y=None, **fit_params):
        """Fit on X in its no-copy layout, then return predictions for X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like, default=None
        **fit_params : dict

        Returns
        -------
        y_pred : ndarray
        """
        self._check_params()
        routed = self._route("fit_predict", fit_params)
        if routed is not None:
            fit_params = routed.fit
        Xp = self._prepare_fit(self._fit_start(X))
        self.estimator_ = clone(self.estimator)
        with self._threads():
            return self.estimator_.fit_predict(Xp, y, **fit_params)

    # -- predicting --------------------------------------------------------------
    def _call(self, method, X, **params):
        """``estimator_.method`` on X in its layout (in row blocks if converting)."""
        check_is_fitted(self)
        routed = self._route(method, params)
        if routed is not None:
            params = getattr(routed, method)
        inp = describe_input(X)
        if inp.two_d:
            validate_data(self, X, reset=False, skip_check_array=True)
        func = getattr(self.estimator_, method)
        layout = self.layout_
        with self._threads():
            if layout.keeps_input or inp.kind not in (FILE, CHUNKS, MEMORY):
                return func(X, **params)
            if inp.kind == FILE:
                return func(
                    self._file_view(inp, Layout(layout.dtype, layout.order)), **params
                )
            if inp.frame and hasattr(self.estimator_, "feature_names_in_"):
                return func(X, **params)
            dtype, order = inp.target(layout)
            if inp.kind == CHUNKS and not layout.orders:
                order = "C"  # a chunk list's blocks are read into rows
            if inp.has(dtype, order):
                return func(X, **params)
            return _in_blocks(func, inp, dtype, order, params)

    @available_if(_estimator_has("predict"))
    def predict(self, X, **predict_params):
        """Predict with the wrapped estimator, feeding X in its layout.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        **predict_params : dict

        Returns
        -------
        y_pred : ndarray
        """
        return self._call("predict", X, **predict_params)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X, **params):
        """Class probabilities from the wrapped estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        **params : dict

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return self._call("predict_proba", X, **params)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X, **params):
        """Log class probabilities from the wrapped estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        **params : dict

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return self._call("predict_log_proba", X, **params)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X, **params):
        """Decision function of the wrapped estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        **params : dict

        Returns
        -------
        scores : ndarray
        """
        return self._call("decision_function", X, **params)

    @available_if(_estimator_has("score_samples"))
    def score_samples(self, X, **params):
        """Per-sample scores of the wrapped estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        **params : dict

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        return self._call("score_samples", X, **params)

    @available_if(_estimator_has("transform"))
    def transform(self, X, **params):
        """Transform X with the wrapped estimator, feeding X in its layout.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        **params : dict

        Returns
        -------
        X_new : ndarray or DataFrame
            A DataFrame when :meth:`set_output` asks for one.
        """
        return self._call("transform", X, **params)

    @available_if(_estimator_has("inverse_transform"))
    def inverse_transform(self, X, **params):
        """Inverse transform with the wrapped estimator (X passed as is).

        Parameters
        ----------
        X : array-like
        **params : dict

        Returns
        -------
        X_original : ndarray
        """
        check_is_fitted(self)
        routed = self._route("inverse_transform", params)
        if routed is not None:
            params = routed.inverse_transform
        with self._threads():
            return self.estimator_.inverse_transform(X, **params)

    # score's sample_weight is routed to the wrapped estimator, never consumed
    # here; UNUSED keeps scikit-learn from generating a set_score_request on
    # the wrapper itself (LogisticRegressionCV does the same).
    __metadata_request__score = {"sample_weight": metadata_routing.UNUSED}

    @available_if(_estimator_has("score"))
    def score(self, X, y=None, sample_weight=None, **params):
        """Score of the wrapped estimator on X: a MemmapArray in the layout,
        other X as it is.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like, default=None
            True values for X.
        sample_weight : array-like of shape (n_samples,), default=None
            If not None, passed as ``sample_weight`` to the wrapped estimator's
            ``score``. Declaring it here is what makes scikit-learn's searches
            weight their scores when they are fitted with ``sample_weight``,
            as they do for the bare estimator.
        **params : dict
            Other parameters of the wrapped estimator's ``score`` (routed when
            metadata routing is enabled, passed as they are otherwise).

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        if sample_weight is not None:
            params = {**params, "sample_weight": sample_weight}
        routed = self._route("score", params)
        if routed is not None:
            params = routed.score
        inp = describe_input(X)
        if inp.two_d:
            validate_data(self, X, reset=False, skip_check_array=True)
        Xp = X
        if inp.kind == FILE and not self.layout_.keeps_input:
            Xp = self._file_view(inp, Layout(self.layout_.dtype, self.layout_.order))
        with self._threads():
            return self.estimator_.score(Xp, y, **params)

    # -- pickling ----------------------------------------------------------------------
    def __getstate__(self):
        state = super().__getstate__()
        # Layouts registered with register_layout live in this process's
        # registry; they travel with the estimator so that worker processes
        # resolve layout="auto" exactly as the parent does.
        if _layout_registry:
            state = {**state, "_skm_registry": dict(_layout_registry)}
        # During a call, a worker logs its copies in the caller's folder, for
        # the caller to warn about when the call ends (skmemmap._signal).
        state.pop("_skm_channel", None)
        channel = getattr(self, "_skm_channel", None) or channel_folder()
        if channel is not None:
            state = {**state, "_skm_channel": channel}
        return state

    def __setstate__(self, state):
        registry = state.pop("_skm_registry", None)
        for cls, layout in (registry or {}).items():
            _layout_registry.setdefault(cls, layout)
        channel = state.get("_skm_channel")
        if channel is not None:
            set_parent_channel(channel)
        super().__setstate__(state)

    def __sklearn_clone__(self):
        # Searches and cross_* functions clone the estimator in the calling
        # process before dispatching any fit: the call's scope opens here, so
        # copies that only workers make are still warned about when it ends.
        if not self._in_worker():
            begin_call(trace=dispatching())
            if self.on_copy == "raise":
                # before any fold is taken: a gather would write its file
                refuse_copied_folds(self)
            elif self.on_copy == "warn":
                announce_subsampling()
        return super().__sklearn_clone__()

    # -- delegated attributes --------------------------------------------------------
    @property
    def classes_(self):
        """Classes of the wrapped classifier."""
        check_is_fitted(self)
        return self.estimator_.classes_

    @available_if(_estimator_has("get_feature_names_out"))
    def get_feature_names_out(self, input_features=None):
        """Output feature names of the wrapped estimator.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Input feature names. By default, the names seen in :meth:`fit`
            (``feature_names_in_``), even when X reached the wrapped estimator
            as a file without them; else the wrapped estimator's defaults.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        names_in = getattr(self, "feature_names_in_", None)
        if input_features is None:
            input_features = names_in
        elif names_in is not None and not np.array_equal(
            np.asarray(input_features, dtype=object), names_in
        ):
            raise ValueError("input_features is not equal to feature_names_in_")
        return self.estimator_.get_feature_names_out(input_features)

    # set_output's container applies to transform and fit_transform (the
    # attribute scikit-learn's _auto_wrap_is_configured looks for).
    _sklearn_auto_wrap_output_keys = {"transform"}

    @available_if(_estimator_has("set_output"))
    def set_output(self, *, transform=None):
        """Set the output container of :meth:`transform` and :meth:`fit_transform`.

        The wrapped estimator keeps producing arrays; this wrapper builds the
        container from them, with X's index and :meth:`get_feature_names_out`.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"}, default=None
            ``"default"``: the wrapped estimator's own output; ``"pandas"`` or
            ``"polars"``: a DataFrame; ``None``: unchanged.

        Returns
        -------
        self : MemmapEstimator
        """
        if transform is not None:
            config = getattr(self, "_sklearn_output_config", {})
            self._sklearn_output_config = {**config, "transform": transform}
        return self

    transform = _output_follows_set_output(transform)
    fit_transform = _output_follows_set_output(fit_transform)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "estimator_")


class _FitSignature:
    """``fit``, whose signature declares ``sample_weight`` exactly when the
    wrapped estimator's ``fit`` (or the ``method`` fit calls) does.

    scikit-learn reads whether an estimator takes sample weights from the
    signature of its ``fit`` (``has_fit_parameter``: AdaBoost, bagging,
    ``check_estimator``'s sample-weight checks). ``fit(X, y, **fit_params)``
    forwards ``sample_weight`` but does not say so; declaring it always would
    claim it for estimators that have none. So ``wrapper.fit`` is bound, per
    instance, to a function that declares it when the wrapped estimator does.
    On the class, ``MemmapEstimator.fit`` is the plain function (what
    metadata routing and the documentation read): the wrapper routes
    ``sample_weight`` to the wrapped estimator, it does not consume it.
    """

    def __init__(self, plain, method="fit"):
        self._plain = plain
        self._method = method
        functools.update_wrapper(self, plain)

        def weighted(self, X, y=None, sample_weight=None, **fit_params):
            if sample_weight is not None:
                fit_params["sample_weight"] = sample_weight
            return plain(self, X, y, **fit_params)

        signature = inspect.signature(weighted)
        functools.update_wrapper(weighted, plain)
        weighted.__signature__ = signature  # not plain's, which wraps sets
        self._weighted = weighted

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self._plain
        method = getattr(getattr(obj, "estimator", None), self._method, None)
        weighted = callable(method) and (
            "sample_weight" in inspect.signature(method).parameters
        )
        return types.MethodType(self._weighted if weighted else self._plain, obj)


MemmapEstimator.fit = _FitSignature(MemmapEstimator.fit)
_mirror_score_request(MemmapEstimator)


def own_copy_event(estimator, shape, dtype, given=None):
    """The CopyEvent of the copies ``estimator`` makes by itself fitting an X
    of ``shape`` that it reads as ``dtype`` (given as ``given``), or None.

    The amount is the registry's for the estimator's parameters and for X's
    shape and dtype (see :func:`skmemmap._layout.own_copy_info`).
    """
    dtype = np.dtype(dtype)
    info = own_copy_info(estimator, shape[0], shape[1], dtype)
    if not info.factor:
        return None
    of = "X" if given is None or np.dtype(given) == dtype else f"X as {dtype.name}"
    amount = f"{'up to' if info.up_to else 'about'} {info.factor:.2g}x {of}"
    remedy = ""
    if info.remedy:
        param, value, reduced = info.remedy
        to = f"{reduced:.2g}x X" if reduced >= 0.05 else "none"
        remedy = f"Pass {info.reader}({param}={value!r}) to bring them to {to}"
    return CopyEvent(
        "own",
        f"{info.reader} makes its own copies of X in fit, {amount}",
        info.nbytes,
        remedy,
        f"{info.cause}; no input layout avoids it (measured with skmemmap.audit)",
        avoidable=info.remedy is not None,
        estimator=info.reader,
        shape=tuple(shape),
    )


def _report_fold_fit(view):
    """Hook of skmemmap._array: the training rows of a CV fold of a file that
    a MemmapEstimator wrapping the search marked. Reports the own copies of
    the estimator about to fit them (in the process that fits it), as a
    MemmapEstimator wrapping that estimator would."""
    split = sklearn_frame({"_safe_split"})
    if split is None or split.get("train_indices") is not None:
        return  # not a fold, or its test rows
    estimator = split.get("estimator")
    if estimator is None or isinstance(estimator, MemmapEstimator):
        return  # a MemmapEstimator reports its own fits
    event = own_copy_event(estimator, view.shape, view.dtype)
    if event is not None:
        mapped = file_of(view)
        event = dataclasses.replace(event, family=mapped.family)
        emit(event, folder=mapped.cache_folder)


on_fold_rows(_report_fold_fit)


def _fold_layout(view):
    """Hook of skmemmap._array: the layout to gather the training rows of a
    CV fold into, when a MemmapEstimator is about to fit them (it would
    convert the gathered rows into that layout otherwise: a second file)."""
    split = sklearn_frame({"_safe_split"})
    if split is None or split.get("train_indices") is not None:
        return None
    estimator = split.get("estimator")
    if not isinstance(estimator, MemmapEstimator):
        return None
    try:
        layout = estimator._resolved_layout()
    except (TypeError, ValueError):  # a bad layout: fit says so
        return None
    if layout.keeps_input:
        return None
    dtype, order = layout.resolve(view)
    return np.dtype(dtype), order


set_fold_layout(_fold_layout)


def _step_before(estimator):
    """Class name of the pipeline step before ``estimator``, found on the stack
    (the Pipeline fitting it), or a description when it is not found."""
    from sklearn.pipeline import Pipeline

    frame = sys._getframe(1)
    while frame is not None:
        pipeline = frame.f_locals.get("self")
        if isinstance(pipeline, Pipeline):
            steps = [
                s for _, s in pipeline.steps if s is not None and s != "passthrough"
            ]
            for before, step in itertools.pairwise(steps):
                if step is estimator:
                    return type(before).__name__
        frame = frame.f_back
    return "An earlier pipeline step"


def _in_blocks(func, inp, dtype, order, params):
    """``func`` applied to row blocks of X (described by ``inp``) converted to
    dtype/order, concatenated.

    Each converted block stays within scikit-learn's ``working_memory`` (MiB).
    """
    X, n = inp.X, inp.shape[0]
    row_bytes = inp.shape[1] * np.dtype(dtype).itemsize
    budget = sklearn.get_config()["working_memory"] * 2**20
    step = max(1, int(budget // max(1, row_bytes)))

    def rows(start, stop):
        if inp.frame:
            block = X.iloc[start:stop].to_numpy(dtype=dtype)
        elif inp.kind == CHUNKS:
            block = X._block(start, stop)  # read into memory: a block, not X
        else:
            block = X[start:stop]
        return np.asarray(block, dtype=dtype, order=order)

    if step >= n:
        return func(rows(0, n), **params)
    return concatenate_rows(
        [func(rows(start, start + step), **params) for start in range(0, n, step)]
    )


def concatenate_rows(parts):
    """One result from the results of row blocks, stacked in row order."""
    if sparse.issparse(parts[0]):
        return sparse.vstack(parts, format=parts[0].format)
    if isinstance(parts[0], (list, tuple)):  # multi-output predict_proba, return_std
        return type(parts[0])(np.concatenate(p) for p in zip(*parts, strict=True))
    return np.concatenate(parts)
