"""qftml: lattice φ⁴ field theory as a machine-learning model, from Python.

A lattice φ⁴ theory on an ``Lx × Ly`` periodic lattice with couplings
θ = {w_ij, a_i, b_i, r_i} is the Markov random field ``p(φ; θ) ∝ exp(−S(φ; θ))`` with

    S(φ; θ) = − Σ_⟨ij⟩ w_ij φ_i φ_j + Σ_i (a_i φ_i² + b_i φ_i⁴ + r_i φ_i);

homogeneous φ⁴ is ``w = κ, a = (μ² + 4κ)/2, b = λ/4``.  This package runs the ``qftml``
engine in-process: :func:`sample` (Markov chains, observables with Γ-method errors and
integrated autocorrelation times), :func:`reweight`, :func:`train_variational` (KL(p‖q)
against a target action), :func:`train_data` (KL(q‖p) from samples), :func:`irg` (inverse
renormalization group), the couplings and ensemble files of the command-line program, and
:class:`RBM`, the φ⁴ networks (generalised restricted Boltzmann machines) as a
scikit-learn-style estimator.

Keyword arguments are the flags of the ``qftml`` command of the same name with dashes as
underscores (``--g-nnn`` → ``g_nnn``, ``--lambda`` → ``lam``; ``lattice`` is an int ``L``
or a tuple ``(Lx, Ly)``).  They are parsed and checked by the command itself, so results are
bit-identical to the binary's for the same seed, every error message is the command's
(raised as :class:`ValueError`; an unknown keyword is a :class:`TypeError`), and
``result.to_dict()`` is the object ``qftml COMMAND --json`` prints.

Example (a free field, where the exact ⟨φ²⟩ comes with the result)::

    >>> import qftml
    >>> r = qftml.sample(lattice=4, kappa=0.2, mu2=1.0, lam=0.0, sweeps=2000, seed=1)
    >>> phi2 = r.observables["phi2"]
    >>> abs(phi2.mean - r.exact["phi2"]) < 5 * phi2.err
    True

Long runs release the GIL.  On Ctrl-C, :func:`sample` and :meth:`RBM.fit` stop at their
next progress report (at most 1/200 of the run) or epoch and raise ``KeyboardInterrupt``
(an RBM keeps the epochs it finished); the other commands raise ``KeyboardInterrupt`` at
once and finish in the background with their result discarded (files they were asked to
write, ``out=...``, are still written; the next of them waits for that).
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
import time
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _qftml

__all__ = [
    "Couplings",
    "Ensemble",
    "NotFittedError",
    "Observable",
    "RBM",
    "Result",
    "SampleResult",
    "irg",
    "read_couplings",
    "read_ensemble",
    "reweight",
    "run",
    "sample",
    "train_data",
    "train_variational",
    "write_couplings",
]

__version__ = _qftml.__version__

Lattice = Union[int, Tuple[int, int]]


def _flag_value(name: str, value: Any) -> Optional[str]:
    """The text of one flag's value, or None for a flag without a value."""
    if name == "lattice":
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"lattice must be an int L or a tuple (Lx, Ly), not {value!r}")
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
        ):
            return f"{int(value[0])}x{int(value[1])}"
        if isinstance(value, str):
            return value
        raise TypeError(f"lattice must be an int L or a tuple (Lx, Ly), not {value!r}")
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"{name} must be a number, a string or a path, not {type(value).__name__}")


def _argv(kwargs: Mapping[str, Any]) -> List[str]:
    """Keyword arguments as the flags of a ``qftml`` command (``None`` and ``False`` omitted)."""
    argv: List[str] = []
    for name, value in kwargs.items():
        if value is None or value is False:
            continue
        flag = "--lambda" if name == "lam" else "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple, np.ndarray)) and name != "lattice":
            # A list is the flag repeated (clap appends; comma lists are split as well).
            argv.extend(f"{flag}={_flag_value(name, v)}" for v in value)
        else:
            argv.append(f"{flag}={_flag_value(name, value)}")
    return argv


def _raise_unknown(err: ValueError) -> None:
    """An unknown flag (an unknown keyword) is a TypeError; other parse errors stay."""
    if str(err).startswith("unexpected argument"):
        raise TypeError(str(err)) from None
    raise err


class Observable(NamedTuple):
    """An ensemble average: mean, standard error (Γ-method, autocorrelation included),
    integrated autocorrelation time in sweeps and its error (``None`` for derived
    quantities such as ``chi`` and ``binder``, whose errors come from a jackknife)."""

    mean: float
    err: float
    tau_int: Optional[float] = None
    tau_int_err: Optional[float] = None


class Result:
    """A command's result record: ``to_dict()`` is the object ``qftml COMMAND --json``
    prints; its top-level fields are also attributes and items."""

    def __init__(self, record_json: str) -> None:
        self._json = record_json
        self._dict: Dict[str, Any] = json.loads(record_json)

    def to_dict(self) -> Dict[str, Any]:
        """The record as ``--json`` prints it (a fresh copy)."""
        return json.loads(self._json)

    def to_json(self) -> str:
        """The record as the exact JSON text ``--json`` prints."""
        return self._json

    def __getitem__(self, key: str) -> Any:
        return self._dict[key]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_dict"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._dict)})"


class SampleResult(Result):
    """The result of :func:`sample`.

    ``observables`` maps ``phi2, m_abs, m2, m4, nn, action_density`` (per-configuration
    averages with Γ-method errors and τ_int) and ``chi, binder`` (jackknife errors) to
    :class:`Observable`; ``configs`` is the ``(n, Ly, Lx)`` float64 array of measured
    configurations (chain after chain) when ``configs=True`` was given, else ``None``;
    ``exact`` holds the exact free-field values when the action is a free field."""

    def __init__(self, record_json: str, configs: Optional[np.ndarray]) -> None:
        super().__init__(record_json)
        self.configs = configs
        obs = self._dict["observables"]
        self.observables: Dict[str, Observable] = {
            name: Observable(v["mean"], v["err"], v.get("tau_int"), v.get("tau_int_err")) for name, v in obs.items()
        }
        exact = self._dict.get("exact_free_field")
        self.exact: Optional[Dict[str, float]] = exact


def sample(
    *,
    lattice: Optional[Lattice] = None,
    kappa: Optional[float] = None,
    mu2: Optional[float] = None,
    lam: Optional[float] = None,
    g_nnn: Optional[float] = None,
    couplings: Optional[Union[str, os.PathLike]] = None,
    algorithm: Optional[str] = None,
    sweeps: Optional[int] = None,
    therm: Optional[int] = None,
    chains: Optional[int] = None,
    measure_every: Optional[int] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
    config: Optional[Union[str, os.PathLike]] = None,
    out: Optional[Union[str, os.PathLike]] = None,
    configs: bool = False,
) -> SampleResult:
    """Sample p(φ) ∝ exp(−S) with Markov chains; ``qftml sample`` in-process.

    The action is homogeneous lattice φ⁴ (``kappa``, ``mu2``, ``lam``, optionally the
    diagonal term −g′ Σ_⟨⟨ij⟩⟩ φ_iφ_j via ``g_nnn``) or inhomogeneous couplings read from
    the file ``couplings``.  ``algorithm``: metropolis, heatbath, cluster, hybrid (default)
    or sw; ``sweeps`` measured sweeps per chain (10000), ``therm`` thermalisation sweeps
    (1000), ``chains`` independent chains (2), ``seed`` (1; chain c uses stream c),
    ``threads`` worker threads (all cores; results do not depend on it), ``config`` a TOML
    run config, ``out`` a run directory written as the command writes it.  With
    ``configs=True`` the measured configurations come back as an ``(n, Ly, Lx)`` array.
    """
    kwargs = dict(locals())
    keep = bool(kwargs.pop("configs"))
    try:
        record_json, array = _qftml.sample(_argv(kwargs), keep)
    except ValueError as err:
        _raise_unknown(err)
    return SampleResult(record_json, array)


def run(command: str, *args: str, **kwargs: Any) -> List[Result]:
    """Runs the ``qftml`` command ``command`` (``reweight``, ``train``, ``irg``, ``rbm``,
    ``data``; ``args`` are subcommands such as ``"variational"``) with keyword flags, and
    returns the records it prints with ``--json``."""
    argv = [command, *args, *_argv(kwargs)]
    try:
        records = _qftml.run_command(argv)
    except ValueError as err:
        _raise_unknown(err)
    return [Result(r) for r in records]


def _one(records: List[Result]) -> Result:
    if len(records) != 1:
        raise RuntimeError(f"the command printed {len(records)} records, expected one")
    return records[0]


def reweight(**kwargs: Any) -> Result:
    """Reweight stored ensembles to other (also complex) actions; ``qftml reweight``.

    ``ensemble`` (a run directory of ``sample(out=...)``, or a list of them for
    multi-histogram reweighting), the target (``kappa``, ``mu2``, ``lam``, ``g_nnn``,
    ``imag_mass``) or ``scan`` (``"NAME=FROM:TO:N"`` or a list of them), as the command's
    flags; a list value is the flag repeated."""
    return _one(run("reweight", **kwargs))


def train_variational(**kwargs: Any) -> Result:
    """Train φ⁴ couplings against a target action by minimising KL(p‖q);
    ``qftml train variational`` (``lattice``, ``kappa``, ``mu2``, ``lam``, ``g_nnn``,
    ``epochs``, ``lr``, ``optimizer``, ``chains``, ``seed``, ``out`` …)."""
    return _one(run("train", "variational", **kwargs))


def train_data(X: Any, **kwargs: Any) -> Result:
    """Learn φ⁴ couplings from samples ``X`` by minimising KL(q‖p); ``qftml train data``.

    ``X`` is an ``(n, Ly, Lx)`` array of configurations, or ``(n, V)`` with ``lattice``
    given.  It is handed to the command as a NumPy file in a temporary directory (the
    command's own reader checks it); the other keywords are the command's flags (``epochs``,
    ``lr``, ``chains``, ``batch``, ``gaussian``, ``seed``, ``out`` …)."""
    a = _as_real_array(X, "X")
    if a.ndim == 3:
        if "lattice" not in kwargs:
            kwargs["lattice"] = (a.shape[2], a.shape[1])
        a = a.reshape(a.shape[0], -1)
    elif a.ndim != 2:
        raise ValueError(f"X must be (n, Ly, Lx) or (n, V), got shape {a.shape}")
    with tempfile.TemporaryDirectory(prefix="qftml-") as tmp:
        path = os.path.join(tmp, "data.npy")
        np.save(path, a)
        return _one(run("train", "data", data=path, **kwargs))


def irg(**kwargs: Any) -> Result:
    """Inverse renormalization group; ``qftml irg`` (``lattice``, ``steps``, ``mu2`` (a
    list), ``configs``, ``validate``, ``seed`` …)."""
    return _one(run("irg", **kwargs))


class Couplings(NamedTuple):
    """Inhomogeneous couplings on a periodic lattice, as a couplings file stores them:
    ``lattice (Lx, Ly)``, ``pair_set`` (``nearest-neighbour``, ``diagonal`` or ``both``),
    per-pair ``w`` and per-site ``a``, ``b``, ``r`` (site ``i = y·Lx + x``)."""

    lattice: Tuple[int, int]
    pair_set: str
    w: np.ndarray
    a: np.ndarray
    b: np.ndarray
    r: np.ndarray


def read_couplings(path: Union[str, os.PathLike]) -> Couplings:
    """Read and validate a couplings file (``qftml-couplings`` JSON, e.g. from training)."""
    return Couplings(*_qftml.read_couplings(os.fspath(path)))


def write_couplings(path: Union[str, os.PathLike], couplings: Couplings) -> None:
    """Validate ``couplings`` (sizes, finite values, normalisability: every b > 0, or b = 0
    with a positive-definite quadratic form) and write them atomically as a couplings file
    that ``sample(couplings=path)`` and ``qftml sample --couplings`` read."""
    lattice, pair_set, w, a, b, r = couplings
    arrays = [_as_real_array(v, name).ravel().tolist() for v, name in ((w, "w"), (a, "a"), (b, "b"), (r, "r"))]
    _qftml.write_couplings(os.fspath(path), (int(lattice[0]), int(lattice[1])), str(pair_set), *arrays)


class Ensemble(NamedTuple):
    """A stored ensemble: ``configs`` ``(n, Ly, Lx)`` (``None`` if not stored), the exact
    sampled action ``S`` of every configuration, the chain of every configuration, the
    algorithm and the seed of the run."""

    configs: Optional[np.ndarray]
    actions: np.ndarray
    chain: np.ndarray
    algorithm: str
    seed: int


def read_ensemble(path: Union[str, os.PathLike]) -> Ensemble:
    """Read an ensemble (``ensemble.qfe``, or the run directory holding it), with the
    checks ``qftml reweight`` makes (checksum, finiteness, recomputed actions)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "ensemble.qfe")
    return Ensemble(*_qftml.read_ensemble(path))


def _as_real_array(X: Any, name: str) -> np.ndarray:
    """``X`` as a C-contiguous float64 array; TypeError for non-real data."""
    if hasattr(X, "toarray") and not isinstance(X, np.ndarray):
        raise TypeError(f"{name} must be a dense array, not {type(X).__name__}")
    a = np.asarray(X)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, not {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _as_matrix(X: Any) -> np.ndarray:
    a = _as_real_array(X, "X")
    if a.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {a.shape}")
    return a


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` or ``partial_fit``."""


class RBM:
    """A φ⁴ neural network (generalised restricted Boltzmann machine) as a scikit-learn
    estimator; with the defaults it stands in for ``sklearn.neural_network.BernoulliRBM``.

    The network is the φ⁴ action on the complete bipartite graph,
    ``S(φ, h) = −Σ w_ij φ_i h_j + Σ_i (r_i φ_i + a_i φ_i² + b_i φ_i⁴) + Σ_j (s_j h_j + m_j h_j² + n_j h_j⁴)``,
    with one unit type per layer (``"bernoulli"`` {0, 1}, ``"gaussian"``, ``"phi4"``,
    ``"spin"`` ±1).  Training is persistent contrastive divergence (``cd_k`` Gibbs steps,
    ``batch_size`` persistent chains, as scikit-learn) with the hidden layer through its exact
    conditional moments; mini-batches are consecutive rows of ``X``, in the order given
    (as scikit-learn) or, with ``shuffle=True``, in a fresh random order each epoch.  Bernoulli visible units take only 0 and 1:
    binarise the data first (scikit-learn also accepts probabilities).

    Parameters: ``visible``, ``hidden`` unit types; ``n_components`` hidden units (256);
    ``learning_rate`` (0.1); ``batch_size`` (10); ``n_iter`` epochs of ``fit`` (10);
    ``verbose`` (0; 1 prints the pseudo-likelihood and time per epoch); ``random_state``
    (an int seed, a ``numpy.random.RandomState`` or ``None`` for fresh entropy);
    ``cd_k``, ``persistent``, ``momentum``, ``weight_decay``, ``weight_sd`` (initial weights
    ``N(0, weight_sd²)``, 0.01 as scikit-learn), ``shuffle`` (False).

    Fitted attributes (scikit-learn's names and signs): ``components_`` ``(n_components,
    n_features)`` = ``wᵀ``, ``intercept_hidden_`` = ``−s``, ``intercept_visible_`` = ``−r``,
    ``n_features_in_``.
    """

    def __init__(
        self,
        visible: str = "bernoulli",
        hidden: str = "bernoulli",
        n_components: int = 256,
        learning_rate: float = 0.1,
        batch_size: int = 10,
        n_iter: int = 10,
        verbose: int = 0,
        random_state: Any = None,
        cd_k: int = 1,
        persistent: bool = True,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        weight_sd: float = 0.01,
        shuffle: bool = False,
    ) -> None:
        # scikit-learn's rule: the constructor stores its arguments unchanged.
        for name, value in dict(locals()).items():
            if name != "self":
                setattr(self, name, value)

    @classmethod
    def _param_names(cls) -> Tuple[str, ...]:
        return tuple(inspect.signature(cls.__init__).parameters)[1:]

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags of a transformer (scikit-learn ≥ 1.6 asks for them; imported
        only then, so that ``import qftml`` does not load scikit-learn)."""
        from sklearn.base import BaseEstimator, TransformerMixin

        class _Transformer(TransformerMixin, BaseEstimator):
            pass

        return _Transformer().__sklearn_tags__()

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        """The constructor's parameters (scikit-learn's ``get_params``)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "RBM":
        """Sets constructor parameters (scikit-learn's ``set_params``); they take effect at
        the next ``fit`` (or the first ``partial_fit``)."""
        for name, value in params.items():
            if name not in self._param_names():
                raise ValueError(
                    f"invalid parameter {name!r} for RBM; valid parameters are {', '.join(self._param_names())}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v != RBM().get_params()[k]]
        return f"RBM({', '.join(changed)})"

    def _seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(0, 2**63 - 1, dtype=np.int64))
        if isinstance(rs, (int, np.integer)) and not isinstance(rs, bool) and 0 <= int(rs) < 2**64:
            return int(rs)
        raise ValueError(f"random_state must be None, a RandomState or a whole number 0 ≤ seed < 2^64, not {rs!r}")

    def _new_core(self, n_features: int) -> None:
        for name in ("n_components", "batch_size", "n_iter", "cd_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an int, not {type(value).__name__}")
            if value < (0 if name == "n_iter" else 1):
                raise ValueError(f"{name} must be at least {0 if name == 'n_iter' else 1}, got {value}")
        self._seed_ = self._seed()
        self._core = _qftml.RbmCore(
            str(self.visible),
            str(self.hidden),
            int(n_features),
            int(self.n_components),
            float(self.learning_rate),
            int(self.batch_size),
            self._seed_,
            float(self.weight_sd),
            int(self.cd_k),
            bool(self.persistent),
            float(self.momentum),
            float(self.weight_decay),
            bool(self.shuffle),
        )
        self._score_calls = 0
        self.n_features_in_ = int(n_features)

    def _fitted_core(self) -> Any:
        core = self.__dict__.get("_core")
        if core is None:
            raise NotFittedError("this RBM is not fitted yet; call fit or partial_fit first")
        return core

    def fit(self, X: Any, y: Any = None) -> "RBM":
        """Fits a new network to the rows of ``X`` for ``n_iter`` epochs."""
        X = _as_matrix(X)
        self._new_core(X.shape[1])
        for epoch in range(int(self.n_iter)):
            start = time.perf_counter()
            self._core.fit_epochs(X, 1)
            if self.verbose:
                pll = float(np.mean(self.score_samples(X)))
                print(
                    f"[RBM] Iteration {epoch + 1}, pseudo-likelihood = {pll:.2f}, "
                    f"time = {time.perf_counter() - start:.2f}s"
                )
        return self

    def partial_fit(self, X: Any, y: Any = None) -> "RBM":
        """One epoch over the rows of ``X`` (mini-batches of ``batch_size`` consecutive rows,
        in the order of ``shuffle``), creating the network on the first call.  scikit-learn's ``partial_fit``
        takes one step on all of ``X`` as a single mini-batch; with at most ``batch_size``
        rows both take that one step."""
        X = _as_matrix(X)
        if self.__dict__.get("_core") is None:
            self._new_core(X.shape[1])
        self._core.fit_epochs(X, 1)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """``E[h | φ]`` of every row: the hidden probabilities for Bernoulli hidden units."""
        return self._fitted_core().transform(_as_matrix(X))

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def score_samples(self, X: Any) -> np.ndarray:
        """Pseudo-log-likelihood of every row, scikit-learn's definition: one visible unit
        ``i``, drawn at random per row, is flipped, and the score is
        ``n_features · ln σ(F(φ⁽ⁱ⁾) − F(φ))`` with ``F`` the free energy (binary visible
        units only).  Its expectation over ``i`` is :meth:`pseudo_log_likelihood`."""
        core = self._fitted_core()
        X = _as_matrix(X)
        seed = (self._seed_ + 0x9E3779B97F4A7C15 * (self._score_calls + 1)) % 2**64
        self._score_calls += 1
        return core.score_samples(X, seed)

    def pseudo_log_likelihood(self, X: Any) -> float:
        """The mean over rows and over every visible unit of the flip score (the
        deterministic expectation of :meth:`score_samples`)."""
        return float(self._fitted_core().pseudo_log_likelihood(_as_matrix(X)))

    def gibbs(self, v: Any) -> np.ndarray:
        """One block Gibbs step from every row of ``v``: ``h ~ p(h | φ)``, then
        ``φ ~ p(φ | h)``; returns the new visible states."""
        return self._fitted_core().gibbs(_as_matrix(v))

    def _params(self) -> np.ndarray:
        return self._fitted_core().params()

    @property
    def components_(self) -> np.ndarray:
        """Weights ``(n_components, n_features)``: row ``j`` is hidden unit ``j``'s feature map."""
        return self._fitted_core().components()

    @property
    def intercept_hidden_(self) -> np.ndarray:
        """Hidden biases in scikit-learn's sign, ``−s``."""
        nv, nh = self.n_features_in_, self._nh()
        p = self._params()
        return -p[nv * nh + 3 * nv : nv * nh + 3 * nv + nh].copy()

    @property
    def intercept_visible_(self) -> np.ndarray:
        """Visible biases in scikit-learn's sign, ``−r``."""
        nv, nh = self.n_features_in_, self._nh()
        p = self._params()
        return -p[nv * nh : nv * nh + nv].copy()

    def _nh(self) -> int:
        return int(self._fitted_core().components().shape[0])
