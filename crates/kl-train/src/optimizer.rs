//! Update rules (plain SGD as in the talk, Adam) and the learning-rate schedule.

use serde::{Deserialize, Serialize};

/// The update rule of the free parameters `u`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// Plain stochastic gradient descent, `u ← u − η_t g`.
    Sgd,
    /// Adam (Kingma and Ba): `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`,
    /// `u ← u − η_t m̂ / (√v̂ + ε)` with the bias-corrected moments `m̂`, `v̂`.
    Adam {
        /// Decay of the first moment.
        beta1: f64,
        /// Decay of the second moment.
        beta2: f64,
        /// Added to `√v̂`.
        eps: f64,
    },
}

impl Optimizer {
    /// Adam with the usual constants `β₁ = 0.9, β₂ = 0.999, ε = 10⁻⁸`.
    pub const ADAM: Optimizer = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };

    /// The name used on the command line (`sgd`, `adam`).
    pub fn name(self) -> &'static str {
        match self {
            Optimizer::Sgd => "sgd",
            Optimizer::Adam { .. } => "adam",
        }
    }
}

/// The learning rate of epoch `t` (counted from 0): `η_t = η₀ / (1 + t / t_half)`, halved
/// after `t_half` epochs and decaying as `1/t` afterwards (the Robbins–Monro rate, which lets
/// the noise of the stochastic gradient average out).  The rate depends only on the epoch,
/// never on the planned length of the run, so a run extended by resuming follows the same
/// schedule as one planned longer from the start.  `t_half = ∞` is a constant rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// `η₀`.
    pub initial: f64,
    /// `t_half` in epochs.
    pub half_life: f64,
}

impl Schedule {
    /// `η_t` of epoch `t`.
    pub fn rate(&self, epoch: u64) -> f64 {
        self.initial / (1.0 + epoch as f64 / self.half_life)
    }
}

/// Where an optimiser stands: the free parameters it moves and the moments it carries.
/// Both trainers' checkpoints hold one (its fields are encoded in this order, in place).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    /// The free parameters `u = [w | a | ln b | r]`.
    pub free: Vec<f64>,
    /// Adam's first moments.
    pub first_moment: Vec<f64>,
    /// Adam's second moments.
    pub second_moment: Vec<f64>,
    /// Optimiser steps taken.
    pub steps: u64,
}

impl OptimizerState {
    pub(crate) fn new(free: &[f64], moments: &Moments) -> Self {
        Self {
            free: free.to_vec(),
            first_moment: moments.first.clone(),
            second_moment: moments.second.clone(),
            steps: moments.steps,
        }
    }

    /// Whether it belongs to a model of `n_params` parameters.
    pub(crate) fn fits(&self, n_params: usize) -> bool {
        [self.free.len(), self.first_moment.len(), self.second_moment.len()] == [n_params; 3]
    }

    /// The free parameters and the moments.
    pub(crate) fn into_parts(self) -> (Vec<f64>, Moments) {
        let moments = Moments {
            first: self.first_moment,
            second: self.second_moment,
            steps: self.steps,
        };
        (self.free, moments)
    }
}

/// The moments an optimiser carries from one step to the next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Moments {
    pub(crate) first: Vec<f64>,
    pub(crate) second: Vec<f64>,
    pub(crate) steps: u64,
}

impl Moments {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            first: vec![0.0; n],
            second: vec![0.0; n],
            steps: 0,
        }
    }

    /// One step of `optimizer` with rate `rate` on `u` along the gradient `g` (entries with
    /// `trained[k] == false` stay where they are).
    pub(crate) fn step(&mut self, optimizer: Optimizer, rate: f64, u: &mut [f64], g: &[f64], trained: &[bool]) {
        self.steps += 1;
        match optimizer {
            Optimizer::Sgd => {
                for k in (0..u.len()).filter(|&k| trained[k]) {
                    u[k] -= rate * g[k];
                }
            }
            Optimizer::Adam { beta1, beta2, eps } => {
                let c1 = 1.0 - beta1.powi(self.steps.min(i32::MAX as u64) as i32);
                let c2 = 1.0 - beta2.powi(self.steps.min(i32::MAX as u64) as i32);
                for k in (0..u.len()).filter(|&k| trained[k]) {
                    let (m, v) = (&mut self.first[k], &mut self.second[k]);
                    *m = beta1 * *m + (1.0 - beta1) * g[k];
                    *v = beta2 * *v + (1.0 - beta2) * g[k] * g[k];
                    let (m_hat, v_hat) = (*m / c1, *v / c2);
                    u[k] -= rate * m_hat / (v_hat.sqrt() + eps);
                }
            }
        }
    }
}
