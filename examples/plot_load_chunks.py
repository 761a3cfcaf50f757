"""
A dataset saved as many .npy chunks
===================================

Data sets often arrive as many files: ``train_x_0.npy ... train_x_40.npy``.
Concatenating them with ``np.concatenate([np.load(f) for f in files])`` holds
every chunk *and* the result in memory at once. :func:`skmemmap.load` given
the list of files opens each of them in place, as one
:class:`skmemmap.ChunkedArray`: nothing is read, copied or written. With
``consolidate=True`` it writes them once into one file instead, streaming
chunk by chunk: the RAM that needs stays about one chunk, whatever the number
of chunks. The chunks themselves are only read.
"""

import os
import shutil
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import cross_val_score

import skmemmap

QUICK = os.environ.get("SKMEMMAP_DOC_QUICK") == "1"
n_chunks, rows, n_features = (12, 20_000, 50) if QUICK else (40, 20_000, 50)

folder = tempfile.mkdtemp(prefix="chunks-")
rng = np.random.RandomState(0)
coef = rng.standard_normal(n_features)
files, labels = [], []
for i in range(n_chunks):
    chunk = rng.standard_normal((rows, n_features))
    path = os.path.join(folder, f"train_x_{i}.npy")
    np.save(path, chunk)
    files.append(path)
    labels.append((chunk @ coef > 0).astype(int))
y = np.concatenate(labels)
chunk_mb = rows * n_features * 8 / 2**20
print(f"{n_chunks} chunks of {chunk_mb:.1f} MB, {n_chunks * chunk_mb:.0f} MB in all")

# %%
# Loading: two ways, measured
# ---------------------------
# Dropping the page cache is not possible without root, so both are measured
# with the chunks cached; what differs is the process's own (anonymous)
# memory.
with skmemmap.MemoryMonitor(interval=0.01) as concat:
    X_np = np.concatenate([np.load(f) for f in files])
    del X_np

with skmemmap.MemoryMonitor(interval=0.01) as consolidate:
    X = skmemmap.load(files, consolidate=True)

print(type(X).__name__, X.shape, X.dtype)
print(skmemmap.load(files))  # opened in place: nothing read or written
for name, monitor in (("np.concatenate", concat), ("skmemmap.load", consolidate)):
    extra = monitor.peak_above_baseline("anon") / 2**20
    print(f"{name:<15} anonymous memory +{extra:6.1f} MB")

# %%
# Using it
# --------
# X is a :class:`skmemmap.MemmapArray`: two contiguous folds are views of the
# consolidated file. SGDClassifier reads float64 C, the layout of the chunks.
cv = skmemmap.ContiguousKFold()
scores = cross_val_score(SGDClassifier(random_state=0), X, y, cv=cv)
print("Accuracy per fold:", scores.round(3))

# %%
# The figure
# ----------
fig, ax = plt.subplots(figsize=(7, 4))
for name, monitor in (("np.concatenate", concat), ("skmemmap.load", consolidate)):
    t = [s.time for s in monitor.samples_]
    anon = [(s.anon - monitor.baseline_.anon) / 2**20 for s in monitor.samples_]
    ax.plot(t, anon, label=name)
ax.axhline(n_chunks * chunk_mb, color="grey", linestyle=":", label="size of X")
ax.set_xlabel("time (s)")
ax.set_ylabel("anonymous memory above the start (MB)")
ax.set_title(f"Loading {n_chunks} .npy chunks")
ax.legend()
fig.tight_layout()

# %%
# The chunk files were written for this example only: remove them.
del X
shutil.rmtree(folder)
