"""Warning and error classes raised by skmemmap.

Every error subclasses the builtin exception it refines, so existing
``except OSError`` or ``except ValueError`` clauses keep working.
"""

from sklearn.exceptions import EfficiencyWarning

__all__ = [
    "CopyError",
    "CopyWarning",
    "FileMismatchError",
    "LayoutWarning",
    "MemoryBudgetError",
    "NotEnoughDiskSpaceError",
    "TemporaryFileWarning",
]


class CopyWarning(EfficiencyWarning):
    """A copy of (part of) X was made, or is known to be made by an estimator.

    One warning per cause per call (a search's ``fit``, ``cross_val_predict``,
    a ``fit``), emitted in the calling process when the call ends, at the
    user's line, with the count and MB over all folds, candidates and worker
    processes. Its first line says what was copied, how much, and the one
    remedy; the second why. Causes smaller in total than the ``warn_nbytes``
    setting (1 MB) are recorded in :func:`~skmemmap.copy_report`, not warned
    about. Silence it with
    ``warnings.filterwarnings("ignore", category=CopyWarning)``, or turn it
    into an error with ``warnings.simplefilter("error", CopyWarning)``.

    See Also
    --------
    copy_report
        Record every copy made during a block, warned about or not.
    set_config
        ``warn_nbytes``, the size below which copies are not warned about.
    CopyError
        What ``MemmapEstimator(on_copy="raise")`` raises instead.

    Examples
    --------
    >>> import warnings, numpy as np, skmemmap
    >>> X = skmemmap.memmap(np.zeros((100_000, 4)))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", skmemmap.CopyWarning)
    ...     rows = X[np.arange(0, 100_000, 2)]  # every other row: not a view
    >>> print(str(caught[0].message).splitlines()[0])
    Non-contiguous rows of X copied (1.5 MB on disk). Contiguous ...
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", skmemmap.CopyWarning)
    ...     try:
    ...         rows = X[np.arange(1, 100_000, 2)]
    ...     except skmemmap.CopyWarning:
    ...         print("copy refused")
    copy refused
    """


class CopyError(RuntimeError):
    """An avoidable copy was about to be made while ``on_copy="raise"``.

    Raised, before the copy is made, for in-memory X, a layout conversion, a
    fold that is not one block of rows, or an estimator parameter value
    measured to lower its own copies; its first line names the remedy. The
    estimator's own copies that nothing avoids are reported (see
    :func:`~skmemmap.copy_report`), not raised.

    See Also
    --------
    CopyWarning
        The warning given instead, outside strict mode.
    MemmapEstimator
        Its ``on_copy="raise"`` turns avoidable copies into this error.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> from sklearn.linear_model import Ridge
    >>> X = skmemmap.memmap(np.random.RandomState(0).rand(50, 3))
    >>> model = skmemmap.MemmapEstimator(Ridge(solver="svd"), on_copy="raise")
    >>> try:
    ...     model.fit(X, np.arange(50.0))
    ... except skmemmap.CopyError as exc:
    ...     print(str(exc).splitlines()[0])  # doctest: +NORMALIZE_WHITESPACE
    Ridge makes its own copies of X in fit, about 4x X (0.005 MB).
    Pass Ridge(solver='cholesky') to bring them to 1x X.
    >>> model.set_params(estimator=Ridge(solver="cholesky")).fit(X, np.arange(50.0))
    MemmapEstimator(estimator=Ridge(solver='cholesky'), on_copy='raise')
    """


class LayoutWarning(UserWarning):
    """skmemmap does not know which memory layout an estimator reads without a copy.

    X is then passed in the layout it already has. Register the class with
    :func:`skmemmap.register_layout` to silence it.

    It also says, before the fit starts, when an estimator that reads the rows
    of X in random order (a forest, SGD) is fit on a memory-mapped X larger
    than the memory the process may use (the smaller of the memory cgroup's
    limit and ``MemAvailable``), with the remedies.

    See Also
    --------
    layout_for
        The layout skmemmap gives an estimator.
    register_layout
        Declare the layout of an estimator skmemmap does not know.
    audit
        Measure which layout an estimator reads without a copy.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.base import BaseEstimator
    >>> from skmemmap import LayoutWarning, layout_for
    >>> class MyModel(BaseEstimator):
    ...     def fit(self, X, y=None):
    ...         return self
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     layout = layout_for(MyModel())
    >>> caught[0].category is LayoutWarning, layout.keeps_input
    (True, True)
    """


class MemoryBudgetError(MemoryError):
    """The forecast peak memory of a fit exceeds ``max_memory``.

    Raised by :class:`~skmemmap.MemmapEstimator` before anything is fit or
    written, when :func:`skmemmap.forecast` says the fit would need more than
    its ``max_memory``. The first line gives the forecast and the budget; the
    next lines the changes that would fit, each with its forecast. Nothing is
    changed for you: pick one. It is a :class:`MemoryError`.

    See Also
    --------
    forecast
        The forecast the budget is checked against.
    MemmapEstimator
        Its ``max_memory`` parameter sets the budget.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.model_selection import GridSearchCV
    >>> search = GridSearchCV(RandomForestClassifier(max_depth=4),
    ...                       {"max_features": [0.5, 1.0]}, cv=5)
    >>> model = skmemmap.MemmapEstimator(search, max_memory="1MB")
    >>> X, y = np.zeros((20_000, 20)), np.arange(20_000) % 2
    >>> try:
    ...     model.fit(X, y)
    ... except skmemmap.MemoryBudgetError as exc:
    ...     print(str(exc).splitlines()[0])  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    MemmapEstimator(GridSearchCV(RandomForestClassifier)) would need about ... MB
    at its peak, over max_memory=1 MB; nothing was fit.
    """


class NotEnoughDiskSpaceError(OSError):
    """The folder has too little free space to write a file.

    The message names the folder, the bytes needed and the bytes free; no
    partial file is left behind. It is an :class:`OSError`.

    See Also
    --------
    memmap
        Writes X to a file; its ``folder`` chooses where.
    set_config
        skmemmap's settings.

    Examples
    --------
    >>> import numpy as np, skmemmap
    >>> X = np.ones((10, 2))
    >>> try:
    ...     X_mm = skmemmap.memmap(X)
    ... except skmemmap.NotEnoughDiskSpaceError as exc:
    ...     print(exc)  # choose another folder= (or $SKMEMMAP_FOLDER)
    >>> X_mm.shape
    (10, 2)
    """


class FileMismatchError(ValueError):
    """A mapped file no longer matches the dtype, shape or size recorded for it.

    It is a :class:`ValueError`.

    See Also
    --------
    distribute
        Copy X's file to every dask worker.
    load
        Open a file (or chunk files) in place.

    Examples
    --------
    >>> import os, shutil, tempfile, numpy as np, skmemmap
    >>> d = tempfile.mkdtemp()
    >>> path = os.path.join(d, "x.npy")
    >>> np.save(path, np.zeros((100, 4)))
    >>> with open(path, "r+b") as f:
    ...     _ = f.truncate(1000)  # the data cut short
    >>> try:
    ...     skmemmap.load(path)
    ... except skmemmap.FileMismatchError as exc:
    ...     print("truncated" in str(exc))
    True
    >>> shutil.rmtree(d)  # the example's file
    """


class TemporaryFileWarning(UserWarning):
    """A MemmapArray over a temporary file was saved with ``joblib.dump``.

    A MemmapArray pickles as a reference to its file, never as data. Files
    written by :func:`skmemmap.memmap` are temporary: they are removed when
    the process that made them exits, and loading the saved reference after
    that fails. Save the data itself to a path you choose with
    :func:`numpy.save` and open it with :func:`skmemmap.load` to keep it.

    See Also
    --------
    load
        Open a file you own, whose references stay valid.
    memmap
        Writes the temporary files this warning is about.

    Examples
    --------
    >>> import os, shutil, tempfile, warnings, joblib, numpy as np, skmemmap
    >>> X = skmemmap.memmap(np.ones((10, 2)))
    >>> d = tempfile.mkdtemp()
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = joblib.dump(X, os.path.join(d, "X.joblib"))
    >>> caught[0].category.__name__
    'TemporaryFileWarning'
    >>> shutil.rmtree(d)  # the example's file
    """
