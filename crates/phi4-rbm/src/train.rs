//! Contrastive divergence (CD-k) and persistent CD on KL(q‖p(φ)), with momentum and weight
//! decay.
//!
//! With the marginal free energy `F(φ)` of the visible layer, `p(φ) = e^{−F(φ)}/Z` and
//!
//! `∂KL(q‖p)/∂θ = ⟨∂F/∂θ⟩_data − ⟨∂F/∂θ⟩_model`,
//!
//! where `∂F/∂w_ij = −φ_i E[h_j | φ]`, `∂F/∂(r, a, b)_i = (φ_i, φ_i², φ_i⁴)` and
//! `∂F/∂(s, m, n)_j = (E[h_j|φ], E[h_j²|φ], E[h_j⁴|φ])`: the hidden layer enters through
//! its exact conditional moments (Rao–Blackwellised), the model average through `k` block
//! Gibbs steps from the data (CD-k) or from persistent chains (PCD).  The update is
//! `v ← μ v − η (g + λ w)`, `θ ← θ + v` (momentum `μ`, learning rate `η`, weight decay `λ`
//! on the weights only).  Linear terms are always trained; quadratic and quartic terms of
//! real units only with `train_shape`, and are then kept at or above [`SHAPE_FLOOR`] where
//! their unit type needs them positive (Gaussian `q`, φ⁴ `g`).

use mc_sampler::{SimRng, chain_rng};
use nalgebra::DMatrix;
use rand::Rng;

use crate::gibbs::{GibbsChains, hidden_fields};
use crate::units::{Layer, UnitKind, sigmoid};
use crate::{Data, Network, RbmError};

/// The smallest value training leaves a Gaussian unit's quadratic or a φ⁴ unit's quartic
/// coefficient at, so the density stays normalisable.
pub const SHAPE_FLOOR: f64 = 1e-3;

/// How to train (no defaults: every run says what it uses).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Examples per mini-batch (also the number of chains).
    pub batch_size: usize,
    /// Learning rate `η`.
    pub learning_rate: f64,
    /// Gibbs steps per update (`k` of CD-k).
    pub cd_k: usize,
    /// Persistent chains (PCD) instead of chains restarted at the data (CD).
    pub persistent: bool,
    /// Momentum `μ ∈ [0, 1)`.
    pub momentum: f64,
    /// Weight decay `λ ≥ 0` (L2, weights only).
    pub weight_decay: f64,
    /// Train the quadratic and quartic coefficients of real units too.
    pub train_shape: bool,
    /// Seed of the chains (chain `c` on stream `c`) and of the data order (stream `2⁶³`).
    pub seed: u64,
    /// Visit the examples in a new random order every epoch; `false` keeps the order of the
    /// data (scikit-learn's `BernoulliRBM`, which leaves shuffling to the caller).
    pub shuffle: bool,
}

impl TrainConfig {
    fn validate(&self) -> Result<(), RbmError> {
        let bad = |s: String| Err(RbmError::InvalidConfig(s));
        if self.batch_size == 0 {
            return bad("the batch size must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(format!(
                "the learning rate must be a positive number, got {}",
                self.learning_rate
            ));
        }
        if self.cd_k == 0 {
            return bad("k (Gibbs steps per update) must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(format!("the momentum must be in [0, 1), got {}", self.momentum));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!(
                "the weight decay must be a non-negative number, got {}",
                self.weight_decay
            ));
        }
        Ok(())
    }
}

/// The reconstruction error of an epoch is measured on one mini-batch in this many.
pub const RECONSTRUCTION_STRIDE: usize = 10;

/// What one epoch measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochSummary {
    /// The epoch, counted from 1.
    pub epoch: u64,
    /// Mean squared difference between the data and their mean-field reconstructions
    /// `E[φ | h = E[h | φ]]`, per unit, with the parameters of each mini-batch's update,
    /// over every [`RECONSTRUCTION_STRIDE`]-th mini-batch of the epoch (the first, the
    /// 11th, …): an unbiased estimate of the epoch's mean at a tenth of the cost of a
    /// dense product per update.
    pub reconstruction_error: f64,
}

/// Everything a training run's future depends on: the checkpoint record (stored with
/// `mc_sampler::checkpoint` under the kind [`TrainerState::KIND`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainerState {
    /// Visible unit kind.
    pub visible: UnitKind,
    /// Hidden unit kind.
    pub hidden: UnitKind,
    /// Number of visible units.
    pub n_visible: usize,
    /// Number of hidden units.
    pub n_hidden: usize,
    /// The flat parameters ([`Network::params`]).
    pub params: Vec<f64>,
    /// The momentum buffer, same layout.
    pub velocity: Vec<f64>,
    /// Visible chain states, chain by chain.
    pub chain_visible: Vec<f64>,
    /// Hidden chain states, chain by chain.
    pub chain_hidden: Vec<f64>,
    /// The chains' generators.
    pub chain_rngs: Vec<SimRng>,
    /// The generator of the data order.
    pub order_rng: SimRng,
    /// Epochs done.
    pub epoch: u64,
}

impl TrainerState {
    /// The checkpoint kind of a trainer state.
    pub const KIND: &'static str = "phi4-rbm-trainer";

    /// The network of this state (validated).
    pub fn network(&self) -> Result<Network, RbmError> {
        let init = crate::NetworkInit {
            visible: self.visible,
            hidden: self.hidden,
            n_visible: self.n_visible,
            n_hidden: self.n_hidden,
            weight_sd: 0.0,
            visible_coefficients: default_coefficients(self.visible),
            hidden_coefficients: default_coefficients(self.hidden),
        };
        let mut network = Network::initial(&init, &mut chain_rng(0, 0))?;
        network.set_params(&self.params)?;
        Ok(network)
    }
}

/// A training run: network, chains, momentum, data order.
#[derive(Debug, Clone)]
pub struct Trainer {
    network: Network,
    config: TrainConfig,
    chains: GibbsChains,
    velocity: Vec<f64>,
    order_rng: SimRng,
    epoch: u64,
    // Mini-batch buffers (reused, so updates do not allocate).
    batch: DMatrix<f64>,
    field: DMatrix<f64>,
    hidden_pos: [DMatrix<f64>; 3],
    hidden_neg: [DMatrix<f64>; 3],
    // [Φ_data | Φ_model] and [α E h_dataᵀ ; β E h_modelᵀ]: the weight gradient as one
    // product with 2·batch inner terms, one pass over the weights instead of two.
    stacked_visible: DMatrix<f64>,
    stacked_hidden_t: DMatrix<f64>,
    grad_w: DMatrix<f64>,
    recon_field: DMatrix<f64>,
    // The sparse weight step of binary visible layers: [α E h_data | β E h_model] and the
    // non-zero visible values of every stacked column.
    scaled_hidden: DMatrix<f64>,
    nonzero: Vec<(u32, f64)>,
    nonzero_starts: Vec<usize>,
}

/// The hidden moments `E[h], E[h²], E[h⁴]` of every column of `field` (columns `0..n`).
fn hidden_moments(layer: &Layer, field: &DMatrix<f64>, out: &mut [DMatrix<f64>; 3], n: usize) {
    let rows = layer.len();
    let t = field.as_slice();
    let [m1, m2, m4] = out;
    let (m1, m2, m4) = (m1.as_mut_slice(), m2.as_mut_slice(), m4.as_mut_slice());
    match layer.kind() {
        UnitKind::Bernoulli => {
            // h ∈ {0, 1}: every moment is the probability σ(t − ℓ).
            for (column, fields) in m1[..rows * n].chunks_exact_mut(rows).zip(t.chunks_exact(rows)) {
                for ((m, &tu), &l) in column.iter_mut().zip(fields).zip(layer.linear()) {
                    *m = sigmoid(tu - l);
                }
            }
            m2[..rows * n].copy_from_slice(&m1[..rows * n]);
            m4[..rows * n].copy_from_slice(&m1[..rows * n]);
        }
        UnitKind::Spin => {
            for k in 0..rows * n {
                m1[k] = layer.mean(k % rows, t[k]);
                m2[k] = 1.0;
                m4[k] = 1.0;
            }
        }
        UnitKind::Gaussian | UnitKind::Phi4 => {
            for k in 0..rows * n {
                let m = layer.moments(k % rows, t[k]);
                (m1[k], m2[k], m4[k]) = (m.mean, m.second, m.fourth);
            }
        }
    }
}

impl Trainer {
    /// A run starting from `network`.
    pub fn new(network: Network, config: TrainConfig) -> Result<Self, RbmError> {
        config.validate()?;
        let chains = GibbsChains::new(&network, config.batch_size, config.seed)?;
        let velocity = vec![0.0; network.n_params()];
        let order_rng = chain_rng(config.seed, 1 << 63);
        Ok(Self::assemble(network, config, chains, velocity, order_rng, 0))
    }

    fn assemble(
        network: Network,
        config: TrainConfig,
        chains: GibbsChains,
        velocity: Vec<f64>,
        order_rng: SimRng,
        epoch: u64,
    ) -> Self {
        let (nv, nh, b) = (network.n_visible(), network.n_hidden(), config.batch_size);
        let zeros = |r, c| DMatrix::zeros(r, c);
        Self {
            config,
            chains,
            velocity,
            order_rng,
            epoch,
            batch: zeros(nv, b),
            field: zeros(nh, b),
            hidden_pos: [zeros(nh, b), zeros(nh, b), zeros(nh, b)],
            hidden_neg: [zeros(nh, b), zeros(nh, b), zeros(nh, b)],
            stacked_visible: zeros(nv, 2 * b),
            stacked_hidden_t: zeros(2 * b, nh),
            grad_w: zeros(nv, nh),
            recon_field: zeros(nv, b),
            scaled_hidden: zeros(nh, 2 * b),
            nonzero: Vec::with_capacity(nv * 2 * b),
            nonzero_starts: Vec::with_capacity(2 * b + 1),
            network,
        }
    }

    /// Resumes a run from its checkpoint record; `config` must be the run's configuration.
    pub fn from_state(state: TrainerState, config: TrainConfig) -> Result<Self, RbmError> {
        config.validate()?;
        let network = state.network()?;
        if state.velocity.len() != network.n_params() {
            return Err(RbmError::Shape(
                "the checkpoint's momentum buffer does not fit the network".into(),
            ));
        }
        if state.chain_rngs.len() != config.batch_size {
            return Err(RbmError::InvalidConfig(format!(
                "the checkpoint has {} chains but the batch size is {}; resume with the batch size of the run",
                state.chain_rngs.len(),
                config.batch_size
            )));
        }
        let chains = GibbsChains::from_parts(&network, state.chain_visible, state.chain_hidden, state.chain_rngs)?;
        Ok(Self::assemble(
            network,
            config,
            chains,
            state.velocity,
            state.order_rng,
            state.epoch,
        ))
    }

    /// The checkpoint record of the run as it is now.
    pub fn state(&self) -> TrainerState {
        TrainerState {
            visible: self.network.visible().kind(),
            hidden: self.network.hidden().kind(),
            n_visible: self.network.n_visible(),
            n_hidden: self.network.n_hidden(),
            params: self.network.params(),
            velocity: self.velocity.clone(),
            chain_visible: self.chains.visible().as_slice().to_vec(),
            chain_hidden: self.chains.hidden().as_slice().to_vec(),
            chain_rngs: self.chains.rngs().to_vec(),
            order_rng: self.order_rng.clone(),
            epoch: self.epoch,
        }
    }

    /// The network.
    pub fn network(&self) -> &Network {
        &self.network
    }
    /// The chains (persistent chains under PCD).
    pub fn chains(&self) -> &GibbsChains {
        &self.chains
    }
    /// Epochs done.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// One pass over `data`, one update per mini-batch of consecutive examples: in a new
    /// random order (Fisher–Yates with the run's order generator) with
    /// [`TrainConfig::shuffle`], in the data's order without.
    pub fn train_epoch(&mut self, data: &Data) -> Result<EpochSummary, RbmError> {
        data.check_fits(&self.network)?;
        let n = data.n_samples();
        let mut order: Vec<usize> = (0..n).collect();
        if self.config.shuffle {
            for k in (1..n).rev() {
                let j = self.order_rng.random_range(0..=k);
                order.swap(k, j);
            }
        }
        let (mut squared_error, mut measured) = (0.0, 0);
        for (k, batch) in order.chunks(self.config.batch_size).enumerate() {
            let measure = k % RECONSTRUCTION_STRIDE == 0;
            squared_error += self.update(data, batch, measure);
            measured += if measure { batch.len() } else { 0 };
        }
        self.epoch += 1;
        let finite_params = self.network.params().iter().all(|x| x.is_finite());
        if !finite_params || !self.chains.is_finite() || !squared_error.is_finite() {
            return Err(RbmError::Diverged {
                epoch: self.epoch,
                reason: if finite_params {
                    "a chain state became non-finite".into()
                } else {
                    "a parameter became non-finite".into()
                },
            });
        }
        Ok(EpochSummary {
            epoch: self.epoch,
            reconstruction_error: squared_error / (measured * self.network.n_visible()) as f64,
        })
    }

    /// One update from the examples `rows` of `data`; returns the summed squared
    /// reconstruction error of those examples if `measure`, else 0.
    fn update(&mut self, data: &Data, rows: &[usize], measure: bool) -> f64 {
        let b = rows.len();
        let (nv, nh) = (self.network.n_visible(), self.network.n_hidden());
        for (c, &row) in rows.iter().enumerate() {
            self.batch.column_mut(c).copy_from(&data.matrix().column(row));
        }
        let pos = self.batch.columns(0, b);
        // Positive phase: exact hidden moments at the data.
        hidden_fields(&self.network, &self.batch, b, &mut self.field);
        hidden_moments(self.network.hidden(), &self.field, &mut self.hidden_pos, b);
        // Reconstruction error with the current parameters.
        let mut squared_error = 0.0;
        if measure {
            self.recon_field
                .gemm(1.0, self.network.weights(), &self.hidden_pos[0], 0.0);
            for c in 0..b {
                for i in 0..nv {
                    let x = self.network.visible().mean(i, self.recon_field[(i, c)]);
                    squared_error += (x - pos[(i, c)]).powi(2);
                }
            }
        }
        // Negative phase.
        let n_neg = if self.config.persistent {
            self.chains.n_chains()
        } else {
            self.chains.clamp_visible(&self.network, &self.batch, b);
            b
        };
        for _ in 0..self.config.cd_k {
            self.chains.step(&self.network, n_neg);
        }
        // The last step drew h from the fields of the current φ: their moments are the model term.
        hidden_moments(
            self.network.hidden(),
            self.chains.hidden_field(),
            &mut self.hidden_neg,
            n_neg,
        );

        // ∂KL/∂w = −⟨φ E h⟩_data + ⟨φ E h⟩_model, as one product of the stacked data and
        // model terms.  Without momentum and weight decay the step `w ← w − η g` is that
        // product accumulated straight into the weights (no gradient buffer, no pass over
        // the momentum buffer, which stays as it is: with μ = 0 it is never read).
        let TrainConfig {
            learning_rate: lr,
            momentum: mu,
            weight_decay: wd,
            train_shape,
            ..
        } = self.config;
        let plain_sgd = mu == 0.0 && wd == 0.0;
        let (inv_pos, inv_neg) = (1.0 / b as f64, 1.0 / n_neg as f64);
        let (alpha_pos, alpha_neg) = if plain_sgd {
            (lr * inv_pos, -lr * inv_neg)
        } else {
            (-inv_pos, inv_neg)
        };
        let k = b + n_neg;
        self.stacked_visible
            .columns_mut(0, b)
            .copy_from(&self.batch.columns(0, b));
        self.stacked_visible
            .columns_mut(b, n_neg)
            .copy_from(&self.chains.visible().columns(0, n_neg));
        let sparse = plain_sgd && self.network.visible().kind() == UnitKind::Bernoulli;
        if sparse {
            // Binary visible units: the step is a sum over the non-zero visible values, added
            // to W and Wᵀ in the same order (so they stay transposes of each other).
            self.scaled_hidden
                .columns_mut(0, b)
                .copy_from(&self.hidden_pos[0].columns(0, b));
            self.scaled_hidden
                .columns_mut(b, n_neg)
                .copy_from(&self.hidden_neg[0].columns(0, n_neg));
            self.scaled_hidden.columns_mut(0, b).scale_mut(alpha_pos);
            self.scaled_hidden.columns_mut(b, n_neg).scale_mut(alpha_neg);
            self.nonzero.clear();
            self.nonzero_starts.clear();
            for c in 0..k {
                self.nonzero_starts.push(self.nonzero.len());
                let column = self.stacked_visible.column(c);
                self.nonzero.extend(
                    column
                        .iter()
                        .enumerate()
                        .filter(|&(_, &x)| x != 0.0)
                        .map(|(i, &x)| (i as u32, x)),
                );
            }
            self.nonzero_starts.push(self.nonzero.len());
            let (weights, weights_t) = self.network.weights_both_mut();
            sparse_step(
                weights,
                weights_t,
                &self.scaled_hidden,
                &self.nonzero,
                &self.nonzero_starts,
            );
        } else {
            self.hidden_pos[0]
                .columns(0, b)
                .transpose_to(&mut self.stacked_hidden_t.rows_mut(0, b));
            self.hidden_neg[0]
                .columns(0, n_neg)
                .transpose_to(&mut self.stacked_hidden_t.rows_mut(b, n_neg));
            self.stacked_hidden_t.rows_mut(0, b).scale_mut(alpha_pos);
            self.stacked_hidden_t.rows_mut(b, n_neg).scale_mut(alpha_neg);
            let (target, beta) = if plain_sgd {
                (self.network.parts_mut().0, 1.0)
            } else {
                (&mut self.grad_w, 0.0)
            };
            target.gemm(
                1.0,
                &self.stacked_visible.columns(0, k),
                &self.stacked_hidden_t.rows(0, k),
                beta,
            );
        }

        let (weights, visible, hidden) = self.network.parts_mut();
        let nw = nv * nh;
        if !plain_sgd {
            for ((w, v), g) in weights
                .as_mut_slice()
                .iter_mut()
                .zip(&mut self.velocity[..nw])
                .zip(self.grad_w.as_slice())
            {
                *v = mu * *v - lr * (g + wd * *w);
                *w += *v;
            }
        }
        // Layer terms: data average minus model average of φ^p (visible) and E[h^p] (hidden).
        let mut at = nw;
        let neg_visible = self.chains.visible().columns(0, n_neg);
        for (layer, is_visible) in [(visible, true), (hidden, false)] {
            let kind = layer.kind();
            let units = layer.len();
            let trained = [
                true,
                train_shape && matches!(kind, UnitKind::Gaussian | UnitKind::Phi4),
                train_shape && kind == UnitKind::Phi4,
            ];
            for (p, block) in layer.coefficients_mut().into_iter().enumerate() {
                if trained[p] {
                    let power = [1, 2, 4][p];
                    for (u, coefficient) in block.iter_mut().enumerate() {
                        let (data_avg, model_avg) = if is_visible {
                            (
                                (0..b).map(|c| pos[(u, c)].powi(power)).sum::<f64>() * inv_pos,
                                (0..n_neg).map(|c| neg_visible[(u, c)].powi(power)).sum::<f64>() * inv_neg,
                            )
                        } else {
                            (
                                (0..b).map(|c| self.hidden_pos[p][(u, c)]).sum::<f64>() * inv_pos,
                                (0..n_neg).map(|c| self.hidden_neg[p][(u, c)]).sum::<f64>() * inv_neg,
                            )
                        };
                        let v = &mut self.velocity[at + u];
                        *v = mu * *v - lr * (data_avg - model_avg);
                        *coefficient += *v;
                        let needs_positive =
                            (p == 1 && kind == UnitKind::Gaussian) || (p == 2 && kind == UnitKind::Phi4);
                        if needs_positive && *coefficient < SHAPE_FLOOR {
                            *coefficient = SHAPE_FLOOR;
                        }
                    }
                }
                at += units;
            }
        }
        if !sparse {
            self.network.sync_transpose();
        }
        squared_error
    }
}

/// `Wᵀ += Σ_c s_c x_cᵀ`, with `x_c` given by its non-zero values
/// `nonzero[starts[c]..starts[c + 1]]` (index, value) and `s_c` the column `c` of `scaled`
/// (one contiguous column of `Wᵀ` per non-zero value), then `W = (Wᵀ)ᵀ` by a blocked copy.
fn sparse_step(
    weights: &mut DMatrix<f64>,
    weights_t: &mut DMatrix<f64>,
    scaled: &DMatrix<f64>,
    nonzero: &[(u32, f64)],
    starts: &[usize],
) {
    let (nv, nh) = (weights.nrows(), weights.ncols());
    let s = scaled.as_slice();
    let k = starts.len() - 1;
    let wt = weights_t.as_mut_slice();
    for c in 0..k {
        let column = &s[c * nh..(c + 1) * nh];
        for &(i, x) in &nonzero[starts[c]..starts[c + 1]] {
            let target = &mut wt[i as usize * nh..(i as usize + 1) * nh];
            for (w, &sj) in target.iter_mut().zip(column) {
                *w += x * sj;
            }
        }
    }
    transpose_into(wt, nh, nv, weights.as_mut_slice());
}

/// `out = aᵀ` for `a` column-major `rows × cols` (so `out` is column-major `cols × rows`):
/// for each band of [`TRANSPOSE_BAND`] columns of `a`, the rows in order, so the band's
/// columns are read as that many sequential streams and `out` is written contiguously.
fn transpose_into(a: &[f64], rows: usize, cols: usize, out: &mut [f64]) {
    debug_assert!(a.len() == rows * cols && out.len() == rows * cols);
    for c0 in (0..cols).step_by(TRANSPOSE_BAND) {
        let c1 = (c0 + TRANSPOSE_BAND).min(cols);
        let band = &a[c0 * rows..c1 * rows];
        for (r, row) in out.chunks_exact_mut(cols).enumerate() {
            for (k, o) in row[c0..c1].iter_mut().enumerate() {
                *o = band[k * rows + r];
            }
        }
    }
}

/// Columns of a band of [`transpose_into`].
const TRANSPOSE_BAND: usize = 16;

/// Coefficients that are valid for every unit of `kind` (placeholders before
/// [`Network::set_params`]).
pub(crate) fn default_coefficients(kind: UnitKind) -> [f64; 3] {
    match kind {
        UnitKind::Phi4 => [0.0, 0.0, 1.0],
        UnitKind::Gaussian => [0.0, 0.5, 0.0],
        UnitKind::Bernoulli | UnitKind::Spin => [0.0; 3],
    }
}
