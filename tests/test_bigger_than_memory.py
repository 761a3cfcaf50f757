"""X of about 600 MB under a 400 MB memory cgroup: plain NumPy is killed, the
streaming fit completes (issue 18). Each run is a fresh process in a fresh
cgroup, made by ``benchmarks/cgroup.py`` (the benchmark's own harness).
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import skmemmap

ROOT = Path(skmemmap.__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "skmemmap_bench_cgroup", ROOT / "benchmarks" / "cgroup.py"
)
cgroup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cgroup)

MB = 2**20
LIMIT = 400 * MB
ROWS, FEATURES, N_CHUNKS = 36_000, 250, 9  # 9 chunks of 69 MB: X is 618 MB

pytestmark = pytest.mark.skipif(
    cgroup.cgroup_unavailable() is not None,
    reason=f"no memory cgroup can be made here: {cgroup.cgroup_unavailable()}",
)


@pytest.fixture(scope="module")
def chunks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chunks")
    x_paths, y_paths = [], []
    for i in range(N_CHUNKS):
        x_paths.append(str(folder / f"train_x_{i}.npy"))
        y_paths.append(str(folder / f"train_y_{i}.npy"))
        np.save(x_paths[-1], np.full((ROWS, FEATURES), i % 3 - 1.0))
        np.save(y_paths[-1], np.arange(ROWS) % 2)
    return x_paths, y_paths


def run(code, chunks):
    x_paths, y_paths = chunks
    prelude = f"import numpy as np\nx_paths, y_paths = {x_paths!r}, {y_paths!r}\n"
    # The chunks are page cache already (written by this process, charged to
    # its cgroup): no drop, the test is about anonymous memory.
    return cgroup.run_limited(prelude + code, limit=LIMIT, drop_cache=False)


def test_plain_numpy_is_killed(chunks):
    done = run("X = np.concatenate([np.load(p) for p in x_paths])", chunks)
    assert done.oom_killed and done.returncode == -9, done.stderr
    assert done.peak_anon > LIMIT * 0.9


@pytest.mark.skipif(
    not hasattr(skmemmap, "StreamingEstimator"),
    reason="enabled once skmemmap.StreamingEstimator exists (issue 18, section 2)",
)
def test_the_streaming_fit_completes(chunks):
    done = run(
        """
import skmemmap
from sklearn.linear_model import SGDClassifier
X, y = skmemmap.load(x_paths), skmemmap.load(y_paths)
model = skmemmap.StreamingEstimator(SGDClassifier(random_state=0)).fit(X, y)
print(model.n_blocks_, int(model.estimator_.t_))
""",
        chunks,
    )
    assert done.completed, done.stderr
    # Every row went through partial_fit once (SGD counts t_ from 1), a chunk
    # at a time.
    assert done.stdout.split() == [str(N_CHUNKS), str(N_CHUNKS * ROWS + 1)]
    assert done.peak_data_written == 0 and done.left == []  # nothing written
    # The interpreter and one or two chunks, well under the limit.
    assert done.peak_anon < 300 * MB
