"""Reading ``.npy`` headers and writing ``.npy`` files block by block."""

import os
import secrets
import tokenize

import numpy as np
from numpy.lib import format as npy_format

from skmemmap._folder import atomic_write, create_once

# Each block converted in memory while writing holds at most this many bytes
# (in the larger of the input and output dtypes), so converting, gathering or
# shuffling a 100 GB X needs as little extra RAM as a 100 MB one: about two
# blocks when numpy materialises input and output at once. 4 MB blocks write
# as fast as 32 MB ones (measured: a 320 MB float64 C -> float32 F conversion
# from the page cache took 0.2-0.6 s either way on 2 cores).
BLOCK_BYTES = 4 * 2**20


# How every .npy file starts. A file that starts otherwise is not one; one
# cut short inside these bytes is a damaged one.
_MAGIC = npy_format.MAGIC_PREFIX
# What numpy's header parser raises for a damaged header (it tokenizes and
# literal-evaluates the header's text).
_DAMAGED_HEADER = (ValueError, TypeError, SyntaxError, EOFError, tokenize.TokenError)
# What to say about files people pass by mistake, by their first two bytes:
# numpy.savez and scipy.sparse.save_npz write .npz files, which are zip archives.
_NOT_NPY_HINT = {
    b"PK": "; it is a zip archive such as a .npz file: open one of its arrays "
    "with numpy.load(path)[name] and save it with numpy.save (a sparse matrix "
    "from scipy.sparse.save_npz: pass scipy.sparse.load_npz(path) to "
    "MemmapEstimator as it is)",
}


def read_header(path):
    """Return ``(shape, fortran_order, dtype, data_offset)`` of a ``.npy`` file.

    Every error names the file: an empty file, one that is not a ``.npy``
    file, and a header cut short or damaged raise :class:`ValueError`.
    """
    name = repr(os.fspath(path))
    with open(path, "rb") as f:
        start = f.read(len(_MAGIC))
        if not start:
            raise ValueError(f"{name} is empty: it is not a .npy file.")
        if not _MAGIC.startswith(start):
            raise ValueError(
                f"{name} is not a .npy file (it does not start with numpy's magic "
                f"bytes){_NOT_NPY_HINT.get(start[:2], '')}. Save arrays with "
                f"numpy.save."
            )
        f.seek(0)
        try:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy_format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = npy_format.read_array_header_2_0(f)
            else:
                shape, fortran, dtype = npy_format._read_array_header(f, version)
        except _DAMAGED_HEADER as exc:
            raise ValueError(
                f"{name} is a damaged .npy file: its header is cut short or "
                f"unreadable ({exc}). Save the array again with numpy.save."
            ) from None
        return shape, fortran, dtype, f.tell()


def header_bytes(shape, dtype, order):
    """The bytes of a ``.npy`` header for an array of this layout."""
    header = {
        "descr": npy_format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": order == "F" and len(shape) > 1,
        "shape": tuple(int(s) for s in shape),
    }

    class _Sink:
        def __init__(self):
            self.parts = []

        def write(self, data):
            self.parts.append(bytes(data))

    sink = _Sink()
    try:
        npy_format.write_array_header_1_0(sink, header)
    except ValueError:  # header too long for version 1.0
        sink.parts.clear()
        npy_format.write_array_header_2_0(sink, header)
    return b"".join(sink.parts)


def block_ranges(length, other_extent, itemsize):
    """Split ``range(length)`` into blocks of at most BLOCK_BYTES (one at least)."""
    step = max(1, BLOCK_BYTES // max(1, other_extent * itemsize))
    for start in range(0, length, step):
        yield start, min(start + step, length)


def _tiles(n_major, n_minor, itemsize):
    """``(major, minor)`` slices covering an array in file order, each block at
    most BLOCK_BYTES: whole major lines (rows of a C file, columns of a
    Fortran file) where one fits, else runs of one line."""
    if n_minor * itemsize <= BLOCK_BYTES:
        for a, b in block_ranges(n_major, n_minor, itemsize):
            yield slice(a, b), slice(None)
        return
    for i in range(n_major):
        for a, b in block_ranges(n_minor, 1, itemsize):
            yield slice(i, i + 1), slice(a, b)


def write_blocks(f, get_block, shape, dtype, order, src_itemsize=0):
    """Write the data of a ``.npy`` file, one bounded block at a time.

    ``get_block(rows, cols)`` returns the array-like for ``X[rows, cols]``
    (``cols`` is ``None`` for 1-D data); ``rows`` and ``cols`` are slices.
    C order is written in row blocks, Fortran order in column blocks (parts
    of one row or column when a whole one exceeds BLOCK_BYTES), so each block
    is the next contiguous run of the file and the file is written
    sequentially. ``src_itemsize`` is the item size of the source, when
    converting a block also materialises it. Each block is converted with
    :func:`cast_block`: a value the conversion would change raises ValueError
    before the block is written. Blocks are not kept in a variable: the
    previous one is freed before the next one is read.
    """
    dtype = np.dtype(dtype)
    itemsize = max(dtype.itemsize, src_itemsize)
    if len(shape) == 1:
        for a, b in block_ranges(shape[0], 1, itemsize):
            f.write(
                cast_block(get_block(slice(a, b), None), dtype, "C", _at(a, 0)).data
            )
        return
    n_rows, n_cols = shape
    if order == "C":
        for rows, cols in _tiles(n_rows, n_cols, itemsize):
            where = _at(rows.start or 0, cols.start or 0)
            f.write(cast_block(get_block(rows, cols), dtype, "C", where).data)
        return
    for cols, rows in _tiles(n_cols, n_rows, itemsize):
        where = _at(rows.start or 0, cols.start or 0)
        # The transpose of a Fortran block is C-contiguous: its bytes are
        # exactly the next run of the file's columns.
        f.write(cast_block(get_block(rows, cols), dtype, "F", where).T.data)


def _at(row0, col0):
    """Name the element at ``index`` of a block that starts at ``X[row0, col0]``."""

    def where(index):
        if len(index) == 1:
            return f"X[{row0 + index[0]}]"
        return f"X[{row0 + index[0]}, {col0 + index[1]}]"

    return where


def _npy_writer(get_block, shape, dtype, order, src_itemsize):
    """``(nbytes, write)``: the file's size, and a function writing it to ``f``."""
    header = header_bytes(shape, dtype, order)
    n_items = int(np.prod(shape, dtype=np.int64))
    nbytes = len(header) + n_items * np.dtype(dtype).itemsize

    def write(f):
        f.write(header)
        write_blocks(f, get_block, shape, dtype, order, src_itemsize)

    return nbytes, write


def _write_npy_once(path, get_block, shape, dtype, order, src_itemsize=0):
    nbytes, write = _npy_writer(get_block, shape, dtype, order, src_itemsize)
    return create_once(path, nbytes, write)


def _write_new_npy(folder, get_block, shape, dtype, order, src_itemsize=0):
    """Write a new file in ``folder`` under an unpredictable name; return its path."""
    nbytes, write = _npy_writer(get_block, shape, dtype, order, src_itemsize)
    path = os.path.join(folder, f"{secrets.token_hex(8)}.npy")
    with atomic_write(path, nbytes) as f:
        write(f)
    return path


# -- conversions that keep values -------------------------------------------------
def may_change_values(src, dst):
    """Whether converting ``src`` to ``dst`` can change a value beyond rounding.

    numpy's ``"safe"`` casts never do. To a floating-point dtype, rounding to
    the nearest representable value is accepted (what ``astype`` does, and
    what float32 tree layouts need); only a finite value too large for it,
    which would become inf, counts. To an integer or boolean dtype, any
    value that does not come back unchanged counts.
    """
    src, dst = np.dtype(src), np.dtype(dst)
    if np.can_cast(src, dst, "safe") or src.kind in "US":
        # numpy parses text itself and refuses what the dtype cannot hold
        # ("1.7" or "300" to int8).
        return False
    if dst.kind == "f" and src.kind in "iuf":
        info = np.iinfo(src) if src.kind in "iu" else np.finfo(src)
        return float(info.max) > float(np.finfo(dst).max)
    return True


def cast_block(block, dtype, order, where):
    """``block`` as a ``dtype`` array contiguous in ``order``, its values unchanged.

    Raises ValueError naming the first value the conversion would change
    (``where(index)`` names its place) and what to do. The check costs one
    comparison per value, and only where :func:`may_change_values`.
    """
    src = given = np.asarray(block)
    if src.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        # Checked before casting: numpy would drop the imaginary part (and warn).
        imaginary = src.imag != 0
        if imaginary.any():
            index = np.unravel_index(int(np.argmax(imaginary)), src.shape)
            raise ValueError(_changed_message(src, dtype, index, where(index)))
        src = src.real  # the real part is checked like any real source
    # Casting warnings ("invalid value encountered in cast") would only repeat,
    # less precisely, what the check below raises.
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.asarray(src, dtype=dtype, order=order)
    if src.dtype == out.dtype or not may_change_values(src.dtype, out.dtype):
        return out
    changed = _changed(src, out)
    if changed is not None:
        index = np.unravel_index(int(np.argmax(changed)), changed.shape)
        raise ValueError(_changed_message(given, out.dtype, index, where(index)))
    return out


def _changed(src, out):
    """A boolean mask of the values ``out`` does not hold unchanged, or None."""
    with np.errstate(invalid="ignore", over="ignore"):
        if out.dtype.kind == "f":
            changed = np.isinf(out)
            if not changed.any():
                return None
            if src.dtype.kind == "f":
                changed &= ~np.isinf(src)
            elif src.dtype.kind == "O":
                changed &= ~np.isinf(np.asarray(src, dtype=np.complex128))
        elif out.dtype.kind == "b":
            changed = (src != 0) & (src != 1)
        elif src.dtype.kind in "biu":
            info = np.iinfo(out.dtype)
            changed = (src < int(info.min)) | (src > int(info.max))
        else:  # from floating point, complex or objects: compare the round trip
            changed = out != src
    return changed if changed.any() else None


def _changed_message(src, dtype, index, where):
    dtype = np.dtype(dtype)
    value = src[index]
    real = value.real if np.iscomplexobj(value) else value
    with np.errstate(invalid="ignore", over="ignore"):
        new = str(np.asarray(real).astype(dtype))
    if np.iscomplexobj(value) and value.imag != 0:
        why = f"has an imaginary part, which {dtype} cannot hold"
    elif dtype.kind == "f":
        largest = str(np.finfo(dtype).max)
        why = f"is too large for {dtype} (largest {largest}) and would become {new}"
    elif dtype.kind == "b":
        why = f"is neither 0 nor 1 and would become {new}"
    elif value != value:  # NaN
        why = f"is NaN, which {dtype} cannot hold (it would become {new})"
    elif not np.iinfo(dtype).min <= value <= np.iinfo(dtype).max:
        info = np.iinfo(dtype)
        why = (
            f"is outside the range of {dtype} ({info.min} to {info.max}) and would "
            f"become {new}"
        )
    else:
        why = f"is not a whole number and would become {new}"
    keep = f" (dtype=None keeps {src.dtype})" if src.dtype.kind in "biuf" else ""
    return (
        f"Cannot convert {src.dtype} to {dtype} without changing values: "
        f"{where} = {value!s} {why}. Pass a dtype that holds every value{keep}, "
        f"or convert the data yourself first (np.round, np.clip, np.nan_to_num) "
        f"if the change is intended."
    )
