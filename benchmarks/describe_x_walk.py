"""How often MemmapEstimator.fit asks what X is: a trace of one fit.

A MemmapArray (float64 C, 200 x 5) is given to a RandomForestRegressor, whose
layout is float32 C: fit converts it (writes a float32 sibling file). Every
call into a function of a skmemmap module is traced (``sys.setprofile``, this
thread), the copy signal's bookkeeping included, and counted:

- calls: calls into skmemmap functions;
- stays: the walk's visits to modules (consecutive calls in one module count
  once);
- climbs: calls made by a function of ``_estimator`` straight into ``_array``;
- is_memmap_view: how often X (or a view of it) is asked whether it is a view;
- _array calls: all calls into ``_array``.

    PYTHONPATH=$PWD python benchmarks/describe_x_walk.py [-v]

``-v`` prints the walk and the calls per function. Before ``describe_input``
(commit a89098c): calls=310 stays=98 climbs=6 is_memmap_view=11 _array=29;
after: calls=274 stays=83 climbs=2 is_memmap_view=4 _array=16.
"""

import collections
import os
import sys
import tempfile
import warnings

import numpy as np
from sklearn.ensemble import RandomForestRegressor

import skmemmap

PKG = os.path.dirname(skmemmap.__file__) + os.sep


def _module(code):
    name = code.co_filename
    return os.path.basename(name)[:-3] if name.startswith(PKG) else None


def walk_of_fit():
    """``(modules called, in order; calls per function; climbs; views asked)``."""
    rng = np.random.RandomState(0)
    X0, y = rng.standard_normal((200, 5)), rng.standard_normal(200)
    walk, names = [], collections.Counter()
    counts = {"climbs": 0, "asks": 0}

    def profile(frame, event, arg):
        module = _module(frame.f_code) if event == "call" else None
        if module is None:
            return
        walk.append(module)
        names[f"{module}.{frame.f_code.co_name}"] += 1
        caller = frame.f_back
        if module == "_array" and caller and _module(caller.f_code) == "_estimator":
            counts["climbs"] += 1
        counts["asks"] += frame.f_code.co_name == "is_memmap_view"

    with tempfile.TemporaryDirectory() as folder:
        X = skmemmap.memmap(X0, folder=folder)
        forest = RandomForestRegressor(n_estimators=2, random_state=0)
        est = skmemmap.MemmapEstimator(forest, folder=folder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the conversion's CopyWarning
            sys.setprofile(profile)
            try:
                est.fit(X, y)
            finally:
                sys.setprofile(None)
    return walk, names, counts["climbs"], counts["asks"]


def main():
    walk, names, climbs, asks = walk_of_fit()
    stays = [m for i, m in enumerate(walk) if i == 0 or walk[i - 1] != m]
    print(f"skmemmap from {PKG}")
    print(
        f"calls={len(walk)} stays={len(stays)} climbs={climbs} "
        f"is_memmap_view={asks} _array={walk.count('_array')}"
    )
    if "-v" in sys.argv:
        print(" > ".join(stays))
        for name, n in names.most_common():
            print(f"  {n:3d} {name}")


if __name__ == "__main__":
    main()
