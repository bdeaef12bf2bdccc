//! The observables of a run, one struct for every record that reports them.

use serde::{Deserialize, Serialize};

/// The observables of DESIGN.md section 2 in report order: six averages over
/// configurations, each a `T`, and the two cumulants derived from them, each a `D`.
///
/// `qftml sample` reports them as [`SampleObservables`](crate::SampleObservables)
/// (Γ-method values and jackknife errors), its exact free-field values as
/// [`ExactFreeField`](crate::ExactFreeField), and `qftml reweight` as
/// [`ReweightedObservables`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ObservableSet<T, D = T> {
    /// `⟨φ²⟩`.
    pub phi2: T,
    /// `⟨|m|⟩`.
    pub m_abs: T,
    /// `⟨m²⟩`.
    pub m2: T,
    /// `⟨m⁴⟩`.
    pub m4: T,
    /// Nearest-neighbour product `⟨Σ_⟨ij⟩ φ_iφ_j⟩ / (2V)`.
    pub nn: T,
    /// `⟨S⟩ / V` (of the target, when reweighted).
    pub action_density: T,
    /// Susceptibility `χ = V(⟨m²⟩ − ⟨|m|⟩²)`.
    pub chi: D,
    /// Binder cumulant `U = 1 − ⟨m⁴⟩/(3⟨m²⟩²)`.
    pub binder: D,
}

impl<T: Copy, D: Copy> ObservableSet<T, D> {
    /// The averages with their names, in report order.
    pub fn averages(&self) -> [(&'static str, T); 6] {
        [
            ("phi2", self.phi2),
            ("m_abs", self.m_abs),
            ("m2", self.m2),
            ("m4", self.m4),
            ("nn", self.nn),
            ("action_density", self.action_density),
        ]
    }

    /// The cumulants with their names, in report order.
    pub fn cumulants(&self) -> [(&'static str, D); 2] {
        [("chi", self.chi), ("binder", self.binder)]
    }

    /// The average called `name`.
    pub fn get(&self, name: &str) -> Option<T> {
        crate::by_name(self.averages(), name)
    }
}

impl<T: Copy> ObservableSet<T> {
    /// Every value with its name, in report order.
    pub fn named(&self) -> [(&'static str, T); 8] {
        let [a0, a1, a2, a3, a4, a5] = self.averages();
        let [c0, c1] = self.cumulants();
        [a0, a1, a2, a3, a4, a5, c0, c1]
    }
}

/// Reweighted observables (complex estimates for complex targets): the observables of a
/// run and `⟨m⟩`, `⟨φ⁴⟩`, in output order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReweightedObservables<E = crate::Estimate> {
    /// The observables `qftml sample` reports.
    #[serde(flatten)]
    pub run: ObservableSet<E>,
    /// `⟨m⟩`.
    pub m: E,
    /// `⟨φ⁴⟩`.
    pub phi4: E,
}

impl<E> std::ops::Deref for ReweightedObservables<E> {
    type Target = ObservableSet<E>;
    fn deref(&self) -> &ObservableSet<E> {
        &self.run
    }
}

impl<E: Copy> ReweightedObservables<E> {
    /// The estimate called `name`.
    pub fn get(&self, name: &str) -> Option<E> {
        crate::by_name(self.named(), name)
    }

    /// The estimates with their names, in output order.
    pub fn named(&self) -> [(&'static str, E); 10] {
        let [o0, o1, o2, o3, o4, o5, o6, o7] = self.run.named();
        [o0, o1, o2, o3, o4, o5, o6, o7, ("m", self.m), ("phi4", self.phi4)]
    }

    /// Every estimate mapped through `f`, names kept.
    pub fn map<F, U>(&self, f: F) -> ReweightedObservables<U>
    where
        F: Fn(E) -> U,
    {
        let o = &self.run;
        ReweightedObservables {
            run: ObservableSet {
                phi2: f(o.phi2),
                m_abs: f(o.m_abs),
                m2: f(o.m2),
                m4: f(o.m4),
                nn: f(o.nn),
                action_density: f(o.action_density),
                chi: f(o.chi),
                binder: f(o.binder),
            },
            m: f(self.m),
            phi4: f(self.phi4),
        }
    }
}
