"""Know before you fit: the peak memory and disk a fit will take, forecast.

:func:`forecast` reads only X's shape, dtype and where it lives (in memory,
in a file, in chunk files), and the estimator's parameters; it allocates and
reads nothing of X's size. It forecasts the quantity the bench measures
(``skmemmap._bench``): the peak *extra committed* memory of the process tree
during ``fit`` (anonymous memory plus ``/dev/shm``; file pages, which the
kernel can drop, are not counted), worker interpreters included, and the
bytes skmemmap's files take on disk.

The model is scikit-learn's own sequence of copies (``FACTS.md``):

* a search or ``cross_*`` call slices each fold with fancy indexing: in-memory
  X gets ``X[train]`` and ``X[test]`` copied in each task, in each worker;
  a :class:`~skmemmap.MemmapArray` gets views of contiguous rows and files
  for scattered ones (disk, page cache);
* with ``n_jobs > 1``, joblib writes in-memory X (above 1 MB) once to
  ``/dev/shm`` for the workers: RAM that counts as committed;
* each fit converts X to the layout its solver reads
  (:func:`~skmemmap.layout_for`: a forest converts float64 to float32, +0.5x
  the rows it is given, in ``fit`` and again in ``predict``), and makes the
  copies no layout avoids (:func:`~skmemmap.own_copies`, the registry backed
  by the audit; this module keeps no table of its own);
* the refit on all of X runs in this process after the folds.

Terms that depend on the data (a forest's trees, SVC's support vectors) are
bounded, and the part says so.
"""

import dataclasses
import math
import numbers
import os

import numpy as np

from skmemmap._utils import format_mb, parse_nbytes

__all__ = ["Forecast", "ForecastPart", "check_budget", "forecast", "side_by_side"]

# A loky worker that has imported scikit-learn holds about this much
# anonymous memory whatever X is (FACTS.md: 110 MB measured on 1.9.1; a
# 2-worker search at 1,000 rows already adds about 255 MB).
WORKER_BYTES = 110 * 2**20
# joblib memmaps arrays larger than its default max_nbytes ("1M") into
# /dev/shm for the workers instead of pickling them.
_JOBLIB_MAX_NBYTES = 2**20
# Per row of the training set, while one tree is built: the builder's sample
# indices (intp) and feature values (float32), the bootstrap's sample weights,
# indices and counts, y as float64. Measured (anonymous memory, 400,000 x 4
# float32, so that X's conversion is none): 66 bytes per row for
# RandomForestClassifier, 57 for ExtraTreesClassifier (no bootstrap).
_TREE_ROW_BYTES = 64
# sklearn.tree._tree.NODE_DTYPE.itemsize (7 fields of 8 bytes and a flag),
# plus each node's value array (n_outputs x n_classes float64).
_NODE_BYTES = 64
# Where the rows a fit gets live: private memory, a mapped file (page cache,
# not committed), or chunk files.
_WHERE_MEMORY, _WHERE_FILE, _WHERE_CHUNKS = "memory", "file", "chunks"
_WRITE_BUFFER = "skmemmap's write buffer (one block)"


@dataclasses.dataclass(frozen=True)
class ForecastPart:
    """One term of a :class:`Forecast`.

    Attributes
    ----------
    what : str
        What it is, e.g. ``"fold copy X[train] + X[test]"``.
    nbytes : int
        Bytes of one.
    count : int
        How many exist at once (one per worker, for example).
    where : str
        Where they live: ``"this process"``, ``"each worker"``, ``"/dev/shm"``,
        ``"disk"``.
    bound : bool
        True if ``nbytes`` is an upper bound: the term depends on the data
        and is known only after fitting.
    scales : bool
        True if it grows with X (False for worker interpreters).
    why : str
        Why it exists, where the registry says (an estimator's own copies).

    See Also
    --------
    skmemmap.Forecast : The forecast these terms add up to.
    skmemmap.forecast : Makes the forecast.
    """

    what: str
    nbytes: int
    count: int = 1
    where: str = "this process"
    bound: bool = False
    scales: bool = True
    why: str = ""

    @property
    def total(self):
        """``nbytes * count``."""
        return self.nbytes * self.count

    @property
    def on_disk(self):
        """True for files skmemmap writes (not memory)."""
        return self.where == "disk"

    def to_dict(self):
        """The part as a JSON-able dict."""
        return {**dataclasses.asdict(self), "total": self.total}


class Forecast:
    """The peak memory and disk a ``fit`` will take, forecast before fitting.

    Returned by :func:`forecast`; read its attributes or print it.

    Attributes
    ----------
    peak_bytes : int
        Peak extra committed memory of the process tree during ``fit``:
        anonymous memory plus ``/dev/shm``, worker interpreters included.
    disk_bytes : int
        Bytes of the files skmemmap would write (layout siblings, gathered
        folds).
    parts : tuple of ForecastPart
        The terms of ``peak_bytes`` (at the peak) and of ``disk_bytes``.
    x_nbytes : int
        X's size in bytes.
    phase : str
        When the peak happens (``"the folds"``, ``"the refit"``, ``"fit"``).
    description : str
        What was forecast: the estimator and X in words.
    advice : tuple of (str, Forecast) or None
        The one change that lowers the peak most, with its forecast.

    See Also
    --------
    forecast : Makes this forecast.
    MemoryBudgetError : Raised when a forecast exceeds ``max_memory``.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> import skmemmap
    >>> f = skmemmap.forecast(Ridge(), (1_000_000, 100))
    >>> f.peak_bytes / f.x_nbytes, f.disk_bytes
    (1.0, 0)
    >>> print(f)
    Forecast: Ridge on X 1,000,000 x 100 float64 (763 MB) in memory
    peak 763 MB (1.00 x X) during fit, disk 0 MB
                  memory at the peak
          763 MB  Ridge's own copies (1 x the X it reads)
    Lowest peak with one change: X in float32 -> 381 MB (0.50 x X), disk 0 MB
    >>> f.parts[0].why
    'it centers a copy of X (copy_X=True)'
    """

    def __init__(self, parts, *, x_nbytes, phase, description, alternatives=()):
        self.parts = tuple(parts)
        self.x_nbytes = int(x_nbytes)
        self.phase = phase
        self.description = description
        self.peak_bytes = int(sum(p.total for p in self.parts if not p.on_disk))
        self.disk_bytes = int(sum(p.total for p in self.parts if p.on_disk))
        self._alternatives = tuple(alternatives)

    @property
    def bounded(self):
        """True if a part is an upper bound (the peak may be lower)."""
        return any(p.bound for p in self.parts)

    @property
    def alternatives(self):
        """``(change, Forecast)`` for each change considered, lowest peak first."""
        return tuple(sorted(self._alternatives, key=lambda a: a[1].peak_bytes))

    @property
    def advice(self):
        """``(change, Forecast)``: the one change that lowers the peak most, or
        None if no change considered lowers it."""
        lower = [a for a in self.alternatives if a[1].peak_bytes < self.peak_bytes]
        return lower[0] if lower else None

    def fits(self, budget):
        """The changes whose forecast is at most ``budget`` bytes, lowest first."""
        return [a for a in self.alternatives if a[1].peak_bytes <= budget]

    def _x(self, nbytes):
        return f"{nbytes / self.x_nbytes:.2f} x X" if self.x_nbytes else "-"

    def summary(self):
        """One line: the peak, in MB and copies of X, and the disk."""
        return (
            f"peak {'at most ' if self.bounded else ''}{format_mb(self.peak_bytes)} "
            f"({self._x(self.peak_bytes)}) during {self.phase}, "
            f"disk {format_mb(self.disk_bytes)}"
        )

    def __str__(self):
        lines = [f"Forecast: {self.description}", self.summary()]
        for title, parts in (
            ("memory at the peak", [p for p in self.parts if not p.on_disk]),
            ("disk", [p for p in self.parts if p.on_disk]),
        ):
            if parts:
                lines.append(f"  {'':>10}  {title}")
            for p in parts:
                mark = "<=" if p.bound else ""
                each = f" ({format_mb(p.nbytes)} x {p.count})" if p.count > 1 else ""
                lines.append(f"  {mark + format_mb(p.total):>10}  {p.what}{each}")
        if self.bounded:
            lines.append(
                f"  {'<=':>10}  known only after fitting (depends on the data): "
                f"its bound is counted"
            )
        advice = self.advice
        if advice is not None:
            change, other = advice
            lines.append(
                f"Lowest peak with one change: {change} -> "
                f"{format_mb(other.peak_bytes)} ({self._x(other.peak_bytes)}), "
                f"disk {format_mb(other.disk_bytes)}"
            )
        return "\n".join(lines)

    def __repr__(self):
        return f"<Forecast {self.summary()}>"

    def to_dict(self):
        """The forecast as a JSON-able dict (alternatives without their parts)."""
        return {
            "description": self.description,
            "peak_bytes": self.peak_bytes,
            "disk_bytes": self.disk_bytes,
            "x_nbytes": self.x_nbytes,
            "phase": self.phase,
            "bounded": self.bounded,
            "parts": [p.to_dict() for p in self.parts],
            "alternatives": [
                {
                    "change": change,
                    "peak_bytes": f.peak_bytes,
                    "disk_bytes": f.disk_bytes,
                }
                for change, f in self.alternatives
            ],
        }


# -- X as the forecast sees it ---------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Data:
    """Rows of X as one fit gets them: no data, only what costs memory."""

    n: int
    p: int
    dtype: np.dtype
    order: str
    where: str  # _WHERE_MEMORY, _WHERE_FILE or _WHERE_CHUNKS
    chunk_rows: int = 0  # largest chunk (chunks only)
    shared: bool = False  # already reaches workers by reference (np.memmap)
    whole_chunks: int = 0  # files of a whole chunk list (never gathered at once)
    writeable: bool = False  # a file mapped copy-on-write (MemmapEstimator's)

    @property
    def nbytes(self):
        return self.n * self.p * self.dtype.itemsize

    @property
    def shape(self):
        return (self.n, self.p)

    def rows(self, n, where=None, order=None):
        return dataclasses.replace(
            self,
            n=int(n),
            where=where or self.where,
            order=order or self.order,
            whole_chunks=self.whole_chunks if int(n) == self.n else 0,
        )

    def as_layout(self, dtype, order, where=None):
        return dataclasses.replace(
            self, dtype=np.dtype(dtype), order=order, where=where or self.where
        )

    def describe(self):
        where = {
            _WHERE_MEMORY: "in memory",
            _WHERE_FILE: "mapped from a file",
            _WHERE_CHUNKS: "in chunk files",
        }[self.where]
        return (
            f"X {self.n:,} x {self.p:,} {self.dtype.name} "
            f"({format_mb(self.nbytes)}) {where}"
        )


def _describe_x(X, dtype, memmap):
    """X (an array-like, its shape, or the Input MemmapEstimator described it
    as) as a :class:`_Data`."""
    from skmemmap._input import CHUNKS, FILE, SPARSE, Input, describe_input

    if isinstance(X, tuple):
        if len(X) != 2 or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
            for v in X
        ):
            raise ValueError(
                f"X as a shape must be (n_samples, n_features) of positive ints, "
                f"got {X!r}; e.g. forecast(estimator, (1_000_000, 400))."
            )
        dtype = np.dtype(np.float64 if dtype is None else dtype)
        where = _WHERE_FILE if memmap else _WHERE_MEMORY
        return _Data(int(X[0]), int(X[1]), dtype, "C", where)
    if dtype is not None or memmap:
        raise ValueError(
            "dtype and memmap describe X given as a shape; X is an array here, "
            "so its own dtype and storage are used. Drop them, or pass X.shape."
        )
    inp = X if isinstance(X, Input) else describe_input(X)
    X = inp.X
    if inp.kind == CHUNKS:
        rows = max((piece.shape[0] for piece in X.pieces()), default=0)
        whole = len(X.filenames) if X.is_whole() else 0
        return _Data(
            *X.shape,
            X.dtype,
            X.order,
            _WHERE_CHUNKS,
            chunk_rows=rows,
            whole_chunks=whole,
        )
    if inp.frame:
        if inp.dtype is None:
            raise ValueError(
                "forecast needs a numeric DataFrame; encode the other columns "
                "first, or pass the shape of the numeric X."
            )
        return _Data(*inp.shape, inp.dtype, inp.order, _WHERE_MEMORY)
    if len(inp.shape or ()) != 2 or inp.dtype is None:
        raise ValueError(
            f"forecast needs X as a 2-D array, DataFrame, chunk list or a shape "
            f"(n_samples, n_features); got {type(X).__name__}."
        )
    if inp.kind == SPARSE:
        raise ValueError(
            "forecast models dense X; a sparse X's copies depend on its nnz."
        )
    if inp.kind == FILE:
        return _Data(*inp.shape, inp.dtype, inp.order, _WHERE_FILE)
    shared = isinstance(X, np.memmap)
    return _Data(*inp.shape, inp.dtype, inp.order, _WHERE_MEMORY, shared=shared)


# -- what the estimator is -----------------------------------------------------------
def _params(estimator):
    try:
        return estimator.get_params(deep=False)
    except Exception:
        return {}


def _is_memmap_estimator(estimator):
    from skmemmap._estimator import MemmapEstimator

    return isinstance(estimator, MemmapEstimator)


def _is_streaming(estimator):
    # Duck-typed: the streaming meta-estimator lives in its own module.
    return type(estimator).__name__ == "StreamingEstimator" and hasattr(
        estimator, "estimator"
    )


def _is_search(estimator):
    params = _params(estimator)
    return "cv" in params and (
        "param_grid" in params or "param_distributions" in params
    )


def _is_pipeline(estimator):
    from sklearn.pipeline import Pipeline

    return isinstance(estimator, Pipeline)


def _name(estimator):
    """A short name: ``GridSearchCV(RandomForestClassifier)``."""
    if _is_memmap_estimator(estimator) or _is_streaming(estimator):
        return f"{type(estimator).__name__}({_name(estimator.estimator)})"
    if _is_search(estimator):
        return f"{type(estimator).__name__}({_name(estimator.estimator)})"
    if _is_pipeline(estimator):
        steps = [_name(s) for _, s in estimator.steps if s not in (None, "passthrough")]
        return f"Pipeline({', '.join(steps)})"
    return type(estimator).__name__


def _layout(estimator):
    """The registry's layout for the estimator that reads X, or None if unknown
    (the forecast says so in a part instead of warning)."""
    from skmemmap._layout import known_layout

    return known_layout(estimator)


def _own(estimator, data):
    """``(factor, cause)`` from the registry: the one source of own copies.

    ``data`` stands for X there: the registry reads only its shape and dtype
    (a registry whose amounts do not depend on them takes no X)."""
    import inspect

    from skmemmap._layout import own_copies

    if "X" in inspect.signature(own_copies).parameters:
        return own_copies(estimator, data)
    return own_copies(estimator)


# -- one fit ---------------------------------------------------------------------------
def _fit_parts(estimator, data, where):
    """Memory parts (in one process) and disk parts of fitting on ``data``."""
    if _is_memmap_estimator(estimator):
        return _memmap_fit_parts(estimator, data, where)
    if _is_streaming(estimator):
        return _streaming_parts(estimator, data, where)
    if _is_pipeline(estimator):
        return _pipeline_parts(estimator, data, where)
    if _is_search(estimator):
        return _search_parts(estimator, data, inner=True)[0]
    name = type(estimator).__name__
    parts, disk = [], []
    layout = _layout(estimator)
    if data.where == _WHERE_CHUNKS:
        # The estimator needs one array: np.asarray gathers the rows into a
        # file, in X's layout.
        parts, disk, data = _to_file(
            "rows of the chunks gathered into a file",
            data,
            (data.dtype, data.order),
            name,
            where,
        )
    if layout is None:
        parts.append(_unknown_layout(name, where))
    conv = _target(layout, data)
    if conv is not None:
        dtype, order = conv
        converted = data.as_layout(dtype, order, where=_WHERE_MEMORY)
        parts.append(
            ForecastPart(
                f"{name} converts X to {np.dtype(dtype).name} in fit",
                converted.nbytes,
                where=where,
            )
        )
        data = converted
    elif (
        layout is not None
        and layout.writeable
        and data.where == _WHERE_FILE
        and not data.writeable
    ):
        parts.append(
            ForecastPart(
                f"{name} copies read-only X to write in it", data.nbytes, where=where
            )
        )
    factor, cause = _own(estimator, data)
    if factor and not _is_libsvm(estimator):  # its support vectors: model parts
        parts.append(
            ForecastPart(
                f"{name}'s own copies ({factor:g} x the X it reads)",
                int(factor * data.nbytes),
                where=where,
                why=cause,
            )
        )
    parts += _model_parts(estimator, data, where)
    return parts, disk


def _is_libsvm(estimator):
    return any(k.__name__ == "BaseLibSVM" for k in type(estimator).__mro__)


def _unknown_layout(name, where):
    """A zero-byte part that says what the forecast could not know."""
    return ForecastPart(
        f"{name}: not in skmemmap's registry, its own copies unknown "
        f"(measure with skmemmap.audit)",
        0,
        where=where,
    )


def _tree_params(estimator):
    """``(n_trees, concurrent, depth, min_leaf)`` of a tree or forest, or None."""
    names = {k.__name__ for k in type(estimator).__mro__}
    if not names & {"BaseDecisionTree", "BaseForest", "BaseGradientBoosting"}:
        return None
    params = _params(estimator)
    # gradient boosting: one tree per stage (per class above two classes)
    n_trees = params.get("n_estimators", 1) or 1
    jobs = params.get("n_jobs") if "BaseForest" in names else 1
    concurrent = min(n_trees, _n_jobs(jobs))
    return n_trees, concurrent, params.get("max_depth"), params.get("min_samples_leaf")


def _model_parts(estimator, data, where):
    """Terms of the fitted model and the fit's per-row buffers: trees and
    libsvm's support vectors, bounded; other fitted estimators keep little
    (coefficients, statistics) and are counted as nothing."""
    name = type(estimator).__name__
    trees = _tree_params(estimator)
    parts = []
    if trees is not None:
        n_trees, concurrent, depth, min_leaf = trees
        parts.append(
            ForecastPart(
                f"{name}'s per-row buffers (one tree at a time)",
                _TREE_ROW_BYTES * data.n,
                concurrent,
                where=where,
            )
        )
        leaf = min_leaf if isinstance(min_leaf, numbers.Integral) else 1
        nodes = 2 * math.ceil(data.n / max(1, leaf)) - 1
        if isinstance(depth, numbers.Integral):
            nodes = min(nodes, 2 ** (int(depth) + 1) - 1)
        # value array: n_outputs x n_classes float64; 2 classes assumed
        node_bytes = _NODE_BYTES + 2 * 8
        parts.append(
            ForecastPart(
                f"{name}'s {n_trees} tree{'s' if n_trees > 1 else ''} "
                f"(<= {nodes:,} nodes each)",
                n_trees * nodes * node_bytes,
                where=where,
                bound=True,
            )
        )
    elif _is_libsvm(estimator):
        # libsvm caches kernel columns (float32, n rows each) up to cache_size MB
        cache = float(_params(estimator).get("cache_size", 200)) * 2**20
        parts.append(
            ForecastPart(
                f"{name}'s kernel cache (up to cache_size)",
                int(min(cache, 4 * data.n * data.n)),
                where=where,
                bound=True,
            )
        )
        parts.append(
            ForecastPart(
                f"{name}'s support vectors (at most every row)",
                data.n * data.p * 8,
                where=where,
                bound=True,
            )
        )
    return parts


def _predict_parts(estimator, data, where):
    """Memory of predicting on ``data`` (a test fold), in one process."""
    if _is_memmap_estimator(estimator):
        # MemmapEstimator._call: a view of the sibling file for a mapped X;
        # row blocks within working_memory for chunks and converted X.
        target = _target(_layout_of_wrapper(estimator), data)
        if data.where == _WHERE_FILE or (
            data.where == _WHERE_MEMORY and target is None
        ):
            return []
        block = data.as_layout(*(target or (data.dtype, data.order)))
        return [
            ForecastPart(
                f"{_name(estimator.estimator)}: X[test] read in blocks to predict",
                min(block.nbytes, _working_memory()),
                where=where,
            )
        ]
    if _is_pipeline(estimator) or _is_search(estimator) or _is_streaming(estimator):
        return []
    layout = _layout(estimator)
    if layout is None or not layout.dtypes or data.dtype in layout.dtypes:
        return []
    converted = data.as_layout(layout.target_dtype(data.dtype), "C")
    return [
        ForecastPart(
            f"{type(estimator).__name__} converts X[test] to "
            f"{converted.dtype.name} to predict",
            converted.nbytes,
            where=where,
        )
    ]


def _layout_of_wrapper(wrapper):
    return _layout(wrapper.estimator) if wrapper.layout == "auto" else wrapper.layout


def _target(layout, data):
    """``(dtype, order)`` MemmapEstimator gives X in, or None if X is in it."""
    if layout is None or layout.keeps_input:
        return None
    dtype = layout.target_dtype(data.dtype)
    if dtype == data.dtype and (not layout.orders or data.order in layout.orders):
        return None
    return dtype, (layout.orders or (data.order,))[0]


def _to_file(what, data, layout, name, where):
    """X (or its rows) written once into a file in ``layout``: disk, and one
    block in memory while writing. Returns (parts, disk, data as a file)."""
    if data.where == _WHERE_CHUNKS and data.whole_chunks > 1:
        raise ValueError(
            f"{name} needs X as one array, and X is the whole chunk list "
            f"({data.whole_chunks} files): fit refuses to write a consolidated "
            f"copy of it (see ChunkedArray). Fit StreamingEstimator with an "
            f"incremental estimator, a subset of the rows, or a search with "
            f"refit=False; or load(..., consolidate=True) to copy it once."
        )
    dtype, order = layout
    written = data.as_layout(dtype, order, where=_WHERE_FILE)
    disk = [
        ForecastPart(
            f"{what}, {written.dtype.name} {order}, for {name}",
            written.nbytes,
            where="disk",
        )
    ]
    return [_write_buffer(written.nbytes, where)], disk, written


def _memmap_fit_parts(wrapper, data, where):
    """MemmapEstimator.fit: X in the estimator's layout, then the fit
    (``MemmapEstimator._prepare_fit``'s cases)."""
    inner = wrapper.estimator
    name = _name(inner)
    layout = _layout_of_wrapper(wrapper)
    target = _target(layout, data)
    hands_out = _hands_out(inner)
    parts, disk = [], []
    own = (data.dtype, data.order)
    if data.where == _WHERE_CHUNKS:
        if not hands_out:  # a search's folds of chunks stay chunk pieces
            parts, disk, data = _to_file(
                "rows gathered once into a file", data, target or own, name, where
            )
    elif data.where == _WHERE_FILE:
        if target is not None:
            parts, disk, data = _to_file(
                "X's file converted once (sibling)", data, target, name, where
            )
    elif hands_out:  # in memory, for the folds and workers of a search
        parts, disk, data = _to_file(
            "X written once to a file", data, target or own, name, where
        )
    elif target is not None:
        max_nbytes = parse_nbytes(wrapper.max_nbytes, "max_nbytes")
        converted = data.as_layout(*target)
        if max_nbytes is not None and converted.nbytes > max_nbytes:
            parts, disk, data = _to_file(
                "X converted into a file", data, target, name, where
            )
        else:
            parts = [
                ForecastPart(
                    f"X converted in memory to {converted.dtype.name} "
                    f"{converted.order} for {name}",
                    converted.nbytes,
                    where=where,
                )
            ]
            data = converted
    if layout is not None and layout.writeable and data.where == _WHERE_FILE:
        # a copy-on-write map: the pages it writes are in its own copies
        data = dataclasses.replace(data, writeable=True)
    inner_parts, inner_disk = _fit_parts(inner, data, where)
    return parts + inner_parts, disk + inner_disk


def _total(parts):
    return sum(p.total for p in parts)


def _hands_out(estimator):
    from skmemmap._estimator import _hands_x_to_other_processes

    return _hands_x_to_other_processes(estimator)


def _working_memory():
    import sklearn

    return int(sklearn.get_config()["working_memory"] * 2**20)


def _streaming_parts(streaming, data, where):
    """StreamingEstimator: partial_fit on contiguous blocks, one at a time.

    A block is a view of X (of one chunk file for a chunk list) when X is in
    the estimator's layout, else a block converted in memory; blocks hold at
    most ``block_rows`` rows, or scikit-learn's ``working_memory``.
    """
    inner = streaming.estimator
    name = _name(inner)
    layout = _layout(inner)
    conv = _target(layout, data)
    itemsize = np.dtype(conv[0] if conv else data.dtype).itemsize
    row_bytes = data.p * itemsize
    block_rows = _params(streaming).get("block_rows") or max(
        1, _working_memory() // max(1, row_bytes)
    )
    if data.where == _WHERE_CHUNKS and data.chunk_rows:
        block_rows = min(block_rows, data.chunk_rows)  # blocks end at chunks
    block = data.rows(min(int(block_rows), data.n), where=_WHERE_MEMORY)
    parts = []
    if layout is None:
        parts.append(_unknown_layout(type(inner).__name__, where))
    if conv is not None:
        block = block.as_layout(*conv)
        parts.append(
            ForecastPart(
                f"one block of {block.n:,} rows converted to {name}'s layout",
                block.nbytes,
                where=where,
            )
        )
    factor, cause = _own(inner, block)
    if factor:
        parts.append(
            ForecastPart(
                f"{type(inner).__name__}'s own copies of a block ({factor:g} x)",
                int(factor * block.nbytes),
                where=where,
                why=cause,
            )
        )
    return parts, []


def _pipeline_parts(pipe, data, where):
    """Pipeline.fit: each transformer's output lives while the next step fits."""
    steps = [s for _, s in pipe.steps if s not in (None, "passthrough")]
    if not steps:
        return [], []
    disk, best, previous = [], [], []
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        fit, fit_disk = _fit_parts(step, data, where)
        disk += fit_disk
        out = []
        if not last:
            width = _params(step).get("n_components")
            width = width if isinstance(width, numbers.Integral) else data.p
            after = data.as_layout(np.float64, "C", where=_WHERE_MEMORY)
            after = dataclasses.replace(after, p=int(width))
            out = [
                ForecastPart(
                    f"{type(step).__name__}'s output (a new array)",
                    after.nbytes,
                    where=where,
                )
            ]
        here = previous + fit + out
        if _total(here) > _total(best):
            best = here
        if not last:
            previous = [dataclasses.replace(out[0], what=out[0].what + ", kept")]
            data = after
    return best, disk


# -- searches and cross-validation -------------------------------------------------
def _n_jobs(n_jobs):
    if n_jobs is None:
        return 1
    cpus = os.cpu_count() or 1
    return max(1, cpus + 1 + n_jobs) if n_jobs < 0 else int(n_jobs)


def _n_candidates(search):
    from sklearn.model_selection import ParameterGrid

    params = _params(search)
    if "param_grid" in params:
        try:
            return max(1, len(ParameterGrid(params["param_grid"])))
        except Exception:
            return 1
    return max(1, int(params.get("n_iter", 10) or 10))


def _splits(cv, base, y, n):
    """``(n_splits, n_train, n_test, contiguous)`` of a cross-validator."""
    from sklearn.base import is_classifier
    from sklearn.model_selection import KFold, TimeSeriesSplit, check_cv

    from skmemmap._folds import fold_sizes
    from skmemmap._split import ContiguousKFold

    if cv is None or isinstance(cv, numbers.Integral):
        k = 5 if cv is None else int(cv)
        classes = y is None or _is_labels(y)
        kind = "StratifiedKFold" if is_classifier(base) and classes else "KFold"
        contiguous = kind == "KFold"
    else:
        cv = check_cv(cv)
        try:
            k = int(cv.get_n_splits())
        except Exception:
            k = int(cv.get_n_splits(np.empty((n, 0))))
        contiguous = isinstance(cv, ContiguousKFold) or (
            isinstance(cv, KFold) and not getattr(cv, "shuffle", False)
        )
        if isinstance(cv, TimeSeriesSplit):
            test = cv.test_size or n // (k + 1)
            train = n - test - (cv.gap or 0)
            if cv.max_train_size:
                train = min(train, cv.max_train_size)
            return k, train, test, True
        if hasattr(cv, "test_size") and hasattr(cv, "train_size"):
            test = _size(cv.test_size, n, 0.1 if cv.train_size is None else None)
            train = _size(cv.train_size, n, None) or n - test
            return k, train, test, False
    k = max(2, min(k, n))
    test = int(fold_sizes(n, k).max())
    return k, n - int(fold_sizes(n, k).min()), test, contiguous


def _size(value, n, default):
    if value is None:
        value = default
    if value is None:
        return 0
    if isinstance(value, numbers.Integral):
        return int(value)
    return math.ceil(float(value) * n)


def _is_labels(y):
    from sklearn.utils.multiclass import type_of_target

    try:
        return type_of_target(y) in ("binary", "multiclass")
    except Exception:
        return False


def _search_parts(search, data, inner=False, *, y=None):
    """``(per-phase parts, disk parts)`` of a search."""
    params = _params(search)
    return _cv_phases(
        _candidates(search),
        data,
        params.get("cv"),
        _n_jobs(params.get("n_jobs")),
        bool(params.get("refit", True)) and not inner,
        _n_candidates(search),
        y,
    )


# Candidates looked at to find the one that needs the most memory (a forest's
# max_depth sets its trees' bound); a larger grid is sampled evenly.
_MAX_CANDIDATES = 64


def _candidates(search):
    """The base estimator with each candidate's parameters (list-valued ones
    for a randomized search's distributions)."""
    from sklearn.base import clone
    from sklearn.model_selection import ParameterGrid

    params = _params(search)
    base = params.get("estimator")
    grid = params.get("param_grid", params.get("param_distributions"))
    if isinstance(grid, dict):
        grid = [grid]
    try:
        grid = [
            {k: v for k, v in g.items() if isinstance(v, (list, tuple, np.ndarray))}
            for g in grid
        ]
        grid = ParameterGrid(grid)
        step = max(1, len(grid) // _MAX_CANDIDATES)
        picked = [grid[i] for i in range(0, len(grid), step)]
        return [clone(base).set_params(**c) for c in picked] or [base]
    except Exception:  # a parameter the forecast cannot set: the base as it is
        return [base]


def _cv_phases(bases, data, cv, n_jobs, refit, n_candidates, y):
    """``(per-phase parts, disk parts)`` of fitting each of ``bases`` on every
    split of ``cv`` (a search, or ``cross_*`` with one base), then refitting."""
    k, n_train, n_test, contiguous = _splits(cv, bases[0], y, data.n)
    n_tasks = n_candidates * k
    at_once = min(n_jobs, n_tasks)
    workers = n_jobs > 1
    where = "each worker" if workers else "this process"
    task, disk, writing = [], [], []
    train = data.rows(n_train)
    test = data.rows(n_test)
    row_bytes = data.p * data.dtype.itemsize
    if data.where == _WHERE_MEMORY:
        train = train.rows(n_train, order="C")
        test = test.rows(n_test, order="C")
        task.append(
            ForecastPart(
                f"fold copies X[train] + X[test] ({n_train / data.n:.2f} + "
                f"{n_test / data.n:.2f} x X)",
                (n_train + n_test) * (row_bytes + 8),
                where=where,
            )
        )
    elif data.where == _WHERE_FILE:
        gathered = _gathered_sets(k, contiguous)
        sets = [("training sets", n_train, gathered)]
        if not contiguous:
            sets.append(("test sets", n_test, k))
        for what, rows, count in sets:
            if not count:
                continue
            nbytes = rows * row_bytes
            how = "scattered rows" if not contiguous else "middle folds"
            if nbytes > _gather_nbytes():
                disk.append(
                    ForecastPart(
                        f"{what} gathered into files ({how})", nbytes, count, "disk"
                    )
                )
                if not any(p.what == _WRITE_BUFFER for p in writing):
                    writing.append(_write_buffer(nbytes, where))  # a file at a time
            else:
                task.append(
                    ForecastPart(
                        f"{what} copied in memory ({how}, under gather_nbytes)",
                        nbytes,
                        where=where,
                    )
                )
        train = train.rows(n_train, where=_WHERE_FILE)
    else:  # chunks: fold pieces; an estimator needing one array gathers them
        pass
    fit, fit_disk = max(
        (_task_parts(base, train, test, where) for base in bases),
        key=lambda parts: _total(parts[0]),
    )
    # The folds are gathered before the fit, but glibc keeps the freed write
    # buffer (under its 32 MB mmap threshold) in the worker's heap: measured
    # at 61 MB, n_jobs=2, 5 folds, counting both is the closer forecast.
    task += writing + fit
    # A training set's sibling or gather is written once per split and reused
    # by every candidate and worker.
    disk += [
        dataclasses.replace(p, count=p.count * _disk_times(p, k, contiguous))
        for p in fit_disk
    ]
    phases = {}
    # Every part of a task exists once in each process running one.
    folds = [dataclasses.replace(p, count=p.count * at_once) for p in task]
    if (
        data.where == _WHERE_MEMORY
        and workers
        and not data.shared
        and (data.nbytes > _JOBLIB_MAX_NBYTES)
    ):
        folds.insert(
            0,
            ForecastPart(
                "X copied to /dev/shm by joblib for the workers",
                data.nbytes,
                where="/dev/shm",
            ),
        )
    phases["the folds"] = folds
    if refit:
        parts, refit_disk = max(
            (_fit_parts(base, data, "this process") for base in bases),
            key=lambda parts: _total(parts[0]),
        )
        phases["the refit"] = parts
        disk += [p for p in refit_disk if p not in fit_disk]
    if workers:
        for phase in phases.values():
            phase.append(
                ForecastPart(
                    "worker interpreters (scikit-learn imported)",
                    WORKER_BYTES,
                    n_jobs,
                    "workers",
                    scales=False,
                )
            )
    return phases, disk


def _task_parts(base, train, test, where):
    """One task: fit on the training set, then predict on the test set; the
    larger of the two (the fit's conversions are freed before predicting)."""
    fit, disk = _fit_parts(base, train, where)
    pred = _predict_parts(base, test, where)
    return (pred if _total(pred) > _total(fit) else fit), disk


def _gather_nbytes():
    from skmemmap._config import get_config

    return get_config()["gather_nbytes"]


def _write_buffer(nbytes, where):
    """skmemmap writes its files block by block, through one block in memory."""
    from skmemmap._npy import BLOCK_BYTES

    return ForecastPart(_WRITE_BUFFER, min(BLOCK_BYTES, nbytes), where=where)


def _gathered_sets(k, contiguous):
    return max(0, k - 2) if contiguous else k


def _disk_times(part, k, contiguous):
    """How many copies of a per-fold file exist: one per split, except the
    sibling of X's own file (views of folds 0 and k-1 share it)."""
    if part.what.startswith("X's file converted"):
        return 1 + _gathered_sets(k, contiguous)
    return k


# -- the public function -------------------------------------------------------------
def _phases(estimator, data, y):
    """``({phase: memory parts}, disk parts)`` for fitting ``estimator``."""
    if _is_search(estimator):
        return _search_parts(estimator, data, y=y)
    if _is_memmap_estimator(estimator) and _is_search(estimator.estimator):
        # the search sees X in a file; writing it (one block at a time) is
        # over before the folds start
        inner_data, outer_disk = _memmap_prefix(estimator, data)
        phases, disk = _search_parts(estimator.estimator, inner_data, y=y)
        return phases, outer_disk + disk
    parts, disk = _fit_parts(estimator, data, "this process")
    return {"fit": parts}, disk


def _memmap_prefix(wrapper, data):
    """MemmapEstimator(search): X written or converted once into the layout
    (``(data the search sees, disk parts)``)."""
    if data.where == _WHERE_CHUNKS:
        return data, []  # the search's folds are chunk pieces
    layout = _layout_of_wrapper(wrapper)
    target = _target(layout, data)
    cow = layout is not None and layout.writeable  # a copy-on-write map
    if data.where == _WHERE_FILE and target is None:
        return dataclasses.replace(data, writeable=cow), []
    what = (
        "X written once to a file"
        if data.where == _WHERE_MEMORY
        else ("X's file converted once (sibling)")
    )
    own = (data.dtype, data.order)
    _, disk, data = _to_file(what, data, target or own, _name(wrapper.estimator), "")
    return dataclasses.replace(data, writeable=cow), disk


def _build(estimator, data, y):
    phases, disk = _phases(estimator, data, y)
    phase, parts = max(phases.items(), key=lambda kv: _total(kv[1]))
    return Forecast(
        parts + _merge_disk(disk),
        x_nbytes=data.nbytes,
        phase=phase,
        description=f"{_name(estimator)} on {data.describe()}",
    )


def _merge_disk(disk):
    return [p for p in disk if p.total]


def forecast(estimator, X, y=None, *, dtype=None, memmap=False):
    """Forecast the peak memory and disk of ``estimator.fit(X, y)``, before fitting.

    Nothing of X's size is allocated or read: X can be just its shape.

    Parameters
    ----------
    estimator : estimator object
        What you are about to fit: a plain estimator, a search
        (GridSearchCV, RandomizedSearchCV, the Halving ones), a Pipeline, or
        any of these wrapped in :class:`~skmemmap.MemmapEstimator` or
        ``StreamingEstimator``.
    X : array-like, MemmapArray, ChunkedArray, DataFrame or tuple
        The X you will pass, or its shape ``(n_samples, n_features)``.
    y : array-like, default=None
        The y you will pass; only its kind of target is read (a classifier's
        ``cv=5`` is stratified for class labels).
    dtype : dtype, default=None
        X's dtype when X is a shape (default float64).
    memmap : bool, default=False
        When X is a shape: True if X will be a MemmapArray
        (:func:`skmemmap.memmap` or :func:`skmemmap.load`), False if an
        in-memory array.

    Returns
    -------
    forecast : Forecast
        ``peak_bytes``, ``disk_bytes``, ``parts``, ``advice``; print it for
        a table.

    See Also
    --------
    MemmapEstimator : Its ``max_memory`` refuses a fit whose forecast exceeds it.
    own_copies : The copies an estimator makes of X itself.
    MemoryMonitor : Measure the memory a fit actually uses.

    Examples
    --------
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.model_selection import GridSearchCV
    >>> import skmemmap
    >>> search = GridSearchCV(RandomForestClassifier(max_depth=8),
    ...                       {"max_features": ["sqrt", 0.2]}, cv=5, n_jobs=2)
    >>> f = skmemmap.forecast(search, (100_000, 400))
    >>> round(f.peak_bytes / f.x_nbytes, 1)  # copies of X, interpreters included
    4.6
    >>> change, better = f.advice
    >>> change
    'MemmapEstimator(search)'
    >>> better.peak_bytes < f.peak_bytes / 4  # the workers' interpreters stay
    True
    """
    data = _describe_x(X, dtype, memmap)
    result = _build(estimator, data, y)
    alternatives = []
    for change, est, alt_data in _changes(estimator, data):
        try:
            alternatives.append((change, _build(est, alt_data, y)))
        except ValueError:  # a change that would not run (a whole chunk list)
            continue
    result._alternatives = tuple(alternatives)
    return result


def forecast_cross_val(
    estimator, X, y=None, *, cv=None, n_jobs=None, dtype=None, memmap=False
):
    """:func:`forecast` for ``cross_val_predict`` / ``cross_validate`` (not
    estimators): every split of ``cv`` fit once, no refit."""
    return _build_cv(estimator, _describe_x(X, dtype, memmap), cv, n_jobs, y)


def _build_cv(estimator, data, cv, n_jobs, y=None):
    phases, disk = _cv_phases([estimator], data, cv, _n_jobs(n_jobs), False, 1, y)
    ((phase, parts),) = phases.items()
    return Forecast(
        list(parts) + _merge_disk(disk),
        x_nbytes=data.nbytes,
        phase=phase,
        description=f"cross_val_predict({_name(estimator)}) on {data.describe()}",
    )


def bench_forecast(workload, mode, n_jobs, folds, shape, quick=False):
    """The forecast of one run of ``skmemmap._bench`` (same estimator, X and
    splitter as its ``run_one``), without running it."""
    from sklearn.model_selection import GridSearchCV, KFold

    from skmemmap._bench import _make_estimator
    from skmemmap._estimator import MemmapEstimator
    from skmemmap._split import ContiguousKFold

    estimator, grid = _make_estimator(workload, quick)
    data = _Data(int(shape[0]), int(shape[1]), np.dtype(np.float64), "C", _WHERE_MEMORY)
    cv = KFold(folds)
    if mode != "plain":
        layout = _layout(estimator)
        dtype = layout.target_dtype(np.float64) if layout else np.float64
        order = "C" if np.dtype(dtype) == np.float64 else (layout.orders or "C")[0]
        data = data.as_layout(dtype, order, where=_WHERE_FILE)  # loaded so
        cv = ContiguousKFold(folds)
        estimator = MemmapEstimator(estimator)
        if grid is not None:
            grid = {f"estimator__{k}": v for k, v in grid.items()}
    if grid is None:
        return _build_cv(estimator, data, cv, n_jobs)
    search = GridSearchCV(estimator, grid, cv=cv, n_jobs=n_jobs)
    return _build(search, data, None)


# Issue 19's target: a forecast is right when within 25% of the measured peak,
# or within 0.15 x X where that is larger (at small peaks, the measurement's
# own noise is a few percent of X).
RELATIVE_TOLERANCE = 0.25
ABSOLUTE_TOLERANCE = 0.15


def compare_with_bench(results):
    """Each run of ``skmemmap._bench.run_bench`` against its forecast.

    Both in copies of X, X-proportional as the bench measures them: the
    forecast at full size minus the forecast at the bench's baseline rows
    (the measured committed peak minus the same run at those rows).

    Returns a list of dicts: ``workload, mode, n_jobs, folds, forecast_x,
    measured_x, error_x, tolerance_x, ok``.
    """
    from skmemmap._bench import committed

    n, p = results["shape"]
    x_nbytes = results["x_nbytes"]  # the float64 X, whatever layout a run maps
    small = results.get("baseline_rows") or 0
    quick = results.get("quick", False)
    rows = []
    for run in results["runs"]:
        key = (run["workload"], run["mode"], run["n_jobs"], run["folds"])
        predicted = bench_committed(*key, (n, p), quick)
        if small:
            predicted -= bench_committed(*key, (small, p), quick)
        predicted /= x_nbytes
        measured = committed(run, xprop=bool(small))
        if not small:
            measured /= x_nbytes
        tolerance = max(RELATIVE_TOLERANCE * abs(measured), ABSOLUTE_TOLERANCE)
        rows.append(
            {
                "workload": key[0],
                "mode": key[1],
                "n_jobs": key[2],
                "folds": key[3],
                "forecast_x": predicted,
                "measured_x": measured,
                "error_x": predicted - measured,
                "tolerance_x": tolerance,
                "ok": abs(predicted - measured) <= tolerance,
            }
        )
    return rows


def format_accuracy(rows):
    """The accuracy table: forecast against measured, in copies of X."""
    head = (
        f"{'workload':<8} {'mode':<8} {'n_jobs':>6} {'folds':>5} | "
        f"{'forecast':>8} {'measured':>8} {'error':>6} {'allowed':>7} |"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['workload']:<8} {r['mode']:<8} {r['n_jobs']:>6} {r['folds']:>5} | "
            f"{r['forecast_x']:>8.2f} {r['measured_x']:>8.2f} {r['error_x']:>+6.2f} "
            f"{r['tolerance_x']:>7.2f} | {'ok' if r['ok'] else 'MISS'}"
        )
    lines.append(
        "Copies of X, X-proportional committed peak (anonymous memory of the "
        "process tree plus /dev/shm): full size minus the same at the baseline "
        f"rows. Allowed: {RELATIVE_TOLERANCE:.0%} of the measured peak or "
        f"{ABSOLUTE_TOLERANCE} x X, whichever is larger."
    )
    return "\n".join(lines)


def bench_committed(workload, mode, n_jobs, folds, shape, quick=False):
    """The forecast of a bench run's committed peak, in bytes, as the bench
    measures it: its worker interpreters are started before the baseline,
    so they are left out."""
    result = bench_forecast(workload, mode, n_jobs, folds, shape, quick)
    return result.peak_bytes - sum(
        p.total for p in result.parts if not p.scales and not p.on_disk
    )


def _with(base, /, **params):
    from sklearn.base import clone

    return clone(base).set_params(**params)


def _changes(estimator, data):
    """``(change, estimator, data)`` for each single change worth forecasting."""
    from skmemmap._estimator import MemmapEstimator
    from skmemmap._split import ContiguousKFold

    out = []
    search = estimator.estimator if _is_memmap_estimator(estimator) else estimator
    wrapped = _is_memmap_estimator(estimator) or (
        _is_search(estimator) and _is_memmap_estimator(estimator.estimator)
    )
    if not wrapped and (_is_search(estimator) or data.where != _WHERE_CHUNKS):
        out.append(
            (
                "MemmapEstimator(search)"
                if _is_search(estimator)
                else f"MemmapEstimator({_name(estimator)})",
                MemmapEstimator(estimator),
                data,
            )
        )
    if _is_search(search):
        params = _params(search)
        cv = params.get("cv")
        if not isinstance(cv, ContiguousKFold) or cv.n_splits != 2:
            new = _with(search, cv=ContiguousKFold(2))
            if search is not estimator:
                new = _with(estimator, estimator=new)
            out.append(("cv=ContiguousKFold(2)", new, data))
        jobs = _n_jobs(params.get("n_jobs"))
        for fewer in sorted({1, jobs // 2} - {0, jobs}):
            new = _with(search, n_jobs=fewer)
            if search is not estimator:
                new = _with(estimator, estimator=new)
            out.append((f"n_jobs={fewer}", new, data))
    layout = _layout(estimator)
    f32 = np.dtype(np.float32)
    if (
        data.dtype == np.float64
        and data.where != _WHERE_CHUNKS  # chunk files are as they were saved
        and layout is not None
        and f32 in layout.dtypes
    ):
        out.append(
            (
                "X in float32",
                estimator,
                data.as_layout(
                    f32,
                    data.order,
                    where=_WHERE_FILE if data.where != _WHERE_MEMORY else None,
                ),
            )
        )
    streaming = _streaming_change(estimator)
    if streaming is not None:
        out.append((*streaming, data))
    return out


def _streaming_change(estimator):
    if _is_search(estimator) or _is_streaming(estimator):
        return None
    inner = estimator.estimator if _is_memmap_estimator(estimator) else estimator
    if not hasattr(inner, "partial_fit"):
        return None
    try:
        from skmemmap._streaming import StreamingEstimator
    except ImportError:
        return None
    return (f"StreamingEstimator({_name(inner)})", StreamingEstimator(inner))


# -- the budget ----------------------------------------------------------------------
def _available_memory():
    """``(nbytes, source)``: the memory this process may use (the smallest of
    MemAvailable and the memory cgroups' headroom), ``(None, "")`` where it
    cannot be read."""
    from skmemmap._resources import available_memory

    memory = available_memory()
    return (memory.nbytes, memory.source) if memory is not None else (None, "")


def parse_budget(max_memory):
    """``(nbytes, words)`` of a ``max_memory`` value; ``(None, "")`` for None."""
    if max_memory is None:
        return None, ""
    if isinstance(max_memory, str) and max_memory.strip().lower() == "auto":
        nbytes, source = _available_memory()
        if nbytes is None:
            raise ValueError(
                "max_memory='auto' cannot read the memory this process may use "
                "on this platform; pass bytes or a string such as '8GB'."
            )
        return nbytes, f"'auto' ({format_mb(nbytes)}, {source})"
    try:
        nbytes = parse_nbytes(max_memory, "max_memory")
    except ValueError:
        raise ValueError(
            f"max_memory must be None, 'auto', a number of bytes or a string "
            f"such as '8GB' or '500MB', got {max_memory!r}."
        ) from None
    return nbytes, format_mb(nbytes)


def check_budget(estimator, X, y=None, *, max_memory):
    """Raise MemoryBudgetError if fitting ``estimator`` on X would exceed
    ``max_memory`` by the forecast; return the forecast (None without a
    budget)."""
    from skmemmap.exceptions import MemoryBudgetError

    budget, words = parse_budget(max_memory)
    if budget is None:
        return None
    try:
        result = forecast(estimator, X, y)
    except ValueError as exc:
        raise ValueError(
            f"max_memory={max_memory!r} needs a forecast of this fit, and {exc}"
        ) from None
    if result.peak_bytes > budget:
        raise MemoryBudgetError(budget_message(estimator, result, budget, words))
    return result


def budget_message(estimator, result, budget, words):
    """The MemoryBudgetError text: forecast and budget, then what would fit."""
    name = _name(estimator)
    if len(name) > 80:
        name = name[:77] + "..."
    # The first line stays within 200 characters: a long name is cut, and
    # where 'auto' found the memory goes on a line of its own.
    words, _, source = words.partition(", ")
    source = source.removesuffix(")")
    first = (
        f"{name} would need about {format_mb(result.peak_bytes)} at its peak, "
        f"over max_memory={words}{')' if source else ''}; nothing was fit."
    )
    lines = [first]
    if source:
        lines.append(f"max_memory='auto' is the memory this process may use: {source}")
    fitting = result.fits(budget)
    if fitting:
        lines.append("Changes that fit (forecast peak; disk):")
        chosen = fitting
    else:
        lines.append("No single change fits; the lowest (forecast peak; disk):")
        chosen = result.alternatives[:1]
    for change, other in chosen:
        lines.append(
            f"  - {change}: {format_mb(other.peak_bytes)}; "
            f"{format_mb(other.disk_bytes)} on disk"
        )
    lines.append(
        "Each part: print(skmemmap.forecast(estimator, X)). Or raise max_memory."
    )
    return "\n".join(lines)


def side_by_side(plain, wrapped):
    """Two forecasts of the same fit (plain scikit-learn, skmemmap) as a table,
    then each one's parts."""

    def x(f, nbytes):
        return f"{format_mb(nbytes)} ({f._x(nbytes)})"

    def interpreters(f):
        return sum(p.total for p in f.parts if not p.scales and not p.on_disk)

    rows = [
        ("", "plain scikit-learn", "skmemmap"),
        ("estimator", _short(plain.description), _short(wrapped.description)),
        ("peak memory", x(plain, plain.peak_bytes), x(wrapped, wrapped.peak_bytes)),
        (
            "  of which interpreters",
            format_mb(interpreters(plain)),
            format_mb(interpreters(wrapped)),
        ),
        ("peak during", plain.phase, wrapped.phase),
        ("disk", format_mb(plain.disk_bytes), format_mb(wrapped.disk_bytes)),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    head = plain.description.split(" on ", 1)[-1]
    lines = [f"Forecast of fit on {head}"]
    lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows]
    if plain.bounded or wrapped.bounded:
        lines.append("(a term known only after fitting is counted at its bound)")
    return "\n".join([*lines, "", str(plain), "", str(wrapped)])


def _short(description):
    return description.split(" on ", 1)[0]
