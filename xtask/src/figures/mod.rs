//! The figure registry. Adding a figure: a module with
//! `pub fn run(fig: &mut FigureCtx<'_>) -> anyhow::Result<()>` and one line in
//! [`FIGURES`].

pub mod data_learning;
pub mod hammersley_clifford;
pub mod inverse_rg;
pub mod lattices_cliques;
pub mod rbm;
pub mod rbm_mnist;
pub mod reweighting;
pub mod sampler;
pub mod training;
pub mod training_reweight;

use crate::figure::{Budget, Figure};

/// The arguments of `qftml sample` for the homogeneous action `(κ, μ², λ)` on an L×L
/// lattice; a figure appends its own flags (`--algorithm`, `--out`, ...).
pub fn sample_args(lattice: u64, (kappa, mu2, lambda): (f64, f64, f64), sweeps: u64, seed: u64) -> Vec<String> {
    let mut args = vec!["sample".to_owned()];
    for (flag, value) in [
        ("--lattice", lattice.to_string()),
        ("--kappa", kappa.to_string()),
        ("--mu2", mu2.to_string()),
        ("--lambda", lambda.to_string()),
        ("--sweeps", sweeps.to_string()),
        ("--seed", seed.to_string()),
    ] {
        args.extend([flag.to_owned(), value]);
    }
    args
}

/// Appends `--flag value` pairs to an argument list.
pub fn with_flags(mut args: Vec<String>, flags: &[(&str, &str)]) -> Vec<String> {
    for (flag, value) in flags {
        args.extend([(*flag).to_owned(), (*value).to_owned()]);
    }
    args
}

/// Every figure `cargo xtask reproduce` makes, in report order.
///
/// The full-mode budgets are the wall times of the full run of 2026-12-02 on the 2-core
/// development VM (41 min from a clean target directory, other builds running at low
/// priority beside it); the quick budgets those of `--quick` runs.
pub const FIGURES: &[Figure] = &[
    Figure {
        name: "lattices-cliques",
        description: "The four graphs of the talk (periodic square, triangular and square-with-diagonals \
            lattices, and a complete bipartite graph) with one maximal clique of each highlighted. \
            The clique census from `qftml graph` is compared with the exact counts: \
            on a periodic L×L lattice with V = L² sites there are 2V edges, 2V triangles and V \
            squares; the complete bipartite graph N×M has NM edges. The listed cliques are also \
            verified to be complete and maximal in the listed edge set.",
        run: lattices_cliques::run,
        budget: Budget {
            quick_s: 1.0,
            full_s: 1.0,
        },
        runs_alone: false,
    },
    Figure {
        name: "hammersley-clifford",
        description: "Hammersley–Clifford as a number: for random configurations and random \
            inhomogeneous couplings on all four graphs, the product of the clique potentials must \
            equal exp(−S), i.e. |ln ∏_c ψ_c + S| / max(1, |S|) = 0 up to rounding, and a site's \
            conditional must depend only on its Markov blanket (`qftml action --random-couplings`).",
        run: hammersley_clifford::run,
        budget: Budget {
            quick_s: 1.0,
            full_s: 2.0,
        },
        runs_alone: false,
    },
    Figure {
        name: "free-field",
        description: "Every update schedule (Metropolis, heat bath, cluster, Swendsen–Wang, hybrid) sampling the free field \
            (κ = 1, μ² = 1, λ = 0) on 8×8 with `qftml sample`, against the exact results from the eigenvalues \
            of the quadratic form: ⟨φ²⟩, ⟨m²⟩, the nearest-neighbour product and the action density, each \
            within 4 Γ-method standard errors (which include the autocorrelation).",
        run: sampler::free_field,
        budget: Budget {
            quick_s: 3.0,
            full_s: 60.0,
        },
        runs_alone: false,
    },
    Figure {
        name: "sampler-scaling",
        description: "Integrated autocorrelation time of m² (in sweeps) and single-core cost per site update \
            against the lattice size L for each update schedule, at the talk's point κ = 1, μ² = −0.9515, \
            λ = 0.7 (one chain on one thread per point).",
        run: sampler::scaling,
        budget: Budget {
            quick_s: 8.0,
            full_s: 1430.0,
        },
        runs_alone: true,
    },
    Figure {
        name: "reweight-gnnn",
        description: "One ensemble at the talk's point (κ = 1, μ² = −0.9515, λ = 0.7, g′ = 0) reweighted along \
            the diagonal coupling g′ of −g′ Σ_⟨⟨ij⟩⟩ φ_iφ_j (`qftml reweight --scan`), against direct \
            simulations at g′ (`qftml sample --g-nnn`); points flagged for poor overlap are left out.",
        run: reweighting::along_g_nnn,
        budget: Budget {
            quick_s: 4.0,
            full_s: 115.0,
        },
        runs_alone: false,
    },
    Figure {
        name: "reweight-complex",
        description: "Free fields reweighted to the complex action S + i c Σφ² (the imaginary mass of the \
            talk's A₅, c = 0.15): real and imaginary parts of ⟨φ²⟩ against c, and the average phase \
            |⟨exp(−i c Σφ²)⟩| = |Z_T / Z_{Re T}| against the volume, each against its exact value.",
        run: reweighting::complex,
        budget: Budget {
            quick_s: 3.0,
            full_s: 65.0,
        },
        runs_alone: false,
    },
    Figure {
        name: "training-a",
        description: "Variational training (`qftml train variational`, default settings) of an inhomogeneous \
            nearest-neighbour φ⁴ model against the talk's target A (κ = 1, μ² = −0.9515, λ = 0.7): every coupling \
            against the epoch on a logarithmic axis, converging to w = 1, a = 1.52425, b = 0.175 (averages within \
            2 %, every single coupling within 10 %), and the Bogoliubov bound 𝓕 = ⟨A − S⟩ + F_S approaching the \
            reweighted F_A from above, the gap KL(p‖q) closing.",
        run: training::against_a,
        budget: Budget {
            quick_s: 16.0,
            full_s: 180.0,
        },
        runs_alone: true,
    },
    Figure {
        name: "training-a4",
        description: "The same training against A₄(g′ = 1), which has diagonal next-nearest pairs the \
            nearest-neighbour model cannot represent: the learned effective couplings and the gap \
            𝓕 − F_A = KL(p‖q) that stays open.",
        run: training::against_a4,
        budget: Budget {
            quick_s: 18.0,
            full_s: 210.0,
        },
        runs_alone: false,
    },
    Figure {
        name: "training-reweight",
        description: "The talk's three reweighting steps from a trained model: the nearest-neighbour model trained \
            against A₄(g′ = 1) on 8×8 (`qftml train variational --g-nnn 1`), sampled (`qftml sample --couplings`) and \
            reweighted (`qftml reweight`) (a) to A₄ itself, the correction, against a direct simulation of A₄; (b) \
            along g′ from 0.8 to 1.2, against direct simulations at seven g′, flagged points (Pareto k̂, ESS) drawn \
            apart and not checked; (c) to the complex A₅ = A₄ + 0.15 i Σφ²: real and imaginary parts and the average \
            phase against a direct simulation of A₄ reweighted by the phase alone. Checks within 4 combined \
            standard errors.",
        run: training_reweight::reweight_steps,
        budget: Budget {
            quick_s: 18.0,
            full_s: 80.0,
        },
        runs_alone: false,
    },
    Figure {
        name: "training-overlap",
        description: "The overlap of model and target ensembles: histograms of A − S under the model p (its own \
            chains) and under a direct simulation of the target q = A (`qftml train variational --overlap-samples`), \
            for the initial couplings and after training on 8×8, with the overlap coefficient and the Kish effective \
            sample size of the weights e^{−(A−S)} that reweight p to q.",
        run: training_reweight::overlap,
        budget: Budget {
            quick_s: 5.0,
            full_s: 8.0,
        },
        runs_alone: false,
    },
    Figure {
        name: "data-learning",
        description: "Learning couplings from data by minimising KL(q‖p) (`qftml train data`): exact samples of an \
            8×8 free field with κ = 0.2, μ² = 0.5 and mean 0.5 (`qftml data gaussian`), from which the learned \
            w, a, r recover the generating couplings (every coupling plotted against its generating value, the \
            averages within 4 standard errors); and one class of real digits (8×8 and MNIST), whose trained \
            MRF reproduces the per-site means and variances of the data (correlation ≥ 0.95, measured on \
            equilibrium samples of the model).",
        run: data_learning::run,
        budget: Budget {
            quick_s: 25.0,
            full_s: 25.0,
        },
        runs_alone: false,
    },
    Figure {
        name: "rbm-digits",
        description: "Bernoulli–Bernoulli φ⁴ networks (64 visible × 64 hidden, scikit-learn's settings: batch 10, \
            lr 0.05, persistent CD-1, 20 epochs) on the binarised 8×8 digits: pseudo-log-likelihood and \
            reconstruction error against epochs, feature maps w_ij (j fixed) as images, samples after 1000 Gibbs \
            steps; the PLL beside scikit-learn's BernoulliRBM with the same settings (recorded reference), and the \
            AIS log-likelihood of a 64×12 network beside its exact value by enumeration.",
        run: rbm::digits,
        budget: Budget {
            quick_s: 3.0,
            full_s: 60.0,
        },
        runs_alone: true,
    },
    Figure {
        name: "rbm-mnist",
        description: "φ⁴ networks on MNIST digits (the shipped 10,000-digit subset, pixels scaled to [0, 1]; 800 \
            digits and 3 epochs in quick mode, 2000 and 10 in full): a φ⁴–Bernoulli network (784 × 64, φ⁴ visible \
            units on the grey levels, binary hidden units, persistent CD-1, lr 0.05, a_i and b_i trained with the rest) with its feature maps w_ij \
            (j fixed) as 28×28 images and samples after block Gibbs steps; the talk's special cases \
            Bernoulli–Bernoulli (digits binarised at 0.5), Gaussian–Bernoulli and φ⁴–Bernoulli trained side by \
            side with the same data, hidden size and epochs: reconstruction error against epochs, and a table \
            of reconstruction error, pseudo-log-likelihood (binary visible units) and AIS log-likelihood; a \
            two-layer stack, a 64 × 32 Bernoulli–Bernoulli network trained on the φ⁴–Bernoulli network's hidden \
            samples (`qftml rbm export --activations samples`), with its training curve and its features \
            projected to pixels (Σ_k w¹_ik w²_kj), and top-down samples through the stack (the second layer's \
            Gibbs chains, then the first network's visible means). Checks: every reconstruction error falls from \
            the first to the last epoch; the per-pixel means of 25 φ⁴–Bernoulli samples, and of 25 top-down \
            samples of the stack, correlate with the digits' per-pixel means (≥ 0.4; the digits' means from the \
            data statistics of `qftml train data`).",
        run: rbm_mnist::mnist,
        budget: Budget {
            quick_s: 20.0,
            full_s: 125.0,
        },
        runs_alone: false,
    },
    Figure {
        name: "inverse-rg",
        description: "Inverse renormalization group (`qftml irg`): 8×8 parents (κ = 1, λ = 0.7, hybrid schedule) \
            taken to 2L by a least-squares transposed convolution of the 2×2 average and 100 Metropolis sweeps, up to \
            512×512. One lineage as images; Binder cumulants against μ² of direct simulation (8² … 128², cluster \
            hybrid) and of the rescaled sizes, with the direct Binder crossing; the inverse flow μ² → μ²′ (the direct \
            μ² with the rescaled U), refined in passes (each level re-equilibrated at the μ²′ the previous pass's \
            flow gives it), and ν from the fit of ln(dμ²′/dμ²) over 32² … 128² (target: within 5 % of 1, error below \
            that); χ and ⟨|m|⟩ against L′ at the direct critical μ² with γ/ν (target: within 3 % of 7/4, error below \
            that); the fixed point of the flow against the direct critical μ²; rescaled against direct simulation at \
            64² and 128²; the CPU time of the 512² ensemble against direct simulation for the same error, with every \
            lineage carried to 512² and with multilevel estimates (ratio 3: one lineage in three goes on to the next size).",
        run: inverse_rg::run,
        budget: Budget {
            quick_s: 20.0,
            full_s: 965.0,
        },
        runs_alone: true,
    },
];
