"""StreamingEstimator: fit with ``partial_fit`` on contiguous blocks of X, in order.

An estimator that visits rows at random (SGD, a forest's bootstrap) reads a
memory-mapped X bigger than memory one disk page per row: measured in issue
18, an SGD ``fit`` on 2.95 GB under a 1 GB limit did not finish in 20
minutes, where a loop that loads one chunk, calls ``partial_fit`` and drops
it took 15 s. :class:`StreamingEstimator` is that loop behind the estimator
API: blocks are contiguous rows (a chunk of a chunk list, or rows of one
file), each a view of its file in the estimator's layout, read in order.
"""

import contextlib
import inspect
import math
import mmap
import numbers

import numpy as np
import sklearn
from numpy.lib.array_utils import byte_bounds
from scipy import sparse
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    RegressorMixin,
    clone,
    is_classifier,
)
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.utils import (
    _safe_indexing,
    check_random_state,
    gen_batches,
    gen_even_slices,
    get_tags,
    metadata_routing,
)
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

from skmemmap._array import MemmapArray, file_of
from skmemmap._chunked import check_aligned
from skmemmap._convert import _copy_on_write
from skmemmap._estimator import (
    MemmapEstimator,
    _estimator_has,
    _FitSignature,
    _mirror_score_request,
    _output_follows_set_output,
    concatenate_rows,
    inherit_tags,
)
from skmemmap._input import FILE, describe_input
from skmemmap._layout import Layout, layout_for
from skmemmap._signal import CopyEvent, begin_call, dispatching, emit, is_worker
from skmemmap._utils import format_mb, layout_name

__all__ = ["StreamingEstimator"]

# The incremental estimators of scikit-learn 1.9.1 (the classes with
# ``partial_fit``), by task, for the message that refuses one without it.
# PassiveAggressive* are left out: deprecated in 1.8. tests/test_streaming.py
# checks this table against sklearn.utils.all_estimators().
_INCREMENTAL = {
    "classifier": (
        "SGDClassifier",
        "Perceptron",
        "MLPClassifier",
        "BernoulliNB",
        "CategoricalNB",
        "ComplementNB",
        "GaussianNB",
        "MultinomialNB",
    ),
    "regressor": ("SGDRegressor", "MLPRegressor"),
    "clusterer": ("MiniBatchKMeans", "Birch"),
    "outlier_detector": ("SGDOneClassSVM",),
    "transformer": (
        "IncrementalPCA",
        "MiniBatchDictionaryLearning",
        "MiniBatchNMF",
        "LatentDirichletAllocation",
        "BernoulliRBM",
        "StandardScaler",
        "MinMaxScaler",
        "MaxAbsScaler",
    ),
}
# The incremental estimator that fits the same model as a batch one.
_COUNTERPART = {
    "LogisticRegression": "SGDClassifier(loss='log_loss')",
    "LinearSVC": "SGDClassifier(loss='hinge')",
    "RidgeClassifier": "SGDClassifier(loss='squared_error')",
    "LinearRegression": "SGDRegressor(penalty=None)",
    "Ridge": "SGDRegressor(penalty='l2')",
    "Lasso": "SGDRegressor(penalty='l1')",
    "ElasticNet": "SGDRegressor(penalty='elasticnet')",
    "LinearSVR": "SGDRegressor(loss='epsilon_insensitive')",
    "KMeans": "MiniBatchKMeans",
    "PCA": "IncrementalPCA",
    "TruncatedSVD": "IncrementalPCA",
    "NMF": "MiniBatchNMF",
    "DictionaryLearning": "MiniBatchDictionaryLearning",
    "OneClassSVM": "SGDOneClassSVM",
    "RobustScaler": "StandardScaler",
}
_TASKS = {
    "classifier": "classifiers",
    "regressor": "regressors",
    "clusterer": "clusterers",
    "outlier_detector": "outlier detectors",
    "transformer": "transformers",
}
# Scores that add up over blocks: a sum over samples (-inertia) or a mean of
# per-sample scores. Others (LatentDirichletAllocation's bound) do not.
_SUM_SCORES = ("_BaseKMeans", "KernelDensity")
_MEAN_SCORES = ("PCA", "BaseMixture", "FactorAnalysis")
# partial_fit refuses sparse X where fit takes it, densifying it one batch
# at a time: blocks of a sparse X are densified likewise (within the block
# budget, which counts dense rows).
_DENSE_BLOCKS = ("IncrementalPCA",)
# The fewest rows partial_fit takes (a parameter's value): a piece's last
# block is merged into the one before rather than be shorter, as
# IncrementalPCA.fit cuts its own batches.
_MIN_ROWS = {"IncrementalPCA": "n_components"}
# Ask the kernel to read the next block ahead while the estimator works on
# this one, and to unmap a finished block's pages (they stay in the page
# cache): see _Pager. Measured with benchmarks/streaming_pages.py (1.17 GB of
# chunks under a 400 MB cgroup, 3 passes of SGDClassifier, a loaded 2-core
# machine): fit 5.3 s with it, 5.6-6.6 s without, 4.5-5.2 s for the
# hand-written np.load loop; peak RSS 225 MB with it, 432-442 MB without.
# Module-level so that the benchmark can switch it off.
_ADVISE = True


def _steps(estimator):
    """A Pipeline's steps that are estimators, else ``[estimator]``."""
    if isinstance(estimator, Pipeline):
        steps = [s for _, s in estimator.steps if s not in (None, "passthrough")]
        return steps or [estimator]
    return [estimator]


def _task(estimator):
    tags = get_tags(estimator)
    if tags.estimator_type in _INCREMENTAL:
        return tags.estimator_type
    return "transformer" if hasattr(estimator, "transform") else None


def _not_incremental(estimator, step=None):
    """The TypeError for an estimator without ``partial_fit``."""
    name = type(estimator).__name__
    task = _task(estimator)
    where = f"Step {step!r} ({name}) of the Pipeline" if step else name
    how = (
        "StreamingEstimator fits a Pipeline step by step, calling each step's "
        "partial_fit on one block of X at a time"
        if step
        else "StreamingEstimator fits by calling partial_fit on one block of X "
        "at a time"
    )
    options = []
    if name in _COUNTERPART:
        options.append(f"{name}'s incremental counterpart is {_COUNTERPART[name]}")
    if task is not None:
        options.append(
            f"the incremental {_TASKS[task]} in scikit-learn "
            f"{sklearn.__version__} are {', '.join(_INCREMENTAL[task])}"
        )
    else:
        every = sorted({n for names in _INCREMENTAL.values() for n in names})
        options.append(
            f"the estimators with partial_fit in scikit-learn "
            f"{sklearn.__version__} are {', '.join(every)}"
        )
    return TypeError(
        f"{where} has no partial_fit: {how}. Use an incremental estimator: "
        f"{'; '.join(options)}. To fit {name} itself, give it data that fits in "
        f"memory (a subsample, X[:n], is a view) with skmemmap.MemmapEstimator."
    )


def _incremental_steps(estimator):
    """``[(name, estimator)]`` to fit in turn, each by ``partial_fit``."""
    if isinstance(estimator, Pipeline):
        steps = [(n, s) for n, s in estimator.steps if s not in (None, "passthrough")]
        if not steps:
            raise ValueError(
                "The Pipeline has no step to fit: every step is 'passthrough' or None."
            )
        for name, step in steps:
            if not hasattr(step, "partial_fit"):
                raise _not_incremental(step, step=name)
        return steps
    if not hasattr(estimator, "partial_fit"):
        raise _not_incremental(estimator)
    return [(None, estimator)]


# -- rows ----------------------------------------------------------------------------
def _n_rows(X):
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) and isinstance(shape[0], numbers.Integral):
        return int(shape[0])
    return len(X) if hasattr(X, "__len__") else len(np.asarray(X))


def _rows(values, start, stop, n):
    """Rows ``start:stop`` of an array-like of ``n`` rows; a view where X's is.

    Rows of a chunk list that cross its chunks are gathered from its pieces
    (y and sample weights: one column, small next to X's block).
    """
    if start == 0 and stop == n:
        return values
    if hasattr(values, "pieces"):
        return _whole(values[start:stop])
    if not hasattr(values, "__getitem__"):  # array-likes known by __array__ only
        values = np.asarray(values)
    return _safe_indexing(values, slice(start, stop))


def _whole(values):
    """All of an array-like: a chunk list's pieces gathered (y: one column)."""
    if hasattr(values, "pieces"):
        return np.concatenate([np.asarray(p) for p in values.pieces()])
    return values


def _block_budget():
    """Bytes a block may take: scikit-learn's ``working_memory``."""
    return sklearn.get_config()["working_memory"] * 2**20


def _parts(X):
    """X's rows as parts, each a list of pieces of one chunk file in row order
    (``[[X]]`` for X that is not a chunk list)."""
    if not hasattr(X, "pieces"):
        return [[X]]
    parts = []
    for piece in X.pieces():
        mapped = file_of(piece)
        if parts and mapped is not None and file_of(parts[-1][-1]) is mapped:
            parts[-1].append(piece)  # scattered rows of the same chunk
        else:
            parts.append([piece])
    return parts


def _min_rows(reader):
    for klass in type(reader).__mro__:
        if klass.__name__ in _MIN_ROWS:
            return getattr(reader, _MIN_ROWS[klass.__name__], None) or 1
    return 1


def _is_sample_aligned(name, value, n):
    # scikit-learn's rule for metadata to slice with X's rows
    # (sklearn.utils.validation._check_method_params), ``classes`` excepted:
    # it is the same for every block even when it has n values.
    if name == "classes" or isinstance(value, (str, bytes, dict)) or value is None:
        return False
    if not any(hasattr(value, a) for a in ("__len__", "shape", "__array__")):
        return False
    try:
        return _n_rows(value) == n
    except TypeError:
        return False


def _classes(y, blocks):
    """``np.unique`` over all of y, read block by block (a list per column of a
    2-D y with several columns)."""
    seen = None
    for i in range(len(blocks)):
        part = np.asarray(blocks.rows(y, i))
        if part.ndim == 2 and part.shape[1] == 1:
            part = part.ravel()
        if part.ndim == 2:
            found = [np.unique(part[:, k]) for k in range(part.shape[1])]
            seen = (
                found
                if seen is None
                else [np.union1d(a, b) for a, b in zip(seen, found, strict=True)]
            )
        else:
            found = np.unique(part)
            seen = found if seen is None else np.union1d(seen, found)
    return seen


class _Blocks:
    """The contiguous row blocks of X, in row order, each in a layout.

    A chunk list (anything with ``pieces()``, such as ``skmemmap.load`` of
    several files) is cut at its chunks: the rows it selects in one chunk
    are one *part*, a view of that chunk's file (read into one array only
    where the selection scatters rows inside the chunk); any other X is one
    part. A part longer than ``block_rows`` is cut into blocks of
    ``block_rows`` rows (the last one shorter); with ``block_rows=None``, a
    part larger than the block budget is cut into equal blocks within it.
    """

    def __init__(self, X, layout, block_rows, reader):
        self.layout = layout
        self.name = type(reader).__name__
        self.dense = any(k.__name__ in _DENSE_BLOCKS for k in type(reader).__mro__)
        self.n = _n_rows(X)
        parts = _parts(X)
        row_bytes = self._row_bytes(parts[0][0])
        max_rows = block_rows or max(1, int(_block_budget() // max(1, row_bytes)))
        min_rows = _min_rows(reader)
        self.spans = []  # (part, lo, hi) per block
        for p, part in enumerate(parts):
            length = sum(_n_rows(piece) for piece in part)
            if block_rows is not None:
                cuts = gen_batches(length, block_rows, min_batch_size=min_rows)
            else:
                n_blocks = math.ceil(length / max_rows)
                cuts = gen_even_slices(
                    length, max(1, min(n_blocks, length // min_rows))
                )
            self.spans += [(p, s.start, s.stop) for s in cuts]
        if not self.spans:  # no rows: one empty block, for the estimator's error
            self.spans = [(0, 0, 0)]
        many = len(self.spans) > 1
        if many and sparse.issparse(X) and X.format != "csr":
            parts = [[X.tocsr()]]  # formats without row slicing
        elif many and not hasattr(X, "shape") and not hasattr(X, "pieces"):
            parts = [[np.asarray(X)]]  # a list of lists
        self.parts = parts
        offsets = np.cumsum([0] + [sum(map(_n_rows, part)) for part in parts])
        self.starts = [int(offsets[p]) + lo for p, lo, _ in self.spans]
        self.block_nbytes = row_bytes * max(hi - lo for _, lo, hi in self.spans)
        self.converted = False

    def _row_bytes(self, piece):
        dtype = getattr(piece, "dtype", None)
        shape = getattr(piece, "shape", None)
        if dtype is None or not shape or dtype.kind not in "biuf":
            return 8 * (shape[1] if shape and len(shape) > 1 else 1)
        if not self.layout.keeps_input:
            dtype = self.layout.target_dtype(dtype)
        return int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

    def __len__(self):
        return len(self.spans)

    def bounds(self, i):
        """``(start, stop)``: block ``i``'s rows of X."""
        _, lo, hi = self.spans[i]
        return self.starts[i], self.starts[i] + hi - lo

    def view(self, i):
        """Block ``i`` as X holds it: a view of its file, or of X (read into
        one array only from the scattered pieces of a chunk)."""
        p, lo, hi = self.spans[i]
        taken, offset = [], 0
        for piece in self.parts[p]:
            length = _n_rows(piece)
            a, b = max(lo - offset, 0), min(hi - offset, length)
            if a < b or (lo == hi == 0 and not taken):
                taken.append(_rows(piece, a, b, length))
            offset += length
        if len(taken) == 1:
            return taken[0]
        return np.concatenate([np.asarray(t) for t in taken])

    def file_view(self, i):
        """Block ``i`` if it is a view of one file (for _Pager), else None:
        nothing is read or copied to find out."""
        p, lo, hi = self.spans[i]
        part = self.parts[p]
        if len(part) != 1 or file_of(part[0]) is None:
            return None
        return part[0][lo:hi]

    def rows(self, values, i):
        """Block ``i``'s rows of y or of a per-sample parameter."""
        if values is None:
            return None
        return _rows(values, *self.bounds(i), self.n)

    def params(self, params, i):
        return {
            k: self.rows(v, i) if _is_sample_aligned(k, v, self.n) else v
            for k, v in params.items()
        }

    def data(self, i):
        """Block ``i`` in the layout: a view where X has it, else converted."""
        block = self.view(i)
        if self.dense and sparse.issparse(block):
            return block.toarray()
        if self.layout.keeps_input:
            return block
        inp = describe_input(block)
        if inp.frame or not inp.numeric:
            return block  # not an ndarray of numbers: the estimator checks it
        dtype, order = inp.target(self.layout)
        if inp.has(dtype, order):
            if self.layout.writeable and inp.kind == FILE:
                # The estimator's check_array copies a read-only block
                # (force_writeable): a copy-on-write map of the same file
                # copies only the pages it writes.
                return _copy_on_write(block)
            return block
        if not self.converted:
            self.converted = True
            self._report(inp, dtype, order)
        source = block.view(np.ndarray) if isinstance(block, MemmapArray) else block
        return np.asarray(source, dtype=dtype, order=order)

    def _report(self, inp, dtype, order):
        mapped = inp.file
        dst = layout_name(np.dtype(dtype), order)
        call = f"skmemmap.memmap(X, dtype='{np.dtype(dtype).name}', order='{order}')"
        emit(
            CopyEvent(
                "convert-blocks",
                f"Blocks of X converted from {inp.describe()} to {dst} in "
                f"memory for {self.name}, one block at a time",
                self.block_nbytes,
                f"Save X as {dst} to give it blocks as views: np.save each chunk "
                f"as {dst}, or {call}",
                f"{self.name} reads {dst} without a copy; every pass converts every "
                f"block again (the largest, {format_mb(self.block_nbytes)}, is "
                f"the extra memory)",
                estimator=self.name,
                family=mapped.family if mapped else None,
                shape=inp.shape,
            ),
            folder=mapped.cache_folder if mapped else None,
        )


class _Pager:
    """Read the next block of a file ahead, and unmap the pages of a finished one.

    ``MADV_WILLNEED`` starts the kernel reading a block's pages while the
    estimator works on the current one; ``MADV_DONTNEED`` on a block it is
    done with removes its pages from this process's page tables (they stay
    in the page cache, as in skmemmap._mapped._drop_pages), so that a fit
    over a file bigger than memory does not keep every page it read mapped.
    Only C-ordered blocks of read-only maps: a block of a Fortran file spans
    the whole file, and on a private map DONTNEED would discard written pages.
    """

    def __init__(self, enabled):
        self.enabled = enabled and hasattr(mmap, "MADV_WILLNEED")

    def will_need(self, block):
        self._advise(block, "MADV_WILLNEED")

    def done(self, block):
        self._advise(block, "MADV_DONTNEED")

    def _advise(self, block, advice):
        mapped = file_of(block) if self.enabled and block is not None else None
        if mapped is None or mapped.mode != "r" or not block.flags.c_contiguous:
            return
        root = mapped.array
        mm = getattr(root, "_mmap", None)
        if mm is None:
            return
        low, high = byte_bounds(block)
        # np.memmap maps from the allocation boundary below the data offset.
        skip = root.offset % mmap.ALLOCATIONGRANULARITY
        lo = skip + low - mapped.start
        lo -= lo % mmap.PAGESIZE
        hi = skip + high - mapped.start
        with contextlib.suppress(OSError, ValueError):  # an optimisation only
            mm.madvise(getattr(mmap, advice), lo, hi - lo)


def _streamed(method, summary, returns):
    """``StreamingEstimator.method``: the wrapped estimator's, block by block."""

    def func(self, X, **params):
        return self._stream(method, X, params, in_layout=method != "inverse_transform")

    func.__name__ = func.__qualname__ = method
    if " : " not in returns:
        returns += " : ndarray"
    func.__doc__ = f"""{summary}, on X block by block.

        Parameters
        ----------
        X : array-like, MemmapArray or chunk list of shape (n_samples, n_features)
        **params : dict
            Passed to the wrapped estimator's ``{method}``.

        Returns
        -------
        {returns}
        """
    return available_if(_estimator_has(method))(func)


def _fit_then(method, name, returns):
    """``StreamingEstimator.name``: fit, then ``method`` on X, block by block."""

    def func(self, X, y=None, **fit_params):
        return getattr(self.fit(X, y, **fit_params), method)(X)

    func.__name__ = func.__qualname__ = name
    func.__doc__ = f"""Fit block by block, then {method} X block by block.

        Parameters
        ----------
        X : array-like, MemmapArray or chunk list of shape (n_samples, n_features)
        y : array-like, default=None
        **fit_params : dict
            Passed to :meth:`fit`.

        Returns
        -------
        {returns} : ndarray
        """
    return available_if(_estimator_has(name if name == "fit_predict" else method))(func)


# set_output's container for transform and fit_transform, and the output
# feature names: MemmapEstimator's, which read only ``estimator_`` and
# ``feature_names_in_`` (a wrapper of the same shape).
_set_output = MemmapEstimator.__dict__["set_output"]
_get_feature_names_out = MemmapEstimator.__dict__["get_feature_names_out"]


class StreamingEstimator(MetaEstimatorMixin, BaseEstimator):
    """Fit an incremental estimator on X block by block, reading X in order.

    ``fit`` calls the wrapped estimator's ``partial_fit`` on contiguous
    blocks of rows, each read once per pass, in order, and handed over in
    the estimator's no-copy layout (:func:`~skmemmap.layout_for`): a view of
    its file where X has that layout. That is the fast way through an X
    bigger than memory: an estimator that visits rows at random reads such
    an X one disk page per row.

    * A chunk list (:func:`skmemmap.load` of several files) is cut at its
      chunks: each chunk, or the part of it inside the rows given, is one
      block; a chunk larger than scikit-learn's ``working_memory`` is cut.
    * Any other X (one file, an in-memory array) is cut into blocks of at
      most ``working_memory`` (``sklearn.set_config(working_memory=MiB)``).
    * For classifiers, ``classes`` is ``np.unique`` over all of y, read block
      by block, and given on the first ``partial_fit`` call.
    * A :class:`~sklearn.pipeline.Pipeline` whose steps all have
      ``partial_fit`` is fit step by step: each transformer with one pass
      over blocks that the steps before it have transformed, the last step
      with ``n_passes``.

    With ``shuffle_blocks=False``, the fitted model is the one the
    hand-written loop gives, bit for bit::

        for _ in range(n_passes):
            for block, y_block in blocks:
                for _ in range(passes_per_block):
                    estimator.partial_fit(block, y_block, classes=classes)

    ``predict``, ``predict_proba``, ``decision_function``, ``transform``,
    ``score_samples``, ``inverse_transform`` and ``score`` read X block by
    block too and return ordinary arrays.

    Parameters
    ----------
    estimator : estimator object
        An estimator with ``partial_fit``, or a Pipeline whose steps all
        have it. It is cloned in :meth:`fit`.
    n_passes : int, default=1
        Passes over the whole of X (for a Pipeline, its last step's).
    passes_per_block : int, default=1
        Consecutive ``partial_fit`` calls on each block while it is in
        memory, in every pass.
    block_rows : int, default=None
        Rows per block; blocks never span two chunks of a chunk list (each
        chunk's last block may be shorter). ``None``: each chunk is a block,
        and X or a chunk larger than ``working_memory`` is cut into equal
        blocks within it.
    shuffle_blocks : bool, default=True
        Visit the blocks in a new random order in each pass (rows keep their
        order inside a block). ``False`` reads X from start to end.
    random_state : int, RandomState instance or None, default=None
        Seeds the block order when ``shuffle_blocks`` is True.

    Attributes
    ----------
    estimator_ : estimator object
        The fitted clone of ``estimator``.
    layout_ : Layout
        The layout blocks were given in.
    n_blocks_ : int
        Number of blocks X was read in during fit.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X is a DataFrame with string
        column names.
    classes_ : ndarray
        The wrapped classifier's classes (classifiers only).

    See Also
    --------
    MemmapEstimator : Fit any estimator on X in its no-copy layout.
    load : Open a ``.npy`` file, or a list of chunk files.
    ChunkedArray : The rows of several chunk files, as one array-like.
    ContiguousKFold : Folds of contiguous rows, whose training sets stay views.

    Notes
    -----
    The memory a fit uses is one block (two while the next one is read
    ahead) plus the model: blocks are views of X's file, pages the kernel
    reads in and can drop again. A block is converted in memory, one at a
    time, only where X is not in the estimator's layout (a
    :class:`~skmemmap.CopyWarning` says so when the conversions add up to
    the ``warn_nbytes`` setting, 1 MB by default). ``score`` adds up scores that
    are sums or means over samples (accuracy and R² from the streamed
    predictions, ``MiniBatchKMeans``' inertia); another score is computed
    only on an X that is one block.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> from sklearn.linear_model import SGDClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = skmemmap.memmap(rng.rand(1000, 4))
    >>> y = (X[:, 0] > 0.5).astype(int)
    >>> model = skmemmap.StreamingEstimator(
    ...     SGDClassifier(random_state=0), n_passes=5, block_rows=250,
    ...     random_state=0)
    >>> model.fit(X, y).n_blocks_
    4
    >>> model.predict(X[:4])
    array([1, 0, 1, 1])
    >>> round(model.score(X, y), 2)
    0.96
    """

    def __init__(
        self,
        estimator,
        *,
        n_passes=1,
        passes_per_block=1,
        block_rows=None,
        shuffle_blocks=True,
        random_state=None,
    ):
        self.estimator = estimator
        self.n_passes = n_passes
        self.passes_per_block = passes_per_block
        self.block_rows = block_rows
        self.shuffle_blocks = shuffle_blocks
        self.random_state = random_state

    # -- parameters, tags, routing ---------------------------------------------
    def _check_params(self):
        for name in ("n_passes", "passes_per_block", "block_rows"):
            value = getattr(self, name)
            if value is None and name == "block_rows":
                continue
            if (
                not isinstance(value, numbers.Integral)
                or isinstance(value, bool)
                or value < 1
            ):
                none = "None or " if name == "block_rows" else ""
                raise ValueError(f"{name} must be {none}an int >= 1, got {value!r}.")
        if not isinstance(self.shuffle_blocks, (bool, np.bool_)):
            raise ValueError(
                f"shuffle_blocks must be True or False, got {self.shuffle_blocks!r}."
            )

    def __sklearn_tags__(self):
        # What the wrapped estimator accepts and predicts, as MemmapEstimator.
        return inherit_tags(super().__sklearn_tags__(), self.estimator)

    def get_metadata_routing(self):
        """Route ``fit``'s metadata to ``partial_fit``, the others by name.

        A Pipeline's ``fit`` metadata goes to the Pipeline's ``fit`` routing
        (its steps' ``set_fit_request``), then to each step's ``partial_fit``.

        Returns
        -------
        routing : MetadataRouter
        """
        pipeline = isinstance(self.estimator, Pipeline)
        mapping = MethodMapping().add(
            caller="fit", callee="fit" if pipeline else "partial_fit"
        )
        for method in (
            "predict",
            "predict_proba",
            "predict_log_proba",
            "decision_function",
            "score",
            "transform",
            "inverse_transform",
        ):
            mapping.add(caller=method, callee=method)
        return MetadataRouter(owner=self).add(
            estimator=self.estimator, method_mapping=mapping
        )

    def _route(self, method, params):
        if method != "score_samples" and sklearn.get_config().get(
            "enable_metadata_routing", False
        ):
            routed = process_routing(self, method, **params).estimator
            callee = "fit" if isinstance(self.estimator, Pipeline) else "partial_fit"
            return routed[callee if method == "fit" else method]
        return params

    # -- fitting ----------------------------------------------------------------
    def fit(self, X, y=None, **fit_params):  # see _FitSignature below the class
        """Fit the wrapped estimator by ``partial_fit`` on blocks of X, in order.

        Parameters
        ----------
        X : array-like, MemmapArray or chunk list of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Target values (a chunk list of 1-D chunks works too).
        **fit_params : dict
            Passed to every ``partial_fit`` call, per-sample ones (such as
            ``sample_weight``) cut into the block's rows. For a Pipeline,
            ``stepname__param`` goes to that step. Routed when metadata
            routing is enabled.

        Returns
        -------
        self : object
        """
        self._check_params()
        fit_params = self._route("fit", fit_params)
        self.estimator_ = clone(self.estimator)
        steps = _incremental_steps(self.estimator_)
        if describe_input(X).two_d:
            validate_data(self, X, reset=True, skip_check_array=True)
        elif hasattr(self, "n_features_in_"):
            del self.n_features_in_
        if y is not None:
            check_consistent_length(X, y)
            check_aligned(X, y)
        self.layout_ = layout_for(self.estimator_)
        target = get_tags(self.estimator_).target_tags
        if y is None and target.required:
            raise ValueError(
                f"{type(self.estimator).__name__} requires y to be passed, but the "
                f"target y is None."
            )
        blocks = _Blocks(X, self.layout_, self.block_rows, steps[0][1])
        self.n_blocks_ = len(blocks)
        step_params = self._step_params(steps, fit_params)
        rng = check_random_state(self.random_state)
        pager = _Pager(_ADVISE)
        for k, (step_name, step) in enumerate(steps):
            last = k == len(steps) - 1
            params = dict(step_params.get(step_name, {}))
            classes = params.pop("classes", None)
            if classes is None and last and self._takes_classes(step, y):
                classes = _classes(y, blocks)
            passes = self.n_passes if last else 1
            orders = [
                rng.permutation(len(blocks))
                if self.shuffle_blocks
                else np.arange(len(blocks))
                for _ in range(passes)
            ]
            self._fit_step(
                step,
                [s for _, s in steps[:k]],
                blocks,
                y,
                params,
                classes,
                orders,
                self.passes_per_block if last else 1,
                pager,
            )
        return self

    def _takes_classes(self, step, y):
        params = inspect.signature(step.partial_fit).parameters.values()
        return (
            y is not None
            and is_classifier(step)
            and any(p.name == "classes" or p.kind == p.VAR_KEYWORD for p in params)
        )

    def _step_params(self, steps, fit_params):
        """``{step name: params}``; the one step of a bare estimator is None."""
        if steps[0][0] is None:
            return {None: fit_params}
        if sklearn.get_config().get("enable_metadata_routing", False):
            # The Pipeline routes a transformer's fit metadata to its
            # fit_transform (see Pipeline.get_metadata_routing).
            routed = process_routing(self.estimator_, "fit", **fit_params)
            return {
                name: dict(routed[name].get("fit", routed[name].get("fit_transform")))
                for name, _ in steps
            }
        out = {name: {} for name, _ in steps}
        for key, value in fit_params.items():
            name, sep, param = key.partition("__")
            if not sep or name not in out:
                names = ", ".join(repr(n) for n in out)
                raise ValueError(
                    f"StreamingEstimator.fit got {key!r} for a Pipeline: pass "
                    f"parameters to one of its steps ({names}) as "
                    f"stepname__parameter, e.g. "
                    f"{next(iter(out))}__sample_weight=sample_weight."
                )
            out[name][param] = value
        return out

    def _fit_step(
        self, step, before, blocks, y, params, classes, orders, repeats, pager
    ):
        """``repeats`` partial_fit calls on each block, in ``orders`` (one per
        pass), each block transformed by the fitted steps ``before``."""
        first = True
        for order in orders:
            for position, i in enumerate(order):
                if position + 1 < len(order):
                    pager.will_need(blocks.file_view(order[position + 1]))
                Xb = blocks.data(i)
                for transformer in before:
                    Xb = transformer.transform(Xb)
                yb = blocks.rows(y, i)
                kwargs = blocks.params(params, i)
                for _ in range(repeats):
                    if first and classes is not None:
                        step.partial_fit(Xb, yb, classes=classes, **kwargs)
                    else:
                        step.partial_fit(Xb, yb, **kwargs)
                    first = False
                del Xb
                pager.done(blocks.file_view(i))

    # -- predicting -----------------------------------------------------------------
    def _stream(self, method, X, params, *, in_layout=True):
        """``estimator_.method`` on the blocks of X, in row order, stacked."""
        check_is_fitted(self)
        params = self._route(method, params)
        if in_layout and describe_input(X).two_d:
            validate_data(self, X, reset=False, skip_check_array=True)
        func = getattr(self.estimator_, method)
        blocks = self._blocks(X, in_layout)
        pager = _Pager(_ADVISE)
        parts = []
        for i in range(len(blocks)):
            if i + 1 < len(blocks):
                pager.will_need(blocks.file_view(i + 1))
            Xb = blocks.data(i) if in_layout else blocks.view(i)
            parts.append(func(Xb, **blocks.params(params, i)))
            del Xb
            pager.done(blocks.file_view(i))
        return parts[0] if len(parts) == 1 else concatenate_rows(parts)

    def _blocks(self, X, in_layout=True):
        layout = self.layout_ if in_layout else Layout()
        return _Blocks(X, layout, self.block_rows, _steps(self.estimator_)[0])

    predict = _streamed("predict", "Predict with the wrapped estimator", "y_pred")
    predict_proba = _streamed(
        "predict_proba",
        "Class probabilities from the wrapped estimator",
        "proba : ndarray of shape (n_samples, n_classes)",
    )
    predict_log_proba = _streamed(
        "predict_log_proba",
        "Log class probabilities from the wrapped estimator",
        "log_proba : ndarray of shape (n_samples, n_classes)",
    )
    decision_function = _streamed(
        "decision_function", "Decision function of the wrapped estimator", "scores"
    )
    score_samples = _streamed(
        "score_samples",
        "Per-sample scores of the wrapped estimator",
        "scores : ndarray of shape (n_samples,)",
    )
    transform = _streamed(
        "transform", "Transform X with the wrapped estimator", "X_new"
    )
    inverse_transform = _streamed(
        "inverse_transform",
        "Inverse transform with the wrapped estimator (X as it is)",
        "X_original",
    )

    fit_transform = _fit_then("transform", "fit_transform", "X_new")
    fit_predict = _fit_then("predict", "fit_predict", "y_pred")

    # score's sample_weight is routed to the wrapped estimator, not consumed
    # here (as MemmapEstimator).
    __metadata_request__score = {"sample_weight": metadata_routing.UNUSED}

    @available_if(_estimator_has("score"))
    def score(self, X, y=None, sample_weight=None, **params):
        """Score of the wrapped estimator on X, read block by block.

        Accuracy (classifiers) and R² (regressors) are computed from the
        streamed predictions exactly as their ``score`` does; scores that are
        sums over samples (``MiniBatchKMeans``) or means of per-sample scores
        are added up over blocks. Any other ``score`` needs X to be one block.

        Parameters
        ----------
        X : array-like, MemmapArray or chunk list of shape (n_samples, n_features)
            Test samples.
        y : array-like, default=None
            True values for X.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed as ``sample_weight`` to the wrapped estimator's score.
            Declaring it here makes scikit-learn's searches weight their
            scores when fitted with ``sample_weight``.
        **params : dict
            Other parameters of the wrapped estimator's ``score``.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        if sample_weight is not None:
            params = {**params, "sample_weight": sample_weight}
        params = self._route("score", params)
        if describe_input(X).two_d:
            validate_data(self, X, reset=False, skip_check_array=True)
        final = _steps(self.estimator_)[-1]
        kind = _score_kind(final)
        if kind in ("accuracy", "r2"):
            predict_params = {k: v for k, v in params.items() if k != "sample_weight"}
            pred = self._stream("predict", X, predict_params)
            y_true = _whole(y)
            weight = params.get("sample_weight")
            weight = None if weight is None else _whole(weight)
            metric = accuracy_score if kind == "accuracy" else r2_score
            return float(metric(y_true, pred, sample_weight=weight))
        blocks = self._blocks(X)
        if len(blocks) == 1:
            return self.estimator_.score(blocks.data(0), y, **params)
        if kind is None:
            raise ValueError(
                f"{type(final).__name__}.score is neither a sum nor a mean over "
                f"samples, so StreamingEstimator cannot add it up over the "
                f"{len(blocks)} blocks of X. Score rows that fit in one block "
                f"(at most block_rows, or scikit-learn's working_memory), e.g. "
                f"model.score(X[:n], y[:n])."
            )
        total = 0.0
        for i in range(len(blocks)):
            start, stop = blocks.bounds(i)
            part = self.estimator_.score(
                blocks.data(i), blocks.rows(y, i), **blocks.params(params, i)
            )
            total += part if kind == "sum" else part * (stop - start)
        return total if kind == "sum" else total / blocks.n

    # -- delegated attributes --------------------------------------------------------
    @property
    def classes_(self):
        """Classes of the wrapped classifier."""
        check_is_fitted(self)
        return self.estimator_.classes_

    get_feature_names_out = _get_feature_names_out
    # set_output's container applies to transform and fit_transform.
    _sklearn_auto_wrap_output_keys = {"transform"}

    @available_if(_estimator_has("set_output"))
    def set_output(self, *, transform=None):
        """Choose the container :meth:`transform` returns, as a transformer does.

        The blocks are transformed into arrays and stacked; the container is
        built from them with X's index and :meth:`get_feature_names_out`.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"}, default=None
            The container; ``None`` leaves it unchanged.

        Returns
        -------
        self : StreamingEstimator
        """
        return _set_output.fn(self, transform=transform)

    transform = _output_follows_set_output(transform)
    fit_transform = _output_follows_set_output(fit_transform)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "estimator_")

    def __sklearn_clone__(self):
        # As MemmapEstimator's: searches clone the estimator in the calling
        # process before dispatching any fit, so the call's scope opens here
        # and the block conversions workers log are warned about when it ends.
        if not is_worker():
            begin_call(trace=dispatching())
        return super().__sklearn_clone__()


StreamingEstimator.fit = _FitSignature(StreamingEstimator.fit, method="partial_fit")
_mirror_score_request(StreamingEstimator)


def _score_kind(final):
    """How ``final.score`` adds up over blocks: "accuracy" or "r2" (from the
    predictions), "sum", "mean" (weighted by rows), or None (it does not)."""
    score = getattr(type(final), "score", None)
    if score is ClassifierMixin.score:
        return "accuracy"
    if score is RegressorMixin.score:
        return "r2"
    names = {
        k.__name__ for k in type(final).__mro__ if k.__module__.startswith("sklearn")
    }
    if names.intersection(_SUM_SCORES):
        return "sum"
    if names.intersection(_MEAN_SCORES):
        return "mean"
    return None
