"""Reading ``.npy`` headers and writing ``.npy`` files block by block."""

import os

import numpy as np
from numpy.lib import format as npy_format

# Each block converted in memory while writing holds at most this many bytes
# (in the larger of the input and output dtypes), so converting a 100 GB X
# needs about as much extra RAM as converting a 100 MB one. 32 MB keeps the
# peak "about 64 MB" even when numpy materialises input and output at once.
BLOCK_BYTES = 32 * 2**20


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


def write_blocks(f, get_block, shape, dtype, order, src_itemsize=0):
    """Write the data of a ``.npy`` file, one block at a time.

    ``get_block(rows, cols)`` returns the array-like for ``X[rows, cols]``
    (``cols`` is ``None`` for 1-D data). C order is written in row blocks,
    Fortran order in column blocks, so each block is one contiguous run of
    the file and the file is written sequentially. ``src_itemsize`` is the
    item size of the source, when converting a block also materialises it.
    """
    dtype = np.dtype(dtype)
    itemsize = max(dtype.itemsize, src_itemsize)
    n_rows = shape[0]
    n_cols = shape[1] if len(shape) > 1 else None
    if n_cols is None or order == "C":
        width = n_cols or 1
        for start, stop in block_ranges(n_rows, width, itemsize):
            cols = None if n_cols is None else slice(None)
            block = get_block(slice(start, stop), cols)
            f.write(np.ascontiguousarray(block, dtype=dtype).data)
    else:
        for start, stop in block_ranges(n_cols, n_rows, itemsize):
            block = np.asarray(
                get_block(slice(None), slice(start, stop)), dtype=dtype, order="F"
            )
            # The transpose of a Fortran block is C-contiguous: its bytes are
            # exactly the next columns of the file.
            f.write(block.T.data)
