//! Block Gibbs sampling of many chains at once, one chain per column.
//!
//! Given the hidden layer the visible units are independent, and vice versa, so a Gibbs
//! step is two exact block draws: `φ ~ p(φ | h)`, then `h ~ p(h | φ)`.  The fields of a
//! whole mini-batch are matrix products (`T_h = Wᵀ Φ`, `T_φ = W H`, chains as columns):
//! sums of the weight columns of the non-zero units when the input layer is Bernoulli
//! (mostly zeros on images), nalgebra's dense product otherwise;
//! then every unit is drawn from its exact one-dimensional conditional (Bernoulli, spin,
//! Gaussian, or the quartic rejection sampler of `mc_sampler`).  Chain `c` draws only from
//! its own generator, so the result does not depend on how work is split.

use mc_sampler::{ModelSampler, QuarticSampler, SamplerError, SimRng, chain_rng};
use nalgebra::DMatrix;

use crate::units::{Layer, UnitKind, sigmoid, uniform};
use crate::{Network, RbmError};

/// The states and generators of `n_chains` chains of one network (chains are columns).
#[derive(Debug, Clone, PartialEq)]
pub struct GibbsChains {
    visible: DMatrix<f64>,
    hidden: DMatrix<f64>,
    rngs: Vec<SimRng>,
    field_visible: DMatrix<f64>,
    field_hidden: DMatrix<f64>,
    samplers: Vec<QuarticSampler>,
}

/// Draws every unit of `layer` in the columns `0..n` of `state` from the fields `field`;
/// `samplers` is scratch space for the units' quartic samplers (φ⁴ layers), built once per
/// call and shared by the chains.
fn draw_layer(
    layer: &Layer,
    field: &DMatrix<f64>,
    state: &mut DMatrix<f64>,
    rngs: &mut [SimRng],
    n: usize,
    samplers: &mut Vec<QuarticSampler>,
) {
    let rows = layer.len();
    let fields = field.as_slice();
    let states = state.as_mut_slice();
    let binary = layer.kind() == UnitKind::Bernoulli;
    let phi4 = layer.kind() == UnitKind::Phi4;
    let linear = layer.linear();
    // A φ⁴ layer with a unit that is not a normalisable quartic draws NaN everywhere (the
    // trainer reports the divergence).
    let phi4_valid = phi4 && {
        samplers.clear();
        samplers.extend((0..rows).map_while(|u| layer.quartic_sampler(u)));
        samplers.len() == rows
    };
    for (c, rng) in rngs.iter_mut().enumerate().take(n) {
        let t = &fields[c * rows..(c + 1) * rows];
        let x = &mut states[c * rows..(c + 1) * rows];
        if binary {
            // The common case without a per-unit dispatch: x = [u < σ(t − ℓ)], the
            // probabilities first (a loop that vectorises), then the draws.
            for ((xu, &tu), &l) in x.iter_mut().zip(t).zip(linear) {
                *xu = sigmoid(tu - l);
            }
            for xu in x.iter_mut() {
                *xu = f64::from(u8::from(uniform(rng) < *xu));
            }
        } else if phi4 {
            for ((xu, &tu), &l) in x.iter_mut().zip(t).zip(linear) {
                *xu = if phi4_valid { tu - l } else { f64::NAN };
            }
            if phi4_valid {
                QuarticSampler::sample_each(samplers, x, rng);
            }
        } else {
            for (u, (xu, &tu)) in x.iter_mut().zip(t).enumerate() {
                *xu = layer.sample(u, tu, rng);
            }
        }
    }
}

/// `out[:, c] = Σ_k x[k, c] · columns[:, k]` for the chains `c < n`: the product
/// `columns · x` as a sum of the columns whose input is not zero, each column read once for
/// all chains (a binary layer is mostly zeros, so this does a fraction of a dense product's
/// work and packs nothing).  Exact for any `x`: a one adds the column as it is.  The sum
/// runs over `k` in order.
pub(crate) fn sparse_product(columns: &DMatrix<f64>, x: &DMatrix<f64>, n: usize, out: &mut DMatrix<f64>) {
    let rows = columns.nrows();
    let inner = columns.ncols();
    debug_assert!(x.nrows() == inner && out.nrows() == rows && n <= x.ncols() && n <= out.ncols());
    let w = columns.as_slice();
    let xs = &x.as_slice()[..inner * n];
    let outs = &mut out.as_mut_slice()[..rows * n];
    outs.fill(0.0);
    for (k, column) in w.chunks_exact(rows).enumerate() {
        for c in 0..n {
            let value = xs[c * inner + k];
            if value == 0.0 {
                continue;
            }
            let target = &mut outs[c * rows..(c + 1) * rows];
            if value == 1.0 {
                for (o, &wk) in target.iter_mut().zip(column) {
                    *o += wk;
                }
            } else {
                for (o, &wk) in target.iter_mut().zip(column) {
                    *o += value * wk;
                }
            }
        }
    }
}

/// `out = Wᵀ Φ` (the hidden fields) for the chains `0..n`: [`sparse_product`] when the
/// visible units are Bernoulli, a dense product otherwise.
pub(crate) fn hidden_fields(network: &Network, visible: &DMatrix<f64>, n: usize, out: &mut DMatrix<f64>) {
    if network.visible().kind() == UnitKind::Bernoulli {
        sparse_product(network.weights_t(), visible, n, out);
    } else {
        out.gemm(1.0, network.weights_t(), visible, 0.0);
    }
}

/// `out = W H` (the visible fields) for the chains `0..n`: [`sparse_product`] when the
/// hidden units are Bernoulli, a dense product otherwise.
fn visible_fields(network: &Network, hidden: &DMatrix<f64>, n: usize, out: &mut DMatrix<f64>) {
    if network.hidden().kind() == UnitKind::Bernoulli {
        sparse_product(network.weights(), hidden, n, out);
    } else {
        out.gemm(1.0, network.weights(), hidden, 0.0);
    }
}

impl GibbsChains {
    /// `n_chains` chains, chain `c` on [`chain_rng`]`(seed, c)`, started from the factorised
    /// model (weights ignored): visible units drawn in zero field, then hidden units given
    /// them.
    pub fn new(network: &Network, n_chains: usize, seed: u64) -> Result<Self, RbmError> {
        if n_chains == 0 {
            return Err(RbmError::InvalidConfig("at least one chain is needed".into()));
        }
        let (nv, nh) = (network.n_visible(), network.n_hidden());
        let mut chains = Self {
            visible: DMatrix::zeros(nv, n_chains),
            hidden: DMatrix::zeros(nh, n_chains),
            rngs: (0..n_chains as u64).map(|c| chain_rng(seed, c)).collect(),
            field_visible: DMatrix::zeros(nv, n_chains),
            field_hidden: DMatrix::zeros(nh, n_chains),
            samplers: Vec::new(),
        };
        draw_layer(
            network.visible(),
            &chains.field_visible,
            &mut chains.visible,
            &mut chains.rngs,
            n_chains,
            &mut chains.samplers,
        );
        chains.sample_hidden(network, n_chains);
        Ok(chains)
    }

    /// Chains from stored states: visible and hidden columns and one generator per chain.
    pub fn from_parts(
        network: &Network,
        visible: Vec<f64>,
        hidden: Vec<f64>,
        rngs: Vec<SimRng>,
    ) -> Result<Self, RbmError> {
        let (nv, nh, n) = (network.n_visible(), network.n_hidden(), rngs.len());
        if n == 0 || visible.len() != nv * n || hidden.len() != nh * n {
            return Err(RbmError::Shape(format!(
                "chain states of {} visible and {} hidden values do not fit {n} chains of a {nv}×{nh} network",
                visible.len(),
                hidden.len()
            )));
        }
        Ok(Self {
            visible: DMatrix::from_vec(nv, n, visible),
            hidden: DMatrix::from_vec(nh, n, hidden),
            rngs,
            field_visible: DMatrix::zeros(nv, n),
            field_hidden: DMatrix::zeros(nh, n),
            samplers: Vec::new(),
        })
    }

    /// Number of chains.
    pub fn n_chains(&self) -> usize {
        self.rngs.len()
    }
    /// Visible states, `n_visible × n_chains`.
    pub fn visible(&self) -> &DMatrix<f64> {
        &self.visible
    }
    /// Hidden states, `n_hidden × n_chains`.
    pub fn hidden(&self) -> &DMatrix<f64> {
        &self.hidden
    }
    /// The generators, one per chain.
    pub fn rngs(&self) -> &[SimRng] {
        &self.rngs
    }

    /// `h ~ p(h | φ)` for the chains `0..n`.
    pub fn sample_hidden(&mut self, network: &Network, n: usize) {
        hidden_fields(network, &self.visible, n, &mut self.field_hidden);
        draw_layer(
            network.hidden(),
            &self.field_hidden,
            &mut self.hidden,
            &mut self.rngs,
            n,
            &mut self.samplers,
        );
    }

    /// `φ ~ p(φ | h)` for the chains `0..n`.
    pub fn sample_visible(&mut self, network: &Network, n: usize) {
        visible_fields(network, &self.hidden, n, &mut self.field_visible);
        draw_layer(
            network.visible(),
            &self.field_visible,
            &mut self.visible,
            &mut self.rngs,
            n,
            &mut self.samplers,
        );
    }

    /// One Gibbs step of the chains `0..n`: `φ ~ p(φ | h)`, then `h ~ p(h | φ)`.
    pub fn step(&mut self, network: &Network, n: usize) {
        self.sample_visible(network, n);
        self.sample_hidden(network, n);
    }

    /// Sets the visible states of the first `n` chains to the first `n` columns of `source`
    /// and draws their hidden units (the start of CD-k from data).
    pub fn clamp_visible(&mut self, network: &Network, source: &DMatrix<f64>, n: usize) {
        self.visible.columns_mut(0, n).copy_from(&source.columns(0, n));
        self.sample_hidden(network, n);
    }

    /// The hidden fields `Σ_i w_ij φ_i` of the last [`GibbsChains::sample_hidden`].
    pub(crate) fn hidden_field(&self) -> &DMatrix<f64> {
        &self.field_hidden
    }

    /// Whether every state is finite.
    pub fn is_finite(&self) -> bool {
        self.visible.iter().chain(self.hidden.iter()).all(|x| x.is_finite())
    }
}

/// A network with its chains: the [`ModelSampler`] of the φ⁴ networks (a sweep is one
/// block Gibbs step; a configuration is `x = (φ, h)`).
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkChains {
    network: Network,
    chains: GibbsChains,
}

impl NetworkChains {
    /// `n_chains` chains of `network` (see [`GibbsChains::new`]).
    pub fn new(network: Network, n_chains: usize, seed: u64) -> Result<Self, RbmError> {
        let chains = GibbsChains::new(&network, n_chains, seed)?;
        Ok(Self { network, chains })
    }
    /// The chains.
    pub fn chains(&self) -> &GibbsChains {
        &self.chains
    }
    /// The visible states as rows (one sample per chain).
    pub fn visible_rows(&self) -> Vec<Vec<f64>> {
        self.chains
            .visible
            .column_iter()
            .map(|c| c.iter().copied().collect())
            .collect()
    }
}

impl ModelSampler for NetworkChains {
    type Model = Network;
    fn model(&self) -> &Network {
        &self.network
    }
    fn set_params(&mut self, theta: &[f64]) -> Result<(), SamplerError> {
        self.network
            .set_params(theta)
            .map_err(|e| SamplerError::InvalidConfig(e.to_string()))
    }
    fn sweep(&mut self, n: u64) {
        let chains = self.chains.n_chains();
        for _ in 0..n {
            self.chains.step(&self.network, chains);
        }
    }
    fn measure<M: Send>(&mut self, f: impl Fn(&Network, &[f64]) -> M + Sync) -> Vec<M> {
        let mut x = Vec::with_capacity(self.network.n_visible() + self.network.n_hidden());
        (0..self.chains.n_chains())
            .map(|c| {
                x.clear();
                x.extend(self.chains.visible.column(c).iter());
                x.extend(self.chains.hidden.column(c).iter());
                f(&self.network, &x)
            })
            .collect()
    }
}

/// Top-down samples of a stack of networks, `stack[0]` the bottom one (whose visible layer
/// is the data) and each next network trained on the hidden layer of the one below
/// ([`crate::eval::hidden_data`]).  `n_chains` chains of the top network (chain `c` on
/// [`chain_rng`]`(seed, c)`) run `steps` block Gibbs steps; then each chain's visible state
/// is passed down: every lower network draws `φ ~ p(φ | h)` from the state above it, with
/// chain `c`'s own generator `chain_rng(seed, 2⁶² + c)`, except that the bottom network gives
/// its visible means `E[φ | h]` when `bottom_means` (images without the pixel noise; a
/// stack of one network returns its chains' visible states).  Returns one bottom-layer
/// sample per chain.
pub fn sample_stack(
    stack: &[Network],
    n_chains: usize,
    steps: u64,
    seed: u64,
    bottom_means: bool,
) -> Result<Vec<Vec<f64>>, RbmError> {
    let Some(top) = stack.last() else {
        return Err(RbmError::InvalidConfig("a stack needs at least one network".into()));
    };
    for (k, pair) in stack.windows(2).enumerate() {
        if pair[1].n_visible() != pair[0].n_hidden() {
            return Err(RbmError::Shape(format!(
                "network {} of the stack has {} visible units but network {k} below it has {} hidden units; \
                 list the networks from the bottom (data) up, each trained on the hidden layer of the one before",
                k + 1,
                pair[1].n_visible(),
                pair[0].n_hidden()
            )));
        }
    }
    let mut chains = GibbsChains::new(top, n_chains, seed)?;
    for _ in 0..steps {
        chains.step(top, n_chains);
    }
    let samples = chains
        .visible()
        .column_iter()
        .enumerate()
        .map(|(c, column)| {
            let mut rng = chain_rng(seed, (1 << 62) + c as u64);
            let mut state: Vec<f64> = column.iter().copied().collect();
            for (k, network) in stack.iter().enumerate().rev().skip(1) {
                state = if k == 0 && bottom_means {
                    network.visible_means(&state)
                } else {
                    let layer = network.visible();
                    let field = network.visible_field(&state);
                    field
                        .iter()
                        .enumerate()
                        .map(|(i, &t)| layer.sample(i, t, &mut rng))
                        .collect()
                };
            }
            state
        })
        .collect();
    Ok(samples)
}
