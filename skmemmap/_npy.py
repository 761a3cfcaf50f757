"""Reading ``.npy`` headers and writing ``.npy`` files block by block."""

import os

import numpy as np
from numpy.lib import format as npy_format

# Each block converted in memory while writing holds at most this many bytes
# (in the larger of the input and output dtypes), so converting, gathering or
# shuffling a 100 GB X needs as little extra RAM as a 100 MB one: about two
# blocks when numpy materialises input and output at once. 4 MB blocks write
# as fast as 32 MB ones (measured: a 320 MB float64 C -> float32 F conversion
# from the page cache took 0.2-0.6 s either way on 2 cores).
BLOCK_BYTES = 4 * 2**20


def read_header(path):
    """Return ``(shape, fortran_order, dtype, data_offset)`` of a ``.npy`` file."""
    with open(path, "rb") as f:
        try:
            version = npy_format.read_magic(f)
        except ValueError as exc:
            raise ValueError(f"{os.fspath(path)!r} is not a .npy file: {exc}") from exc
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(f)
        else:
            shape, fortran, dtype = npy_format._read_array_header(f, version)
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
    converting a block also materialises it.
    """
    dtype = np.dtype(dtype)
    itemsize = max(dtype.itemsize, src_itemsize)
    if len(shape) == 1:
        for a, b in block_ranges(shape[0], 1, itemsize):
            f.write(np.ascontiguousarray(get_block(slice(a, b), None), dtype).data)
        return
    n_rows, n_cols = shape
    if order == "C":
        for rows, cols in _tiles(n_rows, n_cols, itemsize):
            f.write(np.ascontiguousarray(get_block(rows, cols), dtype=dtype).data)
        return
    for cols, rows in _tiles(n_cols, n_rows, itemsize):
        block = np.asarray(get_block(rows, cols), dtype=dtype, order="F")
        # The transpose of a Fortran block is C-contiguous: its bytes are
        # exactly the next run of the file's columns.
        f.write(block.T.data)
