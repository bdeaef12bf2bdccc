//! The φ⁴ network: two layers on the complete bipartite graph, its action, marginal free
//! energies and the flat parameter layout.

use nalgebra::DMatrix;
use rand::Rng;
use rand_distr::{Distribution, Normal};

use crate::RbmError;
use crate::units::{Layer, UnitKind};

/// A φ⁴ network `S(φ, h) = −Σ w_ij φ_i h_j + Σ_i (r_i φ_i + a_i φ_i² + b_i φ_i⁴)
/// + Σ_j (s_j h_j + m_j h_j² + n_j h_j⁴)`.
///
/// The weights are an `n_visible × n_hidden` matrix; column `j` is the feature map of
/// hidden unit `j`.  The flat parameter vector ([`Network::params`], the layout of
/// [`mc_sampler::Model`]) is `θ = [w | r | a | b | s | m | n]` with `w` column by column
/// (`w_ij` at `j · n_visible + i`).
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    visible: Layer,
    hidden: Layer,
    weights: DMatrix<f64>,
    /// `Wᵀ`, kept equal to `weights`, so that `Wᵀ Φ` is a plain (blocked) matrix product.
    weights_t: DMatrix<f64>,
}

/// How to start a network for training: unit kinds, sizes, the standard deviation of the
/// random initial weights, and the per-unit coefficients every unit of a layer starts with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkInit {
    /// Visible unit kind.
    pub visible: UnitKind,
    /// Hidden unit kind.
    pub hidden: UnitKind,
    /// Number of visible units.
    pub n_visible: usize,
    /// Number of hidden units.
    pub n_hidden: usize,
    /// Initial weights are `N(0, weight_sd²)` (scikit-learn uses 0.01).
    pub weight_sd: f64,
    /// `(r, a, b)` of every visible unit (binary units need `a = b = 0`).
    pub visible_coefficients: [f64; 3],
    /// `(s, m, n)` of every hidden unit.
    pub hidden_coefficients: [f64; 3],
}

impl Network {
    /// A network from its layers and weights (`n_visible × n_hidden`).
    pub fn new(visible: Layer, hidden: Layer, weights: DMatrix<f64>) -> Result<Self, RbmError> {
        if weights.nrows() != visible.len() || weights.ncols() != hidden.len() {
            return Err(RbmError::Shape(format!(
                "weights are {}×{} but the layers have {} visible and {} hidden units",
                weights.nrows(),
                weights.ncols(),
                visible.len(),
                hidden.len()
            )));
        }
        if let Some(w) = weights.iter().find(|w| !w.is_finite()) {
            return Err(RbmError::InvalidConfig(format!("weight {w} is not a finite number")));
        }
        let weights_t = weights.transpose();
        Ok(Self {
            visible,
            hidden,
            weights,
            weights_t,
        })
    }

    /// Bernoulli–Bernoulli (the classic RBM): `a = b = m = n = 0`, both layers binary.
    pub fn bernoulli_bernoulli(weights: DMatrix<f64>, r: Vec<f64>, s: Vec<f64>) -> Result<Self, RbmError> {
        Self::new(Layer::bernoulli("visible", r)?, Layer::bernoulli("hidden", s)?, weights)
    }

    /// Gaussian–Bernoulli: real visible units with `b = 0`, binary hidden units.
    pub fn gaussian_bernoulli(weights: DMatrix<f64>, r: Vec<f64>, a: Vec<f64>, s: Vec<f64>) -> Result<Self, RbmError> {
        Self::new(
            Layer::gaussian("visible", r, a)?,
            Layer::bernoulli("hidden", s)?,
            weights,
        )
    }

    /// Gaussian–Gaussian: `b = n = 0`, both layers real; the joint density is Gaussian and
    /// must be normalisable (checked: the precision matrix must be positive definite).
    pub fn gaussian_gaussian(
        weights: DMatrix<f64>,
        r: Vec<f64>,
        a: Vec<f64>,
        s: Vec<f64>,
        m: Vec<f64>,
    ) -> Result<Self, RbmError> {
        let net = Self::new(
            Layer::gaussian("visible", r, a)?,
            Layer::gaussian("hidden", s, m)?,
            weights,
        )?;
        if net.joint_precision().cholesky().is_none() {
            return Err(RbmError::InvalidConfig(
                "the Gaussian–Gaussian network is not normalisable: 2 diag(a, m) − [[0, W], [Wᵀ, 0]] is not positive definite; shrink the weights or raise a and m".into(),
            ));
        }
        Ok(net)
    }

    /// φ⁴–Bernoulli: φ⁴ visible units, binary hidden units (`m = n = 0`).
    pub fn phi4_bernoulli(
        weights: DMatrix<f64>,
        r: Vec<f64>,
        a: Vec<f64>,
        b: Vec<f64>,
        s: Vec<f64>,
    ) -> Result<Self, RbmError> {
        Self::new(
            Layer::phi4("visible", r, a, b)?,
            Layer::bernoulli("hidden", s)?,
            weights,
        )
    }

    /// The Ising limit of φ⁴–Bernoulli (`b → ∞` with `a = −2b`): spin (`±1`) visible units
    /// with linear terms `r`, binary hidden units.
    pub fn ising_bernoulli(weights: DMatrix<f64>, r: Vec<f64>, s: Vec<f64>) -> Result<Self, RbmError> {
        Self::new(Layer::spin("visible", r)?, Layer::bernoulli("hidden", s)?, weights)
    }

    /// A network to train: uniform coefficients, weights drawn from `N(0, weight_sd²)`
    /// (column by column, from `rng`).
    pub fn initial<R: Rng + ?Sized>(init: &NetworkInit, rng: &mut R) -> Result<Self, RbmError> {
        if init.n_visible == 0 || init.n_hidden == 0 {
            return Err(RbmError::Shape(format!(
                "a network needs at least one unit in each layer, got {} visible and {} hidden units",
                init.n_visible, init.n_hidden
            )));
        }
        let normal = Normal::new(0.0, init.weight_sd).map_err(|_| {
            RbmError::InvalidConfig(format!(
                "the initial weight scale must be a non-negative finite number, got {}",
                init.weight_sd
            ))
        })?;
        let [r, a, b] = init.visible_coefficients;
        let [s, m, n] = init.hidden_coefficients;
        let visible = Layer::uniform("visible", init.visible, init.n_visible, r, a, b)?;
        let hidden = Layer::uniform("hidden", init.hidden, init.n_hidden, s, m, n)?;
        let weights = DMatrix::from_fn(init.n_visible, init.n_hidden, |_, _| normal.sample(rng));
        let net = Self::new(visible, hidden, weights)?;
        if init.visible == UnitKind::Gaussian
            && init.hidden == UnitKind::Gaussian
            && net.joint_precision().cholesky().is_none()
        {
            return Err(RbmError::InvalidConfig(
                "the initial Gaussian–Gaussian network is not normalisable; use smaller initial weights".into(),
            ));
        }
        Ok(net)
    }

    /// The visible layer.
    pub fn visible(&self) -> &Layer {
        &self.visible
    }
    /// The hidden layer.
    pub fn hidden(&self) -> &Layer {
        &self.hidden
    }
    /// The weights, `n_visible × n_hidden`.
    pub fn weights(&self) -> &DMatrix<f64> {
        &self.weights
    }
    /// The transposed weights, `n_hidden × n_visible`.
    pub fn weights_t(&self) -> &DMatrix<f64> {
        &self.weights_t
    }

    /// Refreshes `Wᵀ` after the weights changed in place.
    pub(crate) fn sync_transpose(&mut self) {
        self.weights.transpose_to(&mut self.weights_t);
    }
    /// Number of visible units.
    pub fn n_visible(&self) -> usize {
        self.visible.len()
    }
    /// Number of hidden units.
    pub fn n_hidden(&self) -> usize {
        self.hidden.len()
    }

    /// The feature map of hidden unit `j`: `w_ij` for every visible `i` (reshape it to the
    /// image).
    pub fn feature_map(&self, j: usize) -> &[f64] {
        let nv = self.n_visible();
        &self.weights.as_slice()[j * nv..(j + 1) * nv]
    }

    /// The action `S(φ, h)`.
    pub fn action(&self, phi: &[f64], h: &[f64]) -> f64 {
        let coupling = (0..self.n_hidden())
            .map(|j| h[j] * self.feature_map(j).iter().zip(phi).map(|(w, p)| w * p).sum::<f64>())
            .sum::<f64>();
        let vis: f64 = phi.iter().enumerate().map(|(i, &x)| self.visible.energy(i, x)).sum();
        let hid: f64 = h.iter().enumerate().map(|(j, &x)| self.hidden.energy(j, x)).sum();
        -coupling + vis + hid
    }

    /// The field `t_j = Σ_i w_ij φ_i` on every hidden unit.
    pub fn hidden_field(&self, phi: &[f64]) -> Vec<f64> {
        (0..self.n_hidden())
            .map(|j| self.feature_map(j).iter().zip(phi).map(|(w, p)| w * p).sum())
            .collect()
    }

    /// The field `t_i = Σ_j w_ij h_j` on every visible unit.
    pub fn visible_field(&self, h: &[f64]) -> Vec<f64> {
        let mut t = vec![0.0; self.n_visible()];
        for (j, &hj) in h.iter().enumerate() {
            for (ti, w) in t.iter_mut().zip(self.feature_map(j)) {
                *ti += w * hj;
            }
        }
        t
    }

    /// The marginal free energy of the visible layer,
    /// `F(φ) = −ln Σ_h exp(−S(φ, h)) = Σ_i E_i(φ_i) − Σ_j ln Z_j(Σ_i w_ij φ_i)`,
    /// so that `p(φ) = exp(−F(φ)) / Z`.
    pub fn free_energy(&self, phi: &[f64]) -> f64 {
        let t = self.hidden_field(phi);
        self.free_energy_from_field(phi, &t)
    }

    /// [`Network::free_energy`] given the hidden fields `t` of `phi`.
    pub(crate) fn free_energy_from_field(&self, phi: &[f64], t: &[f64]) -> f64 {
        let vis: f64 = phi.iter().enumerate().map(|(i, &x)| self.visible.energy(i, x)).sum();
        let hid: f64 = t.iter().enumerate().map(|(j, &tj)| self.hidden.log_z(j, tj)).sum();
        vis - hid
    }

    /// The marginal free energy of the hidden layer, `F(h) = −ln Σ_φ exp(−S(φ, h))`.
    pub fn hidden_free_energy(&self, h: &[f64]) -> f64 {
        let t = self.visible_field(h);
        let hid: f64 = h.iter().enumerate().map(|(j, &x)| self.hidden.energy(j, x)).sum();
        let vis: f64 = t.iter().enumerate().map(|(i, &ti)| self.visible.log_z(i, ti)).sum();
        hid - vis
    }

    /// Conditional means `E[h_j | φ]`.
    pub fn hidden_means(&self, phi: &[f64]) -> Vec<f64> {
        self.hidden_field(phi)
            .iter()
            .enumerate()
            .map(|(j, &t)| self.hidden.mean(j, t))
            .collect()
    }

    /// Conditional means `E[φ_i | h]`.
    pub fn visible_means(&self, h: &[f64]) -> Vec<f64> {
        self.visible_field(h)
            .iter()
            .enumerate()
            .map(|(i, &t)| self.visible.mean(i, t))
            .collect()
    }

    /// The precision matrix `M` of a Gaussian–Gaussian network, `S = ½ xᵀ M x + …` with
    /// `x = (φ, h)`.
    pub fn joint_precision(&self) -> DMatrix<f64> {
        let (nv, nh) = (self.n_visible(), self.n_hidden());
        let mut m = DMatrix::zeros(nv + nh, nv + nh);
        for i in 0..nv {
            m[(i, i)] = 2.0 * self.visible.quadratic()[i];
        }
        for j in 0..nh {
            m[(nv + j, nv + j)] = 2.0 * self.hidden.quadratic()[j];
            for i in 0..nv {
                m[(i, nv + j)] = -self.weights[(i, j)];
                m[(nv + j, i)] = -self.weights[(i, j)];
            }
        }
        m
    }

    /// Number of parameters in the flat layout.
    pub fn n_params(&self) -> usize {
        let (nv, nh) = (self.n_visible(), self.n_hidden());
        nv * nh + 3 * nv + 3 * nh
    }

    /// The flat parameters `θ = [w | r | a | b | s | m | n]` (`w` column by column).
    pub fn params(&self) -> Vec<f64> {
        let mut theta = Vec::with_capacity(self.n_params());
        theta.extend_from_slice(self.weights.as_slice());
        for layer in [&self.visible, &self.hidden] {
            theta.extend_from_slice(layer.linear());
            theta.extend_from_slice(layer.quadratic());
            theta.extend_from_slice(layer.quartic());
        }
        theta
    }

    /// Replaces the parameters (layout of [`Network::params`]), validated like a new network.
    pub fn set_params(&mut self, theta: &[f64]) -> Result<(), RbmError> {
        if theta.len() != self.n_params() {
            return Err(RbmError::Shape(format!(
                "{} parameters given, the network has {}",
                theta.len(),
                self.n_params()
            )));
        }
        let mut next = self.clone();
        let nw = self.weights.len();
        next.weights.as_mut_slice().copy_from_slice(&theta[..nw]);
        let mut at = nw;
        for layer in [&mut next.visible, &mut next.hidden] {
            let n = layer.len();
            for block in layer.coefficients_mut() {
                block.copy_from_slice(&theta[at..at + n]);
                at += n;
            }
        }
        next.visible.validate("visible")?;
        next.hidden.validate("hidden")?;
        if let Some(w) = next.weights.iter().find(|w| !w.is_finite()) {
            return Err(RbmError::InvalidConfig(format!("weight {w} is not a finite number")));
        }
        next.sync_transpose();
        *self = next;
        Ok(())
    }

    /// `W` and `Wᵀ` together, for updates that keep them equal themselves.
    pub(crate) fn weights_both_mut(&mut self) -> (&mut DMatrix<f64>, &mut DMatrix<f64>) {
        (&mut self.weights, &mut self.weights_t)
    }

    pub(crate) fn parts_mut(&mut self) -> (&mut DMatrix<f64>, &mut Layer, &mut Layer) {
        (&mut self.weights, &mut self.visible, &mut self.hidden)
    }

    /// `∂S/∂θ` at the joint configuration `(φ, h)` in the flat layout: `−φ_i h_j`, `φ_i`,
    /// `φ_i²`, `φ_i⁴`, `h_j`, `h_j²`, `h_j⁴`.
    pub fn grad_action(&self, phi: &[f64], h: &[f64], out: &mut [f64]) {
        let (nv, nh) = (self.n_visible(), self.n_hidden());
        for j in 0..nh {
            for i in 0..nv {
                out[j * nv + i] = -phi[i] * h[j];
            }
        }
        let mut at = nv * nh;
        for x in [phi, h] {
            for power in [1, 2, 4] {
                for &v in x {
                    out[at] = v.powi(power);
                    at += 1;
                }
            }
        }
    }
}

impl mc_sampler::Model for Network {
    fn n_units(&self) -> usize {
        self.n_visible() + self.n_hidden()
    }
    fn n_params(&self) -> usize {
        Network::n_params(self)
    }
    fn params(&self) -> Vec<f64> {
        Network::params(self)
    }
    /// The action of the joint configuration `x = (φ, h)`.
    fn energy(&self, x: &[f64]) -> f64 {
        let (phi, h) = x.split_at(self.n_visible());
        self.action(phi, h)
    }
    fn grad_energy(&self, x: &[f64], out: &mut [f64]) {
        let (phi, h) = x.split_at(self.n_visible());
        self.grad_action(phi, h, out)
    }
}
