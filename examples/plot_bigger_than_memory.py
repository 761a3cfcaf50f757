"""
Chunk files bigger than memory: open them in place, fit block by block
======================================================================

Data sets too big for memory often arrive as chunk files,
``train_x_0.npy ... train_x_40.npy``. This example, on small data, walks
through what skmemmap does with them:

* :func:`skmemmap.load` opens the chunks in place as one
  :class:`skmemmap.ChunkedArray`: nothing is read, copied or written;
* :class:`skmemmap.StreamingEstimator` fits an incremental estimator on one
  chunk at a time, read in order, and gives the same model as the
  hand-written `np.load` / ``partial_fit`` loop;
* a search over it with :class:`skmemmap.ContiguousKFold` keeps every fold a
  list of chunk pieces, in every worker.

The memory figures are anonymous memory (what only swap could free), as
sampled by :class:`skmemmap.MemoryMonitor`: the chunks' pages are page cache,
which the kernel drops when it needs the room.
"""

import atexit
import os
import shutil
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import GridSearchCV

import skmemmap

QUICK = os.environ.get("SKMEMMAP_DOC_QUICK") == "1"
n_chunks, rows, n_features = (8, 5_000, 40) if QUICK else (24, 20_000, 50)

folder = tempfile.mkdtemp(prefix="chunks-")
atexit.register(shutil.rmtree, folder, ignore_errors=True)  # even if a step fails
rng = np.random.RandomState(0)
coef = rng.standard_normal(n_features)
for i in range(n_chunks):
    chunk = rng.standard_normal((rows, n_features))
    np.save(os.path.join(folder, f"train_x_{i}.npy"), chunk)
    np.save(os.path.join(folder, f"train_y_{i}.npy"), (chunk @ coef > 0).astype(int))
chunk_mb = rows * n_features * 8 / 2**20


def extra_mb(monitor):
    """Peak anonymous memory above the start of the monitored block, in MB."""
    return monitor.peak_above_baseline("anon") / 2**20


print(f"{n_chunks} chunks of {chunk_mb:.1f} MB, {n_chunks * chunk_mb:.0f} MB of X")

# %%
# Open the chunks in place
# ------------------------
# A pattern (or the folder, or a list) opens the files in natural order:
# ``train_x_2`` before ``train_x_10``.
with skmemmap.MemoryMonitor(interval=0.01) as opening:
    X = skmemmap.load(os.path.join(folder, "train_x_*.npy"))
    y = skmemmap.load(os.path.join(folder, "train_y_*.npy"))
print(X)
print(f"anonymous memory to open them: {extra_mb(opening):.1f} MB")

# %%
# Rows inside one chunk are a view of its file; rows across chunks are
# chunk pieces, still nothing read.
print(type(X[:rows]).__name__, type(X[rows // 2 : 2 * rows]).__name__)
print([len(piece) for piece in X[rows // 2 : 2 * rows].pieces()])

# %%
# Fit block by block, and the hand-written loop
# ---------------------------------------------
# With ``shuffle_blocks=False`` the streaming fit reads the chunks in order,
# as the loop does, and gives the same model bit for bit.
passes = 3
with skmemmap.MemoryMonitor(interval=0.01) as streaming:
    model = skmemmap.StreamingEstimator(
        SGDClassifier(random_state=0), n_passes=passes, shuffle_blocks=False
    ).fit(X, y)

with skmemmap.MemoryMonitor(interval=0.01) as loop:
    sgd = SGDClassifier(random_state=0)
    for _ in range(passes):
        for i in range(n_chunks):
            X_chunk = np.load(os.path.join(folder, f"train_x_{i}.npy"))
            y_chunk = np.load(os.path.join(folder, f"train_y_{i}.npy"))
            sgd.partial_fit(X_chunk, y_chunk, classes=[0, 1])
            del X_chunk, y_chunk

print("same coefficients:", np.array_equal(model.estimator_.coef_, sgd.coef_))
print(f"{model.n_blocks_} blocks per pass")

# %%
# For comparison, the whole X in memory (what `np.concatenate` costs; on
# data bigger than memory this is where the process is killed).
with skmemmap.MemoryMonitor(interval=0.01) as concatenated:
    X_all = np.concatenate(
        [np.load(os.path.join(folder, f"train_x_{i}.npy")) for i in range(n_chunks)]
    )
    del X_all

for name, monitor in (
    ("np.concatenate", concatenated),
    ("hand-written loop", loop),
    ("StreamingEstimator", streaming),
):
    print(f"{name:<19} anonymous memory +{extra_mb(monitor):6.1f} MB")

# %%
# Cross-validate
# --------------
# Every fold of the chunk list is a list of chunk pieces, in both workers:
# nothing is gathered or written.
search = GridSearchCV(
    skmemmap.StreamingEstimator(SGDClassifier(random_state=0), n_passes=passes),
    {"estimator__alpha": [1e-4, 1e-2]},
    cv=skmemmap.ContiguousKFold(2),
    n_jobs=2,
)
search.fit(X, y)
print("best:", search.best_params_, round(search.best_score_, 3))

# %%
# The figure
# ----------
# Anonymous memory over time: the whole X for `np.concatenate`, one chunk
# for the loop (`np.load` reads it into memory), almost nothing for the
# streaming fit, whose blocks are views of the chunk files.
fig, ax = plt.subplots(figsize=(7, 4))
for name, monitor, color in (
    ("np.concatenate", concatenated, "#c0504d"),
    ("hand-written loop", loop, "tab:gray"),
    ("StreamingEstimator", streaming, "#4f81bd"),
):
    t = [s.time - monitor.samples_[0].time for s in monitor.samples_]
    anon = [(s.anon - monitor.baseline_.anon) / 2**20 for s in monitor.samples_]
    ax.plot(t, anon, label=name, color=color)
ax.axhline(n_chunks * chunk_mb, color="grey", linestyle=":", label="size of X")
ax.axhline(chunk_mb, color="grey", linestyle="--", label="one chunk")
ax.set_xlabel("time (s)")
ax.set_ylabel("anonymous memory above the start (MB)")
ax.set_title(f"{n_chunks} chunk files, {passes} passes of SGDClassifier")
ax.legend()
fig.tight_layout()

# %%
# The chunk files were written for this example only: remove them.
del X, y, model, search
shutil.rmtree(folder)
