"""The command line: ``python -m skmemmap {info,audit,bench}`` at small sizes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from skmemmap import _bench
from skmemmap.__main__ import _build_estimator
from skmemmap._bench import format_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, timeout=300):
    env = {
        **os.environ,
        "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    return subprocess.run(
        [sys.executable, "-m", "skmemmap", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_info():
    proc = _run("info")
    assert proc.returncode == 0, proc.stderr
    for needle in (
        "skmemmap",
        "sklearn",
        "threadpoolctl",
        "Thread pools",
        "base folder",
        "free",
        "/dev/shm",
    ):
        assert needle in proc.stdout


def test_audit_command():
    # 4000 x 60 float64 (1.8 MB): a copy stands well above measurement noise.
    proc = _run(
        "audit", "Ridge(alpha=0.5)", "--n-samples", "4000", "--n-features", "60"
    )
    assert proc.returncode == 0, proc.stderr
    assert "Audit of Ridge(alpha=0.5)" in proc.stdout
    assert "skmemmap.layout_for: float64 or float32 C (agrees)" in proc.stdout
    # progress on stderr, one line per step, each with its time
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("audit: Ridge baseline on X[:, :4]... ")
    assert [line.split("... ")[0] for line in lines[1:]] == [
        f"audit: Ridge {layout} fit and predict"
        for layout in ("float64 C", "float64 Fortran", "float32 C", "float32 Fortran")
    ]
    assert all(line.endswith(" s") for line in lines)


@pytest.mark.parametrize(
    "text, message",
    [
        ("Ridge(bogus=1)", "Ridge() got an unexpected keyword argument 'bogus'"),
        ("NoSuchModel", "unknown estimator 'NoSuchModel'"),
        ("Ridg", "did you mean Ridge or RidgeCV?"),
        ("sklearn.linear_model.NoSuchModel", "cannot import"),
        ("Ridge(alpha=", "cannot read 'Ridge(alpha='"),
        ("Ridge(alpha=__import__('os'))", "only literal values"),
        ("sklearn.utils.Bunch", "is not an estimator class"),
        ("Ridge(alpha=-1)", "The 'alpha' parameter of Ridge must be"),
    ],
)
def test_audit_command_rejects_bad_estimators(text, message):
    proc = _run("audit", text, "--n-samples", "200", "--n-features", "5")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert errors == [f"skmemmap audit: error: {errors[0].split(': ', 2)[2]}"]
    assert message in errors[0]


def test_build_estimator():
    est = _build_estimator("sklearn.linear_model.Lasso(alpha=0.1, max_iter=5)")
    assert type(est).__name__ == "Lasso" and est.alpha == 0.1 and est.max_iter == 5
    assert type(_build_estimator("sklearn.svm.SVC")).__name__ == "SVC"
    assert _build_estimator("Ridge(alpha=2)").alpha == 2  # scikit-learn's names


def test_bench_small(tmp_path):
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    proc = _run(
        "bench",
        "--quick",
        "--n-samples",
        "3000",
        "--n-features",
        "20",
        "--workloads",
        "logreg",
        "--n-jobs",
        "1",
        "--folds",
        "2",
        "--baseline-rows",
        "0",
        "--json",
        str(out_json),
        "--plot",
        str(out_png),
    )
    assert proc.returncode == 0, proc.stderr
    assert "logreg" in proc.stdout and "plain / skmemmap" in proc.stdout
    # progress, one line per run
    assert proc.stderr.startswith("Dataset: X 3,000 x 20 float64 (0.46 MB)")
    assert "[2/2] logreg n_jobs=1 folds=2 skmemmap   3,000 rows: PSS" in proc.stderr
    results = json.loads(out_json.read_text())
    assert [r["mode"] for r in results["runs"]] == ["plain", "skmemmap"]
    plain, mapped = results["runs"]
    assert plain["score"] == pytest.approx(mapped["score"])
    assert out_png.stat().st_size > 10_000


def _fake_run(spec, timeout):
    """What a run in a fresh process returns, made up: plain copies X 3
    times, skmemmap not at all, each in 10 s (both have 2 MB of fixed costs)."""
    x_nbytes = np.load(spec["x_path"], mmap_mode="r").nbytes
    extra = 3 * x_nbytes if spec["mode"] == "plain" else 0
    peak = 2 * 2**20 + extra
    return {
        **{k: spec[k] for k in ("workload", "mode", "n_jobs", "folds")},
        "metric": "pss",
        "peak_bytes": peak,
        "peak_committed_bytes": peak,
        "peak_anon_bytes": peak,
        "disk_bytes": 0,
        "seconds": 10.0,
    }


def test_bench_quick_runs_the_headlines_search(tmp_path, monkeypatch):
    monkeypatch.setattr(_bench, "_subprocess_run", _fake_run)
    lines = []
    results = _bench.run_bench(quick=True, progress=lines.append)
    # The README headline's search, n_jobs=2, 2 and 5 folds, plain then
    # skmemmap, each also at 1,000 rows: 8 fresh processes.
    assert [
        (r["workload"], r["n_jobs"], r["folds"], r["mode"]) for r in results["runs"]
    ] == [
        ("rf6", 2, 2, "plain"),
        ("rf6", 2, 2, "skmemmap"),
        ("rf6", 2, 5, "plain"),
        ("rf6", 2, 5, "skmemmap"),
    ]
    assert lines[0].startswith("Dataset: X 20,000 x 100 float64 (15 MB)")
    assert [line[:42] for line in lines[1:3]] == [
        "[1/8] rf6    n_jobs=2 folds=2 plain      1",
        "[2/8] rf6    n_jobs=2 folds=2 skmemmap   1",
    ]
    assert lines[-1].startswith("[8/8] rf6    n_jobs=2 folds=5 skmemmap  20,000 rows")
    # X-proportional: full size minus 1,000 rows, over X (the fixed 2 MB cancel)
    plain_x = 3 * (1 - 1000 / 20_000)
    assert results["runs"][0]["xprop"]["peak_committed_bytes"] == pytest.approx(plain_x)
    assert results["runs"][1]["xprop"]["peak_committed_bytes"] == 0
    # skmemmap's 0 is under the noise floor (8 MB, 0.52 X): the ratio is a bound
    table = _bench.format_table(results)
    assert "|   2.9   2.85 |   0.0   0.00   0.0 |   >5.4   >5.4" in table
    _bench.plot_results(results, tmp_path / "all.png")
    _bench.plot_time_memory(results, tmp_path / "time.png")
    assert (tmp_path / "time.png").stat().st_size > 10_000


def test_bench_rejects_bad_arguments():
    proc = _run("bench", "--folds", "two")
    assert proc.returncode != 0 and "--folds takes comma-separated integers" in (
        proc.stderr
    )
    proc = _run("bench", "--workloads", "svm", "--n-samples", "100")
    assert proc.returncode != 0 and "Unknown workload 'svm'" in proc.stderr


def test_format_table_ratios():
    runs = [
        {
            "workload": "rf",
            "n_jobs": 2,
            "folds": 2,
            "mode": "plain",
            "metric": "pss",
            "peak_bytes": 400 * 2**20,
            "seconds": 10.0,
        },
        {
            "workload": "rf",
            "n_jobs": 2,
            "folds": 2,
            "mode": "skmemmap",
            "metric": "pss",
            "peak_bytes": 100 * 2**20,
            "seconds": 8.0,
        },
    ]
    table = format_table({"x_nbytes": 100 * 2**20, "runs": runs})
    row = next(line for line in table.splitlines() if line.startswith("rf"))
    assert "400" in row and "4.0" in row and "1.25" in row
