"""The command line: ``python -m skmemmap {info,audit,bench}`` at small sizes."""

import json
import os
import subprocess
import sys

import pytest

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
        "--json",
        str(out_json),
        "--plot",
        str(out_png),
    )
    assert proc.returncode == 0, proc.stderr
    assert "logreg" in proc.stdout and "plain / skmemmap" in proc.stdout
    assert "[ 2/2] logreg n_jobs=1 folds=2 skmemmap" in proc.stderr  # progress
    results = json.loads(out_json.read_text())
    assert [r["mode"] for r in results["runs"]] == ["plain", "skmemmap"]
    plain, mapped = results["runs"]
    assert plain["score"] == pytest.approx(mapped["score"])
    assert out_png.stat().st_size > 10_000


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
