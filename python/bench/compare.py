"""Measurements of the Python front end (not a test: timings on a loaded machine vary).

(a) ``qftml.sample`` on 64² at the talk's point (κ = 1, μ² = −0.9515, λ = 0.7; the other
    settings the defaults of ``qftml sample``: hybrid, 2 chains, 1000 + 10000 sweeps, seed 1)
    against the ``qftml sample`` binary with the same flags: the observables must be
    bit-identical; wall time of both, alternating, in one run.
(b) The Bernoulli–Bernoulli network (``qftml.RBM``) against scikit-learn's ``BernoulliRBM``
    in this process: 784 × 256 on the 10,000 MNIST digits shipped in ``data/`` binarised at
    0.5, batch 10, learning rate 0.05, persistent CD-1, 5 epochs; seconds per epoch and the
    pseudo-log-likelihood of both (scikit-learn's one-random-unit score, and its exact
    expectation over every unit on the first 1000 digits), for each of ``--rbm-seeds``: the
    pseudo-likelihood after 5 epochs varies from seed to seed, so the means over seeds, with
    their standard errors, are compared.

Usage: python bench/compare.py [--reps N] [--threads T] [--sweeps S] [--rbm-seeds S...]
       [--skip-rbm] [--skip-sample]
with QFTML_BIN naming the binary (default target/release/qftml).  Prints ``uptime``
before and after.
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3, help="alternating repetitions of (a)")
    p.add_argument("--threads", type=int, default=1, help="worker threads of both (RAYON/BLAS)")
    p.add_argument("--sweeps", type=int, default=None, help="measured sweeps of (a) [default: the CLI's]")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument(
        "--rbm-seeds",
        type=int,
        nargs="+",
        default=list(range(1, 11)),
        help="random_state of each pair of fits in (b): the PLL after 5 epochs varies by ~1.5 nats between seeds",
    )
    p.add_argument("--skip-rbm", action="store_true")
    p.add_argument("--skip-sample", action="store_true")
    return p.parse_args()


ARGS = parse()
for var in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread settings)

import qftml  # noqa: E402


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def median(xs):
    return float(np.median(xs))


def bench_sample() -> None:
    binary = Path(os.environ.get("QFTML_BIN", REPO / "target" / "release" / "qftml"))
    kwargs = dict(lattice=64, kappa=1.0, mu2=-0.9515, lam=0.7, threads=ARGS.threads)
    if ARGS.sweeps is not None:
        kwargs["sweeps"] = ARGS.sweeps
    flags = qftml._argv(kwargs)
    print(f"(a) qftml sample {' '.join(flags)}  [binary {binary}]")
    wall_bin, wall_py, rec_bin, rec_py = [], [], [], []
    for rep in range(ARGS.reps):
        t = time.perf_counter()
        out = subprocess.run([str(binary), "sample", *flags, "--json"], capture_output=True, text=True, check=True)
        wall_bin.append(time.perf_counter() - t)
        record = json.loads(out.stdout)
        rec_bin.append(record)
        t = time.perf_counter()
        r = qftml.sample(**kwargs)
        wall_py.append(time.perf_counter() - t)
        rec_py.append(r.to_dict())
        same = record["observables"] == r.to_dict()["observables"]
        print(
            f"  rep {rep}: binary {wall_bin[-1]:.3f} s (run {record['timing']['wall_s']:.3f} s), "
            f"python {wall_py[-1]:.3f} s (run {r.timing['wall_s']:.3f} s), observables bit-identical: {same}"
        )
        if not same:
            sys.exit("the observables differ")
    mb, mp = median(wall_bin), median(wall_py)
    print(f"  median wall: binary {mb:.3f} s, python {mp:.3f} s, overhead {100 * (mp / mb - 1):+.1f} %")
    o = rec_py[0]["observables"]
    print(
        f"  ⟨|m|⟩ = {o['m_abs']['mean']:.5f} ± {o['m_abs']['err']:.5f} (τ_int {o['m_abs']['tau_int']:.2f}), "
        f"χ = {o['chi']['mean']:.3f} ± {o['chi']['err']:.3f}, U = {o['binder']['mean']:.4f} ± {o['binder']['err']:.4f}"
    )


def read_idx_images(path: Path) -> np.ndarray:
    raw = gzip.open(path, "rb").read()
    n, rows, cols = (int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(3))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)


def exact_pll(v: np.ndarray, w: np.ndarray, b_hidden: np.ndarray, b_visible: np.ndarray) -> float:
    """Mean over rows of Σ_i ln σ(F(v⁽ⁱ⁾) − F(v)) in scikit-learn's signs
    (F(v) = −v·b_v − Σ_j softplus(v·w_j + b_h,j)): the exact expectation over the flipped
    unit of scikit-learn's score n_features · ln σ(F(v⁽ⁱ⁾) − F(v))."""
    x = v @ w.T + b_hidden
    softplus = np.logaddexp(0, x).sum(axis=1)
    f = -v @ b_visible - softplus
    total = 0.0
    for i in range(v.shape[1]):
        d = 1 - 2 * v[:, i]  # +1 where the unit flips 0 → 1, −1 for 1 → 0
        fi = f - d * b_visible[i] + softplus - np.logaddexp(0, x + np.outer(d, w[:, i])).sum(axis=1)
        total += np.sum(-np.logaddexp(0, -(fi - f)))
    return float(total / v.shape[0])


def bench_rbm() -> None:
    from sklearn.neural_network import BernoulliRBM

    images = read_idx_images(REPO / "data" / "mnist-10k-images-idx3-ubyte.gz")
    X = (images / 255.0 >= 0.5).astype(np.float64)
    epochs = ARGS.epochs
    print(
        f"(b) BB network 784 × 256 on {len(X)} MNIST digits (binarised at 0.5), batch 10, lr 0.05, "
        f"{epochs} epochs, random_state {ARGS.rbm_seeds[0]}..{ARGS.rbm_seeds[-1]}"
    )
    names = ("scikit-learn BernoulliRBM", "qftml.RBM")
    per_epoch = {name: [] for name in names}
    plls = {name: [] for name in names}
    for seed in ARGS.rbm_seeds:
        settings = dict(n_components=256, learning_rate=0.05, batch_size=10, n_iter=epochs, random_state=seed)
        for name, make in zip(
            names,
            (
                lambda: BernoulliRBM(**settings),
                lambda: qftml.RBM(visible="bernoulli", hidden="bernoulli", **settings),
            ),
        ):
            model = make()
            t = time.perf_counter()
            model.fit(X)
            per_epoch[name].append((time.perf_counter() - t) / epochs)
            score = float(np.mean(model.score_samples(X)))
            pll = exact_pll(X[:1000], model.components_, model.intercept_hidden_, model.intercept_visible_)
            plls[name].append(pll)
            print(
                f"  seed {seed:3} {name:<26} {per_epoch[name][-1]:7.2f} s/epoch, "
                f"score_samples mean {score:8.2f}, all-unit PLL (first 1000) {pll:8.2f}",
                flush=True,
            )

    def mean_err(xs):
        xs = np.asarray(xs)
        return xs.mean(), (xs.std(ddof=1) / np.sqrt(len(xs)) if len(xs) > 1 else float("nan"))

    for name in names:
        (t, t_err), (p, p_err) = mean_err(per_epoch[name]), mean_err(plls[name])
        print(f"  {name:<26} {t:7.2f} ± {t_err:.2f} s/epoch, all-unit PLL {p:8.2f} ± {p_err:.2f}")
    sk, ours = (np.mean(per_epoch[name]) for name in names)
    (p_sk, e_sk), (p_ours, e_ours) = (mean_err(plls[name]) for name in names)
    diff, err = p_ours - p_sk, float(np.hypot(e_sk, e_ours))
    print(f"  speed-up per epoch: {sk / ours:.2f}×")
    print(f"  all-unit PLL, qftml − scikit-learn: {diff:+.2f} ± {err:.2f} ({diff / err:+.1f} standard errors)")


if __name__ == "__main__":
    print(f"uptime: {uptime()}")
    print(f"threads: {ARGS.threads} (RAYON_NUM_THREADS, BLAS)")
    if not ARGS.skip_sample:
        bench_sample()
    if not ARGS.skip_rbm:
        bench_rbm()
    print(f"uptime: {uptime()}")
