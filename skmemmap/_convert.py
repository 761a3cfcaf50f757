"""X in the layout an estimator reads: the one entry point MemmapEstimator calls.

:func:`lay_out` decides, for X as :func:`skmemmap._input.describe_input`
described it (a :class:`~skmemmap.MemmapArray`, a chunk list, an in-memory
ndarray or DataFrame), how to give it in a layout, does it, and says what it
cost, so that a copy is described by the code path that made it.
"""

import dataclasses
import os

import numpy as np

from skmemmap._array import is_memmap_view
from skmemmap._construct import in_layout, memmap, sibling_path
from skmemmap._input import CHUNKS, FILE, describe_input
from skmemmap._mapped import open_derived
from skmemmap._utils import layout_name

__all__ = ["Conversion", "lay_out"]


@dataclasses.dataclass(frozen=True)
class Conversion:
    """A copy :func:`lay_out` made (or is about to make) of X.

    Attributes
    ----------
    kind : {"sibling", "to-file", "memory-to-file", "in-memory", "map", "gather"}
        ``"sibling"``: the whole file converted once into a file every later
        fit reuses; ``"to-file"``: the rows of a view that is not a row range
        of its file written to a new file; ``"memory-to-file"``: in-memory X
        converted into a file; ``"gather"``: rows of a chunk list that span
        several chunk files written into one file, in the target layout;
        ``"in-memory"``: converted in memory; ``"map"``: in-memory X written
        once to a file, in the target layout, for other processes to map.
    nbytes : int
        Bytes of the copy.
    src : str
        X's layout, in words (``"float64 C"``, ``"a DataFrame"``).
    dtype, order : numpy.dtype, {"C", "F"}
        The layout X is copied into; ``dst`` says it in words.
    """

    kind: str
    nbytes: int
    src: str
    dtype: np.dtype
    order: str

    @property
    def dst(self):
        return layout_name(self.dtype, self.order)

    @property
    def on_disk(self):
        return self.kind != "in-memory"


def lay_out(inp, layout, *, folder=None, max_nbytes=None, share=False, check=None):
    """X (described by ``inp``) in ``layout``, a view of a file where that saves memory.

    Parameters
    ----------
    inp : Input
        X, as :func:`skmemmap._input.describe_input` described it: a
        MemmapArray, a ChunkedArray, or in-memory X (``"memory"``).
    layout : Layout
        The layout to give X in (see :meth:`Input.target`); a layout that
        keeps X's own gives a view or in-memory X as it is, unless it is
        shared.
    folder : str, default=None
        Base folder for files written.
    max_nbytes : int or None, default=None
        In-memory X (or rows of a file that are not a row range) larger than
        this is written to a file rather than converted in memory. ``None``:
        never written.
    share : bool, default=False
        Other processes will read X (a search, ``cross_*``, a process-parallel
        ensemble): in-memory X is then written once to a file (``"map"``) so
        that every fold in every worker is a view of it.
    check : callable, default=None
        Called with the :class:`Conversion` just before any copy is made; may
        raise (strict mode).

    Returns
    -------
    view : array-like
        X in the layout (X itself when nothing was needed).
    conversion : Conversion or None
        The copy made, or None if none was made.
    """
    X = inp.X
    if layout.keeps_input and not share and inp.kind != CHUNKS:
        return X, None
    dtype, order = inp.target(layout)
    writeable = layout.writeable

    def copy(kind, nbytes, make, written=lambda view: True):
        conv = Conversion(kind, int(nbytes), inp.describe(), dtype, order)
        if check is not None:
            check(conv)
        view = make()
        return view, conv if written(view) else None

    nbytes = int(np.prod(inp.shape, dtype=np.int64)) * dtype.itemsize
    if inp.kind == CHUNKS:
        single = X.single_view()
        if single is None:
            pair, conv = copy(
                "gather",
                nbytes,
                lambda: X._gather(dtype, order),
                written=lambda pair: pair[1],
            )
            return _writeable(pair[0], writeable), conv
        # rows of one chunk: a view of its file, as for one file
        inp = describe_input(single)
        X = single
    if inp.kind == FILE:
        view, conv = X, None
        if not inp.has(dtype, order):
            if inp.rows is not None:
                root = inp.file
                if os.path.exists(sibling_path(root, dtype, order)):
                    view = in_layout(X, dtype, order)[0]
                else:
                    # Another process may write it first (create_once makes
                    # one writer): only a sibling written here is a copy.
                    full = int(np.prod(root.shape, dtype=np.int64)) * dtype.itemsize
                    pair, conv = copy(
                        "sibling",
                        full,
                        lambda: in_layout(X, dtype, order),
                        written=lambda pair: pair[1],
                    )
                    view = pair[0]
            elif max_nbytes is not None and nbytes > max_nbytes:
                view, conv = copy(
                    "to-file",
                    nbytes,
                    lambda: memmap(X, dtype=dtype, order=order, folder=folder),
                )
            else:
                view, conv = copy(
                    "in-memory",
                    nbytes,
                    lambda: np.asarray(X.view(np.ndarray), dtype=dtype, order=order),
                )
        if writeable and is_memmap_view(view) and not view.flags.writeable:
            view = _copy_on_write(view)
        return view, conv
    if share:
        return copy(
            "map",
            nbytes,
            lambda: _writeable(
                memmap(X, dtype=dtype, order=order, folder=folder), writeable
            ),
        )
    if not inp.frame and inp.has(dtype, order):
        return X, None
    if max_nbytes is not None and nbytes > max_nbytes:
        return copy(
            "memory-to-file",
            nbytes,
            lambda: _writeable(
                memmap(X, dtype=dtype, order=order, folder=folder), writeable
            ),
        )
    if inp.frame:
        return X, None  # the estimator converts it, and keeps its column names
    return copy("in-memory", nbytes, lambda: np.asarray(X, dtype=dtype, order=order))


def _writeable(view, writeable):
    return _copy_on_write(view) if writeable else view


def _copy_on_write(X):
    """The same view of X's file, mapped copy-on-write (writeable, file untouched)."""
    mapped = X._skm_file
    cow = open_derived(mapped, mapped.path, mode="c")
    offset = X.__array_interface__["data"][0] - mapped.start
    return cow.view(offset, X.shape, X.strides, X.dtype)
