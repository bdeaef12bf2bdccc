#!/usr/bin/env python3
"""Bernoulli-Bernoulli RBM on the 10,000 MNIST digits: qftml against scikit-learn.

Both train 784 x 256 units, batch 10, learning rate 0.05, persistent CD-1, 5 epochs, on the
digits binarised at 0.5 (pixel / 255 >= 0.5), with the same seeds, taking the mini-batches in
the order of the data as scikit-learn's `fit` does (`--data-order`).  The pseudo-likelihood after
5 epochs varies from seed to seed by about 1.5 nats, so compare means over several seeds.
`--sklearn-order shuffled` gives scikit-learn a new permutation of the rows every epoch instead
(its own update on each mini-batch), to measure what the order alone does.  Both trained models are
then scored by the same estimators on the training data:

- scikit-learn's own `BernoulliRBM.score_samples` (one random unit flipped per example),
  averaged over `--score-seeds` random states, so the estimate is not decided by which units
  happen to be flipped;
- the all-units pseudo-log-likelihood `sum_i log sigmoid(F(v^(i)) - F(v))` (the expectation
  of scikit-learn's estimate over the flipped unit), computed here in NumPy on the first
  `--exact-examples` examples for both models, and by `qftml rbm eval --pll all-units` on all
  examples for the qftml model.

Seconds per epoch: scikit-learn's `fit` wall time / epochs (its loop does nothing else), and
the `sec_per_epoch` that `qftml rbm train --json` reports (training only); CPU seconds per
epoch: the process CPU time of scikit-learn's `fit` / epochs, and qftml's `cpu_s_per_epoch`
(the training thread's CPU time).  On a shared machine the CPU seconds are the comparison to
trust: the wall time also counts whatever else ran.  Both run on one thread by default
(`--threads`): BLAS threads for NumPy, `RAYON_NUM_THREADS` for qftml.

Usage (from the repository root, after `cargo build --release -p cli`):

    python3 scripts/compare_sklearn.py --seeds 1 2 3 --out target/compare-sklearn

Needs numpy and scikit-learn (`pip install scikit-learn`).
"""

import argparse
import gzip
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(ROOT / "data/mnist-10k-images-idx3-ubyte.gz"))
    p.add_argument("--seeds", type=int, nargs="+", default=[1])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--n-hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--data-order", choices=["given", "shuffled"], default="given",
                   help="qftml's order of the examples (scikit-learn's fit keeps the given order)")
    p.add_argument("--sklearn-order", choices=["given", "shuffled"], default="given",
                   help="scikit-learn's order: its own fit, or its update on a new permutation every epoch")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--score-seeds", type=int, default=100)
    p.add_argument("--exact-examples", type=int, default=1000)
    p.add_argument("--qftml", default=str(ROOT / "target/release/qftml"))
    p.add_argument("--out", default=str(ROOT / "target/compare-sklearn"))
    p.add_argument("--reuse", action="store_true", help="reuse trained models found in --out")
    p.add_argument("--skip-sklearn", action="store_true")
    p.add_argument("--skip-qftml", action="store_true")
    p.add_argument("--skip-qftml-eval", action="store_true",
                   help="skip `qftml rbm eval --pll all-units` on every example (slow)")
    return p.parse_args()


ARGS = parse_args()
# BLAS reads its thread count at import time.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
from sklearn.neural_network import BernoulliRBM  # noqa: E402


def read_idx_images(path):
    with gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    if magic != 0x803:
        sys.exit(f"{path}: not an IDX image file (magic {magic:#x})")
    n, rows, cols = (int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(3))
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16, count=n * rows * cols)
    return pixels.reshape(n, rows * cols)


def free_energy(rbm, v):
    return -v @ rbm.intercept_visible_ - np.logaddexp(
        0, v @ rbm.components_.T + rbm.intercept_hidden_
    ).sum(axis=1)


def all_units_pll(rbm, v):
    """Mean over examples of sum_i log sigmoid(F(v^(i)) - F(v))."""
    w = rbm.components_  # n_hidden x n_visible
    t = v @ w.T + rbm.intercept_hidden_
    base = np.logaddexp(0, t).sum(axis=1)
    total = np.zeros(v.shape[0])
    for i in range(v.shape[1]):
        dv = 1.0 - 2.0 * v[:, i]
        flipped = np.logaddexp(0, t + dv[:, None] * w[:, i][None, :]).sum(axis=1)
        delta_f = -dv * rbm.intercept_visible_[i] - (flipped - base)
        total += -np.logaddexp(0, -delta_f)
    return total.mean()


def averaged_score(rbm, x, n_seeds):
    saved = rbm.random_state
    scores = []
    for s in range(n_seeds):
        rbm.random_state = s
        scores.append(rbm.score_samples(x).mean())
    rbm.random_state = saved
    scores = np.array(scores)
    return scores.mean(), scores.std(ddof=1) / np.sqrt(n_seeds), scores[0]


def train_sklearn(x, seed, out):
    path = out / f"sklearn-{ARGS.sklearn_order}-seed{seed}.npz"
    if ARGS.reuse and path.exists():
        z = np.load(path)
        rbm = BernoulliRBM(n_components=ARGS.n_hidden, random_state=seed)
        rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_ = (
            z["components"], z["intercept_visible"], z["intercept_hidden"])
        rbm.n_features_in_ = x.shape[1]
        return rbm, float(z["sec_per_epoch"]), float(z["cpu_per_epoch"])
    rbm = BernoulliRBM(
        n_components=ARGS.n_hidden,
        learning_rate=ARGS.lr,
        batch_size=ARGS.batch,
        n_iter=ARGS.epochs,
        random_state=seed,
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    if ARGS.sklearn_order == "given":
        rbm.fit(x)
    else:
        fit_shuffled(rbm, x, seed)
    sec_per_epoch = (time.perf_counter() - start) / ARGS.epochs
    cpu_per_epoch = (time.process_time() - cpu_start) / ARGS.epochs
    np.savez(path, components=rbm.components_, intercept_visible=rbm.intercept_visible_,
             intercept_hidden=rbm.intercept_hidden_, sec_per_epoch=sec_per_epoch,
             cpu_per_epoch=cpu_per_epoch)
    return rbm, sec_per_epoch, cpu_per_epoch


def fit_shuffled(rbm, x, seed):
    """scikit-learn's `fit` with a new permutation of the rows every epoch: its own
    initialisation and per-batch update (`BernoulliRBM._fit`), batches of consecutive rows of
    the permuted data (the order from NumPy's generator seeded with `seed`)."""
    from sklearn.utils import check_random_state
    rng = check_random_state(rbm.random_state)
    rbm.components_ = np.asarray(rng.normal(0, 0.01, (ARGS.n_hidden, x.shape[1])), order="F")
    rbm._n_features_out = ARGS.n_hidden
    rbm.intercept_hidden_ = np.zeros(ARGS.n_hidden)
    rbm.intercept_visible_ = np.zeros(x.shape[1])
    rbm.h_samples_ = np.zeros((ARGS.batch, ARGS.n_hidden))
    rbm.n_features_in_ = x.shape[1]
    order = np.random.default_rng(seed)
    for _ in range(ARGS.epochs):
        perm = order.permutation(len(x))
        for start in range(0, len(x), ARGS.batch):
            rbm._fit(x[perm[start:start + ARGS.batch]], rng)


def run_json(cmd):
    env = dict(os.environ, RAYON_NUM_THREADS=str(ARGS.threads))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def train_qftml(x, seed, out):
    run = out / f"qftml-seed{seed}"
    export = out / f"qftml-seed{seed}-export"
    if not (ARGS.reuse and (run / "results.json").exists()):
        record = run_json([
            ARGS.qftml, "rbm", "train", "--data", ARGS.data, "--visible", "bernoulli",
            "--hidden", "bernoulli", "--n-hidden", str(ARGS.n_hidden), "--epochs", str(ARGS.epochs),
            "--batch", str(ARGS.batch), "--lr", str(ARGS.lr), "--persistent",
            "--binarize", str(ARGS.threshold), "--data-order", ARGS.data_order, "--seed", str(seed),
            "--out", str(run), "--json",
        ])
        (out / f"qftml-seed{seed}-train.json").write_text(json.dumps(record))
    record = json.loads((out / f"qftml-seed{seed}-train.json").read_text())
    run_json([ARGS.qftml, "rbm", "export", "--model", str(run), "--out", str(export), "--json"])
    rbm = BernoulliRBM(n_components=ARGS.n_hidden, random_state=seed)
    # sklearn's convention: p(h = 1 | v) = sigmoid(v W^T + c), biases are minus qftml's linear terms.
    rbm.components_ = np.load(export / "weights.npy").T.copy()
    rbm.intercept_visible_ = -np.load(export / "visible_linear.npy")
    rbm.intercept_hidden_ = -np.load(export / "hidden_linear.npy")
    rbm.n_features_in_ = x.shape[1]
    own_all = None
    if not ARGS.skip_qftml_eval:
        evaluation = run_json([ARGS.qftml, "rbm", "eval", "--model", str(run), "--pll", "all-units",
                               "--ais-runs", "0", "--json"])
        own_all = evaluation["pseudo_loglik"]
    sec = record["timing"]["sec_per_epoch"]
    cpu = record["timing"].get("cpu_s_per_epoch") or [float("nan")]
    return (rbm, sum(sec) / len(sec), sum(cpu) / len(cpu), record["epochs"][-1]["pseudo_loglik"],
            own_all)


def standard_error(x):
    """The standard error of the mean of the per-seed values `x` (NaN for one seed)."""
    return x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else float("nan")


def main():
    out = pathlib.Path(ARGS.out)
    out.mkdir(parents=True, exist_ok=True)
    x = (read_idx_images(ARGS.data) / 255.0 >= ARGS.threshold).astype(np.float64)
    sub = x[: ARGS.exact_examples]
    print(f"data: {x.shape[0]} examples x {x.shape[1]} pixels, binarised at {ARGS.threshold}; "
          f"{ARGS.threads} thread(s)")
    rows = []
    for seed in ARGS.seeds:
        models = []
        if not ARGS.skip_sklearn:
            rbm, sec, cpu = train_sklearn(x, seed, out)
            models.append(("scikit-learn", rbm, sec, cpu, None, None))
        if not ARGS.skip_qftml:
            rbm, sec, cpu, own_pll, own_all = train_qftml(x, seed, out)
            models.append(("qftml", rbm, sec, cpu, own_pll, own_all))
        for name, rbm, sec, cpu, own_pll, own_all in models:
            mean, err, first = averaged_score(rbm, x, ARGS.score_seeds)
            exact = all_units_pll(rbm, sub)
            row = dict(model=name, seed=seed, sec_per_epoch=sec, cpu_per_epoch=cpu,
                       sklearn_score_seed0=first,
                       sklearn_score_avg=mean, sklearn_score_err=err,
                       all_units_first=exact, qftml_random_unit=own_pll, qftml_all_units=own_all)
            rows.append(row)
            extra = "" if own_pll is None else f", qftml train random-unit {own_pll:.3f}"
            if own_all is not None:
                extra += f", qftml eval all-units {own_all:.3f}"
            print(f"seed {seed} {name:>12}: {sec:6.2f} s/epoch (CPU {cpu:6.2f} s); score_samples (random_state 0) "
                  f"{first:.3f}; averaged over {ARGS.score_seeds} states {mean:.3f} +- {err:.3f}; "
                  f"all-units (first {sub.shape[0]}) {exact:.3f}{extra}", flush=True)
    (out / "summary.json").write_text(json.dumps(rows, indent=1))
    by_model = {name: [row for row in rows if row["model"] == name] for name in ("scikit-learn", "qftml")}
    if all(by_model.values()):
        for key, what in (("sec_per_epoch", "wall"), ("cpu_per_epoch", "CPU")):
            ratio = (np.mean([row[key] for row in by_model["scikit-learn"]])
                     / np.mean([row[key] for row in by_model["qftml"]]))
            print(f"qftml is {ratio:.2f}x faster per epoch than scikit-learn ({what} seconds)")
    for name in ("scikit-learn", "qftml"):
        r = [row for row in rows if row["model"] == name]
        if r:
            s = np.array([row["sklearn_score_avg"] for row in r])
            a = np.array([row["all_units_first"] for row in r])
            t = np.array([row["sec_per_epoch"] for row in r])
            c = np.array([row["cpu_per_epoch"] for row in r])
            print(f"{name:>12}: mean over {len(r)} seed(s): {t.mean():.2f} s/epoch "
                  f"(CPU {c.mean():.2f} s/epoch), "
                  f"averaged score_samples {s.mean():.3f} (seed-to-seed sd {s.std(ddof=1) if len(s) > 1 else float('nan'):.3f}), "
                  f"all-units PLL (first {ARGS.exact_examples}) {a.mean():.3f} +- {standard_error(a):.3f}")
    if all(by_model.values()) and len(ARGS.seeds) > 1:
        sk = np.array([row["all_units_first"] for row in by_model["scikit-learn"]])
        ours = np.array([row["all_units_first"] for row in by_model["qftml"]])
        diff = ours.mean() - sk.mean()
        err = np.hypot(standard_error(sk), standard_error(ours))
        print(f"all-units PLL, qftml - scikit-learn: {diff:+.3f} +- {err:.3f} "
              f"({diff / err:+.1f} standard errors over {len(ARGS.seeds)} seeds)")


if __name__ == "__main__":
    main()
