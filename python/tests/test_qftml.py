"""The Python front end against exact answers and against the `qftml` binary.

Statistical checks use fixed seeds and tolerances in standard errors that include the
autocorrelation (Γ-method errors of the record).  Comparisons with the binary leave out the
fields that measure time or name the process: every `timing` object (for `sample`: wall_s,
update_cpu_s, ns_per_site_update), every other field ending in `_s` or naming seconds, the
speed-ups `qftml irg` derives from CPU times, and `provenance.command_line`,
`provenance.unix_time`.
"""

import copy
import json
import math

import numpy as np
import pytest

import qftml

# A free field on a non-square lattice: Lx = 8, Ly = 6.
FREE = dict(lattice=(8, 6), kappa=0.2, mu2=0.5, lam=0.0, sweeps=4000, therm=200, seed=7, threads=1)
FREE_FLAGS = [
    "--lattice=8x6",
    "--kappa=0.2",
    "--mu2=0.5",
    "--lambda=0.0",
    "--sweeps=4000",
    "--therm=200",
    "--seed=7",
    "--threads=1",
]


def exact_free_field(lx, ly, kappa, mu2):
    """⟨φ²⟩, ⟨m²⟩ and the nearest-neighbour ⟨φ_iφ_j⟩ of S = ½ φᵀMφ from the eigenvalues
    μ² + 2κ Σ_ν (1 − cos k_ν) of M, computed here independently of the library."""
    kx = 2 * np.pi * np.arange(lx) / lx
    ky = 2 * np.pi * np.arange(ly) / ly
    cx, cy = np.cos(kx)[None, :], np.cos(ky)[:, None]
    eig = mu2 + 2 * kappa * ((1 - cx) + (1 - cy))
    v = lx * ly
    return {
        "phi2": float(np.mean(1 / eig)),
        "m2": float(1 / (v * eig[0, 0])),
        "nn": float(np.mean((cx + cy) / 2 / eig)),
    }


def is_wall_time(key):
    """Fields that measure time (seconds, CPU time, rates and speed-ups derived from them)."""
    return key == "timing" or key.endswith("_s") or "seconds" in key or key == "speedup"


def without_wall_time(record):
    """The record without the fields that measure time or name the process."""
    if isinstance(record, dict):
        return {k: without_wall_time(v) for k, v in record.items() if not is_wall_time(k)} | (
            {"provenance": {k: v for k, v in record["provenance"].items() if k not in ("command_line", "unix_time")}}
            if "provenance" in record
            else {}
        )
    if isinstance(record, list):
        return [without_wall_time(v) for v in record]
    return record


def test_free_field_matches_the_exact_values():
    r = qftml.sample(**FREE)
    exact = exact_free_field(8, 6, 0.2, 0.5)
    for name, value in exact.items():
        o = r.observables[name]
        assert o.tau_int is not None and o.tau_int > 0
        assert abs(o.mean - value) < 4 * o.err, f"{name}: {o.mean} ± {o.err} vs exact {value}"
        # The record's own exact values are the same numbers.
        assert math.isclose(r.exact[name], value, rel_tol=1e-10), name


def test_configurations_are_an_n_ly_lx_array_matching_the_observables():
    r = qftml.sample(**dict(FREE, sweeps=500, chains=2), configs=True)
    assert r.configs.dtype == np.float64
    assert r.configs.shape == (r.n_configs, 6, 8)
    # ⟨φ²⟩ of the array is the Γ-method mean (the same configurations, summed in another order).
    assert math.isclose(float(np.mean(r.configs**2)), r.observables["phi2"].mean, rel_tol=1e-12)
    # Site i = y·Lx + x: the nearest-neighbour average from rolled arrays.
    c = r.configs
    nn = float(np.mean((c * np.roll(c, 1, axis=2) + c * np.roll(c, 1, axis=1)) / 2))
    assert math.isclose(nn, r.observables["nn"].mean, rel_tol=1e-10)
    assert qftml.sample(**dict(FREE, sweeps=50)).configs is None


def test_sample_is_bit_identical_to_the_binary(cli):
    code, record, err = cli("sample", *FREE_FLAGS, "--json")
    assert code == 0, err
    r = qftml.sample(**FREE)
    assert r.to_dict()["observables"] == record["observables"]
    assert without_wall_time(r.to_dict()) == without_wall_time(record)
    assert r.to_dict()["provenance"]["command_line"] == ["qftml", "sample", *FREE_FLAGS]


def test_the_talks_point_with_the_default_algorithm_is_bit_identical(cli):
    flags = ["--lattice=16", "--kappa=1.0", "--mu2=-0.9515", "--lambda=0.7", "--sweeps=300", "--therm=50", "--seed=3"]
    code, record, err = cli("sample", *flags, "--json")
    assert code == 0, err
    r = qftml.sample(lattice=16, kappa=1.0, mu2=-0.9515, lam=0.7, sweeps=300, therm=50, seed=3)
    assert without_wall_time(r.to_dict()) == without_wall_time(record)


@pytest.mark.parametrize(
    "kwargs, flags",
    [
        (dict(lam=-1.0), ["--lambda=-1.0"]),
        (dict(mu2=-1.0, lam=0.0), ["--mu2=-1.0", "--lambda=0.0"]),
        (dict(sweeps=-5), ["--sweeps=-5"]),
        (dict(algorithm="gibbs"), ["--algorithm=gibbs"]),
        (dict(lattice=3), ["--lattice=3"]),
    ],
)
def test_bad_input_raises_value_error_with_the_commands_message(cli, kwargs, flags):
    base = dict(lattice=8, kappa=0.2, mu2=0.5, lam=0.1, sweeps=10, therm=1)
    args = dict(base, **kwargs)
    with pytest.raises(ValueError) as info:
        qftml.sample(**args)
    argv = qftml._argv(args)
    code, _, err = cli("sample", *argv)
    assert code != 0
    first = err.strip().splitlines()[0]
    assert first == f"error: {info.value}" or first == f"error: {str(info.value).splitlines()[0]}", (first, str(info.value))


def test_unknown_keywords_and_wrong_types_raise_type_error():
    with pytest.raises(TypeError):
        qftml.sample(lattice=8, kappa=0.2, mu2=0.5, lam=0.0, sweps=10)
    with pytest.raises(TypeError):
        qftml.sample(lattice=8.5, kappa=0.2, mu2=0.5, lam=0.0)
    with pytest.raises(TypeError):
        qftml.reweight(ensemble="x", no_such_flag=1)


def test_couplings_files_round_trip_and_refuse_non_normalisable_couplings(tmp_path):
    v = 16
    c = qftml.Couplings((4, 4), "nearest-neighbour", np.full(2 * v, 0.2), np.full(v, 0.65), np.full(v, 0.0), np.zeros(v))
    path = tmp_path / "couplings.json"
    qftml.write_couplings(path, c)
    back = qftml.read_couplings(path)
    assert back.lattice == (4, 4) and back.pair_set == "nearest-neighbour"
    for a, b in zip(back[2:], c[2:]):
        np.testing.assert_array_equal(a, b)
    # The file samples the free field of κ = 0.2, μ² = 0.5: a = (μ² + 4κ)/2 = 0.65.
    r = qftml.sample(couplings=path, sweeps=3000, therm=100, seed=2)
    exact = exact_free_field(4, 4, 0.2, 0.5)["phi2"]
    assert abs(r.observables["phi2"].mean - exact) < 4 * r.observables["phi2"].err
    bad = c._replace(b=np.full(v, -1.0))
    with pytest.raises(ValueError, match="b"):
        qftml.write_couplings(tmp_path / "bad.json", bad)
    with pytest.raises(ValueError):
        qftml.write_couplings(tmp_path / "nan.json", c._replace(a=np.full(v, np.nan)))
    with pytest.raises(ValueError):
        qftml.write_couplings(tmp_path / "short.json", c._replace(w=np.ones(3)))


def test_ensembles_written_and_read_in_the_commands_format(tmp_path, cli):
    run = tmp_path / "run"
    kwargs = dict(FREE, sweeps=300)
    r = qftml.sample(**kwargs, out=run, configs=True)
    ens = qftml.read_ensemble(run)
    np.testing.assert_array_equal(ens.configs, r.configs)
    assert ens.actions.shape == (r.n_configs,) and ens.seed == 7
    written = json.loads((run / "results.json").read_text())
    assert written["observables"] == r.to_dict()["observables"]
    assert written["provenance"]["command_line"][:2] == ["qftml", "sample"]
    # Reweighting the stored run: the same record as `qftml reweight --json`.
    rw = qftml.reweight(ensemble=run, mu2=0.55)
    code, record, err = cli("reweight", f"--ensemble={run}", "--mu2=0.55", "--json")
    assert code == 0, err
    assert without_wall_time(rw.to_dict()) == without_wall_time(record)


def test_variational_training_is_the_commands_run(cli):
    flags = dict(lattice=4, kappa=1.0, mu2=-0.9515, lam=0.7, epochs=20, chains=4, bound_nodes=4, bound_samples=50)
    r = qftml.train_variational(**flags, seed=2)
    code, record, err = cli("train", "variational", *qftml._argv(flags), "--seed=2", "--json")
    assert code == 0, err
    assert without_wall_time(r.to_dict()) == without_wall_time(record)


def test_training_from_a_numpy_array(tmp_path, cli):
    data = qftml.sample(lattice=4, kappa=0.2, mu2=0.5, lam=0.0, sweeps=400, therm=50, seed=4, configs=True).configs
    r = qftml.train_data(data, epochs=2, gaussian=True, seed=1, chains=4)
    np.save(tmp_path / "x.npy", data.reshape(len(data), -1))
    code, record, err = cli(
        "train", "data", f"--data={tmp_path / 'x.npy'}", "--lattice=4x4", "--epochs=2", "--gaussian", "--seed=1", "--chains=4", "--json"
    )
    assert code == 0, err
    a, b = without_wall_time(r.to_dict()), without_wall_time(record)
    a["config"].pop("data"), b["config"].pop("data")
    assert a == b
    with pytest.raises(ValueError, match="NaN|finite"):
        bad = data.copy()
        bad[0, 0, 0] = np.nan
        qftml.train_data(bad, epochs=1)
    with pytest.raises(TypeError):
        qftml.train_data(np.array([["a", "b"]]), epochs=1)


# --- the φ⁴ networks as a scikit-learn estimator ---------------------------------------


def binary_digits():
    from sklearn.datasets import load_digits

    return (load_digits().data / 16.0 > 0.5).astype(np.float64)


def user_snippet(make_rbm):
    """A user's BernoulliRBM code, unchanged except for the class."""
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.datasets import load_digits

    X = binary_digits()
    y = load_digits().target
    rbm = make_rbm(n_components=32, learning_rate=0.05, batch_size=10, n_iter=10, random_state=0)
    rbm.fit(X)
    H = rbm.transform(X)
    assert H.shape == (len(X), 32) and H.min() >= 0 and H.max() <= 1
    scores = rbm.score_samples(X)
    assert scores.shape == (len(X),) and np.all(scores <= 0)
    V = rbm.gibbs(X[:5])
    assert V.shape == (5, 64) and np.isin(V, [0, 1]).all()
    assert rbm.components_.shape == (32, 64)
    assert rbm.intercept_hidden_.shape == (32,) and rbm.intercept_visible_.shape == (64,)
    params = rbm.get_params()
    assert params["n_components"] == 32 and params["learning_rate"] == 0.05
    rbm.set_params(n_iter=2)
    assert rbm.get_params()["n_iter"] == 2
    rbm.partial_fit(X[:20])
    copy_ = clone(rbm)
    assert copy_.get_params() == rbm.get_params()
    model = Pipeline([("rbm", clone(rbm)), ("logistic", LogisticRegression(max_iter=500))])
    model.fit(X[:1000], y[:1000])
    accuracy = model.score(X[1000:], y[1000:])
    return float(np.mean(rbm.score_samples(X))), accuracy


def test_the_scikit_learn_snippet_runs_with_either_class():
    from sklearn.neural_network import BernoulliRBM

    sk_pll, sk_acc = user_snippet(BernoulliRBM)
    ours_pll, ours_acc = user_snippet(lambda **kw: qftml.RBM(visible="bernoulli", hidden="bernoulli", **kw))
    # Both learn: scores far above the untrained network's 64·ln σ(0) ≈ −44, and features
    # that classify digits far better than chance (0.1) after two epochs.
    assert ours_pll > -30 and sk_pll > -30, (ours_pll, sk_pll)
    assert ours_acc > 0.3 and sk_acc > 0.3, (ours_acc, sk_acc)


def test_the_estimator_refuses_bad_data():
    X = binary_digits()
    rbm = qftml.RBM(n_components=8, n_iter=1, random_state=0)
    with pytest.raises(qftml.NotFittedError):
        rbm.transform(X)
    with pytest.raises(TypeError):
        rbm.fit(np.array([["a"] * 64]))
    with pytest.raises(ValueError, match="2-D"):
        rbm.fit(X[0])
    bad = X.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="not a finite number"):
        rbm.fit(bad)
    with pytest.raises(ValueError, match="binarize"):
        rbm.fit(X * 0.5)
    rbm.fit(X)
    with pytest.raises(ValueError, match="visible units"):
        rbm.transform(X[:, :10])
    with pytest.raises(ValueError, match="invalid parameter"):
        rbm.set_params(n_hiden=3)
    with pytest.raises(ValueError, match="learning rate"):
        qftml.RBM(learning_rate=-1.0, n_iter=1).fit(X)


def test_score_samples_is_sklearns_flip_score_in_expectation():
    X = binary_digits()[:200]
    rbm = qftml.RBM(n_components=16, n_iter=3, random_state=1).fit(X)
    scores = np.concatenate([rbm.score_samples(X) for _ in range(20)])
    # The mean over random flipped units against its exact expectation (all units).
    exact = rbm.pseudo_log_likelihood(X)
    assert abs(scores.mean() - exact) < 4 * scores.std() / math.sqrt(len(scores))


def test_ctrl_c_stops_a_long_run():
    """SIGINT during a run far longer than the test raises KeyboardInterrupt within seconds."""
    import signal
    import subprocess
    import sys
    import time

    # A shell that starts a job in the background (as CI may) leaves SIGINT ignored, and
    # Python keeps an inherited "ignore": give the child Python's own handler, as a terminal
    # session has it.
    code = (
        "import qftml, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "print('started', flush=True)\n"
        "qftml.sample(lattice=64, kappa=1.0, mu2=-0.9515, lam=0.7, sweeps=10**8, threads=1)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.0)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not stop within 60 s of SIGINT")
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err, err
    assert time.perf_counter() - sent < 60


def test_irg_and_list_valued_flags_are_the_commands_run(cli):
    kwargs = dict(lattice=8, steps=2, mu2=[-0.96, -0.94], configs=40, chains=2, sweeps=10, validate=[8, 16])
    more = dict(direct_configs=100, fit_from=16, seed=1, threads=1)
    r = qftml.irg(**kwargs, **more)
    code, record, err = cli(
        "irg", "--lattice=8", "--steps=2", "--mu2=-0.96,-0.94", "--configs=40", "--chains=2", "--sweeps=10",
        "--validate=8,16", "--direct-configs=100", "--fit-from=16", "--seed=1", "--threads=1", "--json",
    )
    assert code == 0, err
    assert without_wall_time(r.to_dict()) == without_wall_time(record)


def test_reweighting_scans_across_two_ensembles(tmp_path, cli):
    runs = []
    for k, mu2 in enumerate((0.5, 0.6)):
        runs.append(tmp_path / f"run{k}")
        qftml.sample(**dict(FREE, mu2=mu2, sweeps=2000, seed=10 + k), out=runs[-1])
    r = qftml.reweight(ensemble=runs, scan=["mu2=0.5:0.6:3"])
    code, record, err = cli("reweight", *[f"--ensemble={p}" for p in runs], "--scan=mu2=0.5:0.6:3", "--json")
    assert code == 0, err
    assert without_wall_time(r.to_dict()) == without_wall_time(record)
