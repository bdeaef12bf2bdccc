"""Type stubs of the compiled core ``qftml._qftml`` (see ``src/lib.rs``)."""

from os import PathLike
from typing import List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Path = Union[str, PathLike[str]]

def sample(argv: List[str], keep_configs: bool) -> Tuple[str, Optional[npt.NDArray[np.float64]]]:
    """Runs ``qftml sample ARGV``: the record ``--json`` prints, and with ``keep_configs``
    the measured configurations as an ``(n, Ly, Lx)`` array."""

def run_command(argv: List[str]) -> List[str]:
    """Runs ``qftml ARGV`` (``reweight``, ``train``, ``irg``, ``rbm``, ``data``) and returns
    the records it emits, as the JSON text ``--json`` prints."""

def read_couplings(
    path: _Path,
) -> Tuple[
    Tuple[int, int],
    str,
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]:
    """Reads and validates a couplings file: ``(lattice, pair_set, w, a, b, r)``."""

def write_couplings(
    path: _Path,
    lattice: Tuple[int, int],
    pair_set: str,
    w: List[float],
    a: List[float],
    b: List[float],
    r: List[float],
) -> None:
    """Validates couplings and writes them atomically as a couplings file."""

def read_ensemble(
    path: _Path,
) -> Tuple[Optional[npt.NDArray[np.float64]], npt.NDArray[np.float64], npt.NDArray[np.uint64], str, int]:
    """Reads an ensemble file: ``(configs, actions, chain, algorithm, seed)``."""

class RbmCore:
    """A φ⁴ network with its trainer: the core of ``qftml.RBM``."""

    def __init__(
        self,
        visible: str,
        hidden: str,
        n_visible: int,
        n_hidden: int,
        learning_rate: float,
        batch_size: int,
        seed: int,
        weight_sd: float,
        cd_k: int,
        persistent: bool,
        momentum: float,
        weight_decay: float,
        shuffle: bool,
    ) -> None: ...
    def fit_epochs(self, x: npt.NDArray[np.float64], n_epochs: int) -> List[float]:
        """``n_epochs`` passes over the rows of ``x``; each epoch's reconstruction error."""
    def transform(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``E[h | φ]`` of every row."""
    def score_samples(self, x: npt.NDArray[np.float64], seed: int) -> npt.NDArray[np.float64]:
        """scikit-learn's per-row pseudo-log-likelihood (one random flipped unit)."""
    def pseudo_log_likelihood(self, x: npt.NDArray[np.float64]) -> float:
        """The mean pseudo-log-likelihood over every unit."""
    def gibbs(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """One block Gibbs step from every row."""
    def components(self) -> npt.NDArray[np.float64]:
        """Weights ``(n_hidden, n_visible)``."""
    def params(self) -> npt.NDArray[np.float64]:
        """The flat parameters ``[w | r | a | b | s | m | n]``."""
    def epochs_done(self) -> int:
        """Epochs trained."""
