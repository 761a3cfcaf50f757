"""Measure, and draw, the user guide's figures.

Measuring takes minutes and is done by hand; drawing takes a second and is
done by every documentation build (``skmemmap_doc`` calls :func:`draw_all`),
from the measured data committed next to the figures::

    python doc/sphinxext/skmemmap_figures.py measure njobs   # ~3 min, 2 cores
    python doc/sphinxext/skmemmap_figures.py measure audit   # ~2 min
    python doc/sphinxext/skmemmap_figures.py draw OUT_DIR    # what the build does

``njobs``: ``GridSearchCV(RandomForestClassifier)`` (2 candidates, 2 folds)
with plain scikit-learn and with skmemmap at n_jobs = 1, 2 and 4, through
``skmemmap._bench.run_bench`` (each run in a fresh process; worker
interpreters are started before the baseline and left out, so what is drawn
is what the data costs). Data: ``doc/_static/fig_njobs.json``.

``audit``: :func:`skmemmap.audit` of a dozen common estimators in the four
layouts float64/float32 x C/F; the extra memory of ``fit`` as a multiple of X
in the layout it was given. Data: ``doc/_static/fig_audit_heatmap.json``.

``fig_time_memory`` (the landing page's figure) is drawn from the run that
measured the headline number, ``python benchmarks/kfold_memory.py`` (which
writes ``doc/_static/kfold_memory.json`` and ``headline.json`` together):
wall time against peak memory, a point per run, an arrow from plain
scikit-learn to skmemmap per configuration
(``skmemmap._bench.plot_time_memory``, what ``bench --plot`` draws too).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STATIC = os.path.join(os.path.dirname(HERE), "_static")
NJOBS_JSON = os.path.join(STATIC, "fig_njobs.json")
AUDIT_JSON = os.path.join(STATIC, "fig_audit_heatmap.json")

# 160 MB float64: large enough that a copy of X dwarfs the monitor's noise
# (a few MB), small enough that six runs take about three minutes.
NJOBS_SHAPE = (100_000, 200)
NJOBS_VALUES = (1, 2, 4)
# Small models: the copies of X do not depend on the number of trees.
AUDIT_ESTIMATORS = (
    "sklearn.ensemble.RandomForestClassifier(n_estimators=5, max_depth=8)",
    "sklearn.ensemble.ExtraTreesClassifier(n_estimators=5, max_depth=8)",
    "sklearn.ensemble.HistGradientBoostingClassifier(max_iter=5)",
    "sklearn.tree.DecisionTreeClassifier(max_depth=8)",
    "sklearn.linear_model.LogisticRegression(max_iter=20)",
    "sklearn.linear_model.SGDClassifier(max_iter=5, tol=None)",
    "sklearn.svm.LinearSVC(max_iter=50)",
    "sklearn.linear_model.Lasso(alpha=0.1)",
    "sklearn.linear_model.Ridge()",
    "sklearn.neighbors.KNeighborsClassifier()",
    "sklearn.decomposition.PCA(n_components=5)",
    "sklearn.preprocessing.StandardScaler()",
)
# as skmemmap.audit names them (skmemmap._utils.layout_name)
LAYOUTS = ("float64 C", "float64 Fortran", "float32 C", "float32 Fortran")


# --------------------------------------------------------------------------
# measuring (by hand)
# --------------------------------------------------------------------------
def measure_njobs(path=NJOBS_JSON):
    from skmemmap._bench import run_bench

    results = run_bench(
        n_samples=NJOBS_SHAPE[0],
        n_features=NJOBS_SHAPE[1],
        quick=True,
        workloads=["rf"],
        n_jobs=NJOBS_VALUES,
        folds=(2,),
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    keep = ("mode", "n_jobs", "folds", "peak_bytes", "peak_anon_bytes", "seconds")
    data = {
        "what": "GridSearchCV(RandomForestClassifier(5 trees, depth 8), "
        "2 candidates, 2 folds); peak memory above the start, process tree, "
        "worker interpreters started before the start",
        "command": "python doc/sphinxext/skmemmap_figures.py measure njobs",
        "shape": results["shape"],
        "x_nbytes": results["x_nbytes"],
        "runs": [{k: r[k] for k in keep} for r in results["runs"]],
    }
    _write_json(path, data)


def measure_audit(path=AUDIT_JSON):
    import importlib

    from skmemmap import audit

    rows = []
    for text in AUDIT_ESTIMATORS:
        name, args = text.split("(", 1)
        module, cls = name.rsplit(".", 1)
        estimator = eval(  # the constant expressions listed above
            f"cls({args}", {"cls": getattr(importlib.import_module(module), cls)}
        )
        result = audit(estimator)
        print(result, file=sys.stderr, flush=True)
        rows.append(
            {
                "estimator": text[len(module) + 1 :],
                "fit_x": {r["layout"]: r["fit_x"] for r in result.rows},
                "no_copy_layouts": result.no_copy_layouts,
            }
        )
    data = {
        "what": "extra memory of fit, as a multiple of X in the layout given "
        "(skmemmap.audit: the larger of tracemalloc's peak and RssAnon growth)",
        "command": "python doc/sphinxext/skmemmap_figures.py measure audit",
        "x_shape": list(result.x_shape),
        "rows": rows,
    }
    _write_json(path, data)


def _write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print(f"wrote {path}", file=sys.stderr)


# --------------------------------------------------------------------------
# drawing (every build)
# --------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_njobs(data, path):
    import numpy as np

    plt = _pyplot()
    x_nbytes = data["x_nbytes"]
    runs = {(r["mode"], r["n_jobs"]): r for r in data["runs"]}
    n_jobs = sorted({r["n_jobs"] for r in data["runs"]})
    pos = np.arange(len(n_jobs))
    width = 0.38
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    from skmemmap._bench import COLORS

    for shift, mode in ((-1, "plain"), (1, "skmemmap")):
        color = COLORS[mode]
        peaks = [runs[(mode, j)]["peak_bytes"] / x_nbytes for j in n_jobs]
        label = "plain scikit-learn" if mode == "plain" else "skmemmap"
        bars = ax.bar(pos + shift * width / 2, peaks, width, label=label, color=color)
        ax.bar_label(bars, fmt="%.2f", padding=2, fontsize=9)
    ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1)
    ax.text(pos[-1] + width, 1.0, " 1 x X", va="bottom", ha="right", fontsize=9)
    ax.set_xticks(pos, [f"n_jobs={j}" for j in n_jobs])
    ax.set_ylabel("peak memory above the start\n(copies of X)")
    ax.set_ylim(0, 1.25 * max(r["peak_bytes"] / x_nbytes for r in data["runs"]))
    n, p = data["shape"]
    ax.set_title(
        f"GridSearchCV(RandomForest), 2 folds, X {n:,} x {p} float64 "
        f"({x_nbytes / 2**20:.0f} MB)",
        fontsize=10,
    )
    ax.legend(loc="upper left", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_audit(data, path):
    import numpy as np

    plt = _pyplot()
    rows = data["rows"]
    values = np.array([[r["fit_x"].get(lay, np.nan) for lay in LAYOUTS] for r in rows])
    fig, ax = plt.subplots(figsize=(7.2, 0.38 * len(rows) + 1.8))
    # grey, not red: red and blue mean plain scikit-learn and skmemmap in
    # every other figure, and this one compares neither
    image = ax.imshow(
        values, cmap="Greys", vmin=0, vmax=max(2.0, np.nanmax(values)), aspect="auto"
    )
    for i, r in enumerate(rows):
        for j, lay in enumerate(LAYOUTS):
            v = values[i, j]
            best = lay in r["no_copy_layouts"]
            ax.text(
                j,
                i,
                f"{v:.2f}" + (" *" if best else ""),
                ha="center",
                va="center",
                fontsize=9,
                color="white" if v > 2.5 else "black",
                fontweight="bold" if best else "normal",
            )
    ax.set_xticks(range(len(LAYOUTS)), [lay.replace(" ", "\n") for lay in LAYOUTS])
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(rows)), [r["estimator"].split("(")[0] for r in rows])
    ax.set_xlabel("layout of X given to fit (dtype, memory order)")
    ax.tick_params(length=0)
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("extra memory in fit (copies of X)")
    n, p = data["x_shape"]
    ax.set_title(
        f"X {n:,} x {p}; * and bold: no-copy layouts (within 0.25 x X of the best)",
        fontsize=9,
        pad=40,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_time_memory(data, path):
    from skmemmap._bench import plot_time_memory

    plot_time_memory(data, path)


# figure name -> (the measured data it is drawn from, in _static; the drawer)
FIGURES = {
    "fig_njobs": ("fig_njobs.json", draw_njobs),
    "fig_audit_heatmap": ("fig_audit_heatmap.json", draw_audit),
    "fig_time_memory": ("kfold_memory.json", draw_time_memory),
}


def draw_all(out_dir, static=STATIC):
    """Draw every figure whose data exists into ``out_dir``; return the paths."""
    os.makedirs(out_dir, exist_ok=True)
    drawn = []
    for name, (data_name, draw) in FIGURES.items():
        source = os.path.join(static, data_name)
        if not os.path.exists(source):
            continue
        with open(source) as f:
            data = json.load(f)
        path = os.path.join(out_dir, name + ".png")
        draw(data, path)
        drawn.append(path)
    return drawn


def main(argv):
    if len(argv) == 2 and argv[0] == "measure" and argv[1] in ("njobs", "audit"):
        {"njobs": measure_njobs, "audit": measure_audit}[argv[1]]()
    elif len(argv) == 2 and argv[0] == "draw":
        for path in draw_all(argv[1]):
            print(path)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # the checkout
    sys.exit(main(sys.argv[1:]))
