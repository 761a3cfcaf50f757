"""ContiguousKFold: KFold's folds, and a plain word about what each one copies.

Every test fold of a k-fold split is one block of rows. With 2 folds every
training set is one block too, so a :class:`~skmemmap.MemmapArray` hands
scikit-learn a view of its file for every fit and every predict. With k > 2
folds the training sets of the middle folds are two blocks (the rows before
and after the test fold), which no view can describe: those are copied. The
splitter announces them in the process that calls ``split``, before any fit
starts in a worker; the announcement and the copies the workers then make
are one cause, warned about once when the call ends (skmemmap._signal).
"""

import dataclasses
import sys
import warnings

import numpy as np
from sklearn.model_selection import BaseCrossValidator, KFold
from sklearn.utils import indexable

from skmemmap._array import _describe_selection, file_of, is_memmap_view, is_row_run
from skmemmap._chunked import check_aligned, is_chunked
from skmemmap._disk import kfold_disk_bound
from skmemmap._folds import check_n_splits, fold_sizes
from skmemmap._signal import COPY, NOTICE, CopyEvent, begin_call, emit
from skmemmap._utils import format_mb, layout_name

__all__ = ["ContiguousKFold"]


class ContiguousKFold(BaseCrossValidator):
    """K-fold cross-validator whose folds are consecutive blocks of rows.

    The indices are exactly those of :class:`sklearn.model_selection.KFold`
    with ``shuffle=False``: fold ``i`` tests the ``i``-th block of rows and
    trains on the others. What this class adds is a default and a warning:

    * ``n_splits=2`` by default, the only k for which every training *and*
      test set is a single block of rows, so that slicing a
      :class:`~skmemmap.MemmapArray` gives views of its file, never copies;
    * in a search or a ``cross_*`` function, one
      :class:`~skmemmap.CopyWarning`, when that call ends, says which folds
      were copied and how many MB the copies add up to.

    Parameters
    ----------
    n_splits : int, default=2
        Number of folds. Must be at least 2. Above 2, the training sets of
        folds 1 to ``n_splits - 2`` (numbered from 0) are two blocks of rows
        each, and are copied when sliced.

    See Also
    --------
    sklearn.model_selection.KFold : The same folds, without the warnings.
    shuffle : Permute the rows of X once on disk, so contiguous folds are
        random samples (optionally stratified).
    sklearn.model_selection.TimeSeriesSplit : Its training sets are prefixes
        and its test sets blocks, so they are views of a MemmapArray too.

    Notes
    -----
    The first ``n_samples % n_splits`` folds have size
    ``n_samples // n_splits + 1``, other folds have size
    ``n_samples // n_splits``, as in KFold.

    **When 2 folds are enough.** With many rows, two halves give score
    estimates whose spread is dominated by the data, not the split; and
    each fit sees half the rows, which is cheaper too. More folds are worth
    their cost when rows are scarce (each fit then needs as many rows as it
    can get) or when the variance across folds is what you want to measure.

    **What more folds cost.** With a MemmapArray, each middle training set
    larger than the ``gather_nbytes`` setting (see
    :func:`skmemmap.set_config`) is gathered once into a file that every
    candidate and worker process reuses: ``n_splits - 2`` files of about
    ``(1 - 1/n_splits)`` times X each, on disk. Smaller ones are copied in
    memory for every candidate. X that is not a MemmapArray is copied for
    every fold and candidate by scikit-learn's own indexing, in every worker.

    **Ordered rows.** Contiguous folds of sorted or grouped data are not
    random samples: permute the rows once with :func:`skmemmap.shuffle`
    (one sequential rewrite; random gathers over a memory map are several
    times slower than sequential reads).

    **Warnings.** :meth:`split` records which folds will be copied, in the
    calling process, before the first fit; the warning comes when the call
    that split ends (a search's ``fit``, ``cross_val_predict``): one
    :class:`~skmemmap.CopyWarning` (a subclass of
    :class:`sklearn.exceptions.EfficiencyWarning`) at your line, with the
    gathers the workers actually made, which are one cause with the
    splitter's notice. It says nothing when an earlier call already made
    the gathers, and nothing below the ``warn_nbytes`` setting (1 MB; the
    copies are still in :func:`~skmemmap.copy_report`). Called directly,
    outside such a call, ``split`` warns about nothing; slicing a middle
    training set then warns about its gather, at that line. No warning is
    emitted for sparse or non-numeric X, for which skmemmap has no remedy
    to offer.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> X = skmemmap.memmap(np.array([[1, 2], [3, 4], [1, 2], [3, 4]]))
    >>> y = np.array([1, 2, 3, 4])
    >>> cv = skmemmap.ContiguousKFold(n_splits=2)
    >>> cv.get_n_splits()
    2
    >>> print(cv)
    ContiguousKFold(n_splits=2)
    >>> for i, (train_index, test_index) in enumerate(cv.split(X, y)):
    ...     print(f"Fold {i}:")
    ...     print(f"  Train: index={train_index}")
    ...     print(f"  Test:  index={test_index}")
    Fold 0:
      Train: index=[2 3]
      Test:  index=[0 1]
    Fold 1:
      Train: index=[0 1]
      Test:  index=[2 3]
    >>> skmemmap.is_memmap_view(X[train_index])
    True
    """

    def __init__(self, n_splits=2):
        self.n_splits = check_n_splits(n_splits)

    def split(self, X, y=None, groups=None):
        """Generate indices to split data into training and test set.

        Errors (``n_splits`` above the number of rows, chunk lists X and y
        chunked differently) are raised when ``split`` is called, before the
        first split is produced, in the calling process. The
        :class:`~skmemmap.CopyWarning` about copied folds comes when the
        search or ``cross_*`` call that split ends.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, where `n_samples` is the number of samples
            and `n_features` is the number of features.

        y : array-like of shape (n_samples,), default=None
            The target variable for supervised learning problems.

        groups : array-like of shape (n_samples,), default=None
            Always ignored, exists for API compatibility.

        Yields
        ------
        train : ndarray
            The training set indices for that split.

        test : ndarray
            The testing set indices for that split.

        Raises
        ------
        ValueError
            If ``n_splits`` is greater than the number of samples, or if X
            and y are chunk lists (:class:`~skmemmap.ChunkedArray`) whose
            chunks differ in length.

        Warns
        -----
        CopyWarning
            When the search or ``cross_*`` call ends: if ``n_splits > 2``
            and X is a MemmapArray, for the middle training sets gathered
            during it; if X is not a MemmapArray, for the folds
            scikit-learn copies.
        """
        if groups is not None:
            warnings.warn(
                f"The groups parameter is ignored by {type(self).__name__}",
                UserWarning,
                stacklevel=2,
            )
        X, y, groups = indexable(X, y, groups)
        check_aligned(X, y)
        n_samples = num_samples(X)
        if self.n_splits > n_samples:
            raise ValueError(
                f"Cannot have number of splits n_splits={self.n_splits} greater "
                f"than the number of samples: n_samples={n_samples}."
            )
        self._warn_copies(X, n_samples)
        return super().split(X, y, groups)

    def _iter_test_indices(self, X=None, y=None, groups=None):
        current = 0
        for size in fold_sizes(num_samples(X), self.n_splits):
            yield np.arange(current, current + size)
            current += size

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splitting iterations in the cross-validator.

        Parameters
        ----------
        X : object
            Always ignored, exists for API compatibility.

        y : object
            Always ignored, exists for API compatibility.

        groups : object
            Always ignored, exists for API compatibility.

        Returns
        -------
        n_splits : int
            Returns the number of splitting iterations in the cross-validator.
        """
        return self.n_splits

    def _warn_copies(self, X, n_samples):
        row_nbytes = _row_nbytes(X)
        if row_nbytes is None:  # sparse or non-numeric: nothing skmemmap can offer
            return
        if is_chunked(X):
            # Every fold of a chunk list is a list of chunk pieces, whatever
            # k is: rows are copied only where something gathers them into
            # one array (in this process or a worker), and reported there,
            # when this call ends.
            begin_call()
            return
        k = self.n_splits
        if not is_memmap_view(X):
            # scikit-learn's indexing copies every fold of in-memory X: this
            # is the one cause, whatever k is.
            emit(
                CopyEvent(
                    "not-memmap",
                    f"scikit-learn copies in-memory X for each of the {k} folds",
                    k * n_samples * row_nbytes,
                    "Map it once: skmemmap.memmap(X), or fit MemmapEstimator(search)",
                    f"X is in memory ({type(X).__name__}), not a MemmapArray, so "
                    f"scikit-learn's fancy indexing copies the training and test "
                    f"rows of every fold (together X's size), even when they are "
                    f"consecutive; the size given is one pass over the {k} folds",
                    estimator=type(self).__name__,
                    shape=getattr(X, "shape", (n_samples,)),
                    kind=NOTICE,
                    announces=("in-memory-folds",),
                )
            )
            return
        # Under a successive-halving search, the copies are its subsampling's
        if announce_subsampling():
            return
        if k > 2:
            emit(
                _middle_folds_notice(X, n_samples, row_nbytes, k),
                folder=X._skm_file.cache_folder,
            )


def _middle_folds_notice(X, n_samples, row_nbytes, k):
    """The splitter's notice: the middle training sets it cannot give as views.

    It is one cause with the gathers (or in-memory row copies) it announces,
    which skmemmap's indexing reports where they happen (see skmemmap._signal).
    """
    sizes = fold_sizes(n_samples, k)
    middle = range(1, k - 1)
    # A MemmapEstimator's training rows are gathered in the layout it reads
    dtype, order, layout = _fold_reader_layout(X)
    row_nbytes = row_nbytes * dtype.itemsize // X.dtype.itemsize
    costs = [(n_samples - int(sizes[i])) * row_nbytes for i in middle]
    mapped = X._skm_file
    threshold = mapped.gather_nbytes
    folds = "fold 1" if k == 3 else f"folds 1 to {k - 2}"
    if threshold is not None and min(costs) > threshold:
        how = (
            "each is gathered once into a file that every candidate and worker "
            "reuses (on disk, not in RAM)"
        )
    else:
        how = (
            f"those up to gather_nbytes ({format_mb(threshold or 0)}) are copied in "
            f"memory for every candidate, larger ones gathered once into a file"
        )
    if threshold is not None and min(costs) > threshold:
        how += (
            f"; the files take {format_mb(kfold_disk_bound(X, k, dtype, order))} of "
            f"disk ({layout}), released with X"
        )
    return CopyEvent(
        "middle-folds",
        f"ContiguousKFold({k}) copies the training sets of {folds}",
        0,
        "Use ContiguousKFold(2) (skmemmap.shuffle first if rows are ordered)",
        f"each middle training set is two blocks of rows, before and after its "
        f"test fold, which no view of X can be ({format_mb(sum(costs))} for one "
        f"pass over the folds); {how}",
        estimator="ContiguousKFold",
        family=mapped.family,
        kind=NOTICE,
        announces=("rows",),
        on_disk=threshold is not None and min(costs) > threshold,
    )


def _fold_reader_layout(X):
    """``(dtype, order, words)``: the layout the search up the stack gathers
    its training sets of X in (a MemmapEstimator's, else X's own)."""
    call = _cv_call()
    estimator = None
    if call is not None:
        caller = call[0]
        estimator = (
            getattr(caller, "estimator", None) if not isinstance(caller, str) else None
        )
    from skmemmap._layout import _is_layout_wrapper, layout_for

    if estimator is not None and _is_layout_wrapper(estimator):
        layout = layout_for(estimator)
        if not layout.keeps_input:
            dtype, order = layout.resolve(X)
            return (
                np.dtype(dtype),
                order,
                f"as {layout_name(dtype, order)}, the layout "
                f"{_reader_name(estimator)} reads",
            )
    return X.dtype, None, "in X's layout"


def num_samples(X):
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    if not hasattr(X, "__len__"):
        # The error (and message) scikit-learn's KFold raises for such an X.
        raise TypeError(f"Expected sequence or array-like, got {type(X)}")
    return len(X)


def _row_nbytes(X):
    """Bytes of one row of X as numpy stores it, or None if skmemmap cannot map X."""
    if hasattr(X, "tocsr") or hasattr(X, "sparse"):  # scipy / pandas sparse
        return None
    if hasattr(X, "iloc") and hasattr(X, "dtypes"):  # pandas DataFrame or Series
        dtypes = [X.dtypes] if getattr(X, "ndim", 2) == 1 else list(X.dtypes)
        try:
            dtypes = [np.dtype(getattr(dt, "numpy_dtype", dt)) for dt in dtypes]
        except TypeError:
            return None
        if not dtypes or any(dt.kind not in "biuf" for dt in dtypes):
            return None
        return sum(dt.itemsize for dt in dtypes)
    if hasattr(X, "dtype") and hasattr(X, "shape"):
        dtype = np.dtype(X.dtype)
        if dtype.kind not in "biuf":
            return None
        return int(np.prod(X.shape[1:], dtype=np.int64)) * dtype.itemsize
    try:
        first = np.asarray(X[0])
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return first.nbytes if first.dtype.kind in "biuf" else None


# -- strict mode: refuse copied folds before any fit ---------------------------------
# scikit-learn's functions that split X and fit a clone per fold: their frames
# hold X, y, groups and the splitter (``cv``) while the clones are made.
_CV_FUNCTIONS = frozenset(
    {
        "cross_validate",
        "cross_val_predict",
        "learning_curve",
        "validation_curve",
        "permutation_test_score",
    }
)


def _cv_call():
    """``(caller, cv, X, y, groups)`` of the search or cross-validation
    function up the stack, or None: where the folds of X come from."""
    frame = sys._getframe(2)
    while frame is not None:
        local = frame.f_locals
        code = frame.f_code
        if code.co_name == "fit" and is_search(local.get("self")):
            search = local["self"]
            params = local.get("params") or {}
            return (
                search,
                search.cv,
                local.get("X"),
                local.get("y"),
                params.get("groups"),
            )
        if code.co_name in _CV_FUNCTIONS and "cv" in local and "X" in local:
            return (
                code.co_name,
                local["cv"],
                local["X"],
                local.get("y"),
                local.get("groups"),
            )
        frame = frame.f_back
    return None


def refuse_copied_folds(estimator, call=None):
    """Strict mode: raise CopyError if the folds of X will be copied.

    Called when a strict :class:`~skmemmap.MemmapEstimator` is cloned by a
    search or ``cross_*`` function (in the calling process, before any fold
    is taken), or fitted as the search itself (``call``: ``(search, cv, X,
    y, groups)``). scikit-learn takes each fold outside the ``try`` that
    turns a fit's errors into NaN scores, but a gather would already have
    written its file by then: refusing here ends the call with the
    CopyError, before anything is written. The splitter is asked for its
    folds (index arrays only); a fold that is not one ascending run of rows
    of a mapped X, or any fold of an in-memory X, is a copy.
    """
    call = call or _cv_call()
    if call is None:
        return
    caller, cv, X, y, groups = call
    if is_chunked(X):
        # folds of a chunk list are chunk pieces: a gather is refused where
        # one would be made (ChunkedArray.refuse_consolidation)
        return
    row_nbytes = None if X is None else _row_nbytes(X)
    if row_nbytes is None:  # sparse or non-numeric: nothing skmemmap maps
        return
    name = _reader_name(estimator)
    where = type(caller).__name__ if not isinstance(caller, str) else caller
    if not is_memmap_view(X):
        emit(
            CopyEvent(
                "in-memory-folds",
                f"{where} would copy the rows of in-memory X for every fold of {name}",
                num_samples(X) * row_nbytes,
                "Map it once: skmemmap.memmap(X), or fit MemmapEstimator(search)",
                "X is not a skmemmap.MemmapArray, so scikit-learn's fancy indexing "
                "copies every fold, for every candidate, in every worker",
            ),
            on_copy="raise",
        )
    if getattr(caller, "resource", None) == "n_samples":
        event = subsampling_event(where, X, COPY)
        # at most all of X's rows, for one candidate
        event = dataclasses.replace(event, nbytes=num_samples(X) * row_nbytes)
        emit(event, on_copy="raise")
    from sklearn.base import is_classifier
    from sklearn.model_selection import check_cv

    checked = check_cv(cv, y, classifier=is_classifier(estimator))
    # KFold's indices are ContiguousKFold's, without its notice (a log write)
    splitter = KFold(checked.n_splits) if type(checked) is ContiguousKFold else checked
    for i, (train, test) in enumerate(splitter.split(X, y, groups)):
        for part, idx in (("training", train), ("test", test)):
            idx = np.asarray(idx)
            if not is_row_run(idx):
                emit(
                    _fold_copy(checked, i, part, idx, row_nbytes, name), on_copy="raise"
                )


def _fold_copy(cv, i, part, idx, row_nbytes, name):
    """The copy of a fold that is not one block of rows (strict mode raises it)."""
    return CopyEvent(
        "rows",
        f"{cv!r} would copy the {part} rows of fold {i} for {name}",
        len(idx) * row_nbytes,
        "Use contiguous folds: skmemmap.ContiguousKFold(2) (skmemmap.shuffle "
        "first if rows are ordered)",
        f"the {part} set of fold {i} {_describe_selection(idx)}: it is not one "
        f"block of rows of X, so it would be gathered into a file (or copied in "
        f"memory) before the fit",
        estimator=type(cv).__name__,
    )


def is_search(obj):
    """Whether ``obj`` is one of scikit-learn's searches (BaseSearchCV is not
    public: matched by name along the MRO, as the layout registry does)."""
    return obj is not None and any(
        k.__name__ == "BaseSearchCV" and k.__module__.startswith("sklearn.")
        for k in type(obj).__mro__
    )


def subsampling_event(search, X, kind=NOTICE):
    """The copies of a successive-halving search's row subsampling: its own
    splitter picks rows at random, which no view of X can be. A notice
    (announcing the row copies it causes) or, for strict mode, the copy."""
    return CopyEvent(
        "subsample",
        f"{search} copies the rows it subsamples for each candidate",
        0,
        "Budget another resource than the rows (a forest's n_estimators), or use "
        "GridSearchCV",
        f"with resource='n_samples', {search} fits its first iterations on rows "
        f"drawn at random from each training set (its own _SubsampleMetaSplitter), "
        f"which are not one block of X whatever the splitter: they are gathered "
        f"into files (or copied in memory)",
        estimator=search,
        family=file_of(X).family if file_of(X) is not None else None,
        kind=kind,
        announces=("rows",) if kind == NOTICE else (),
    )


def announce_subsampling():
    """Name a successive-halving search's row subsampling as the cause of the
    row copies it makes (a notice in the calling process, merged with them).

    Returns True if a search up the stack subsamples the rows of a mapped X.
    """
    call = _cv_call()
    if call is None or getattr(call[0], "resource", None) != "n_samples":
        return False
    X = call[2]
    if not is_memmap_view(X):
        return False
    emit(
        subsampling_event(type(call[0]).__name__, X),
        folder=X._skm_file.cache_folder,
    )
    return True


def _reader_name(estimator):
    from skmemmap._layout import _x_reader

    reader = _x_reader(getattr(estimator, "estimator", estimator))
    return type(reader).__name__
