//! Exact single-site heat bath.
//!
//! Each site in turn (checkerboard / colour order) is replaced by an exact draw from its
//! conditional `p(φ_i | rest) ∝ exp(−a_i x² − b_i x⁴ + h_i x)`, `h_i = Σ_j w_ij φ_j − r_i`,
//! with the rejection sampler of [`crate::quartic`].  Every step leaves `exp(−S)` invariant
//! and is always "accepted"; it needs no tuning.

use rand::Rng;

use crate::layout::Layout;
use crate::quartic::Envelope;

/// One heat-bath sweep over the field in storage order.  Couplings validated by
/// `phi4_action` have `a_i > 0` wherever `b_i = 0`, so every conditional is normalisable.
pub(crate) fn sweep<R: Rng + ?Sized>(layout: &Layout, field: &mut [f64], rng: &mut R) {
    for s in 0..field.len() {
        update(layout, field, rng, s);
    }
}

/// One heat-bath sweep over the storage indices `free` only (ascending, so still in colour
/// order); the other sites are held fixed: an exact sweep of the conditional distribution of
/// the free sites given the clamped ones.
pub(crate) fn sweep_free<R: Rng + ?Sized>(layout: &Layout, field: &mut [f64], rng: &mut R, free: &[u32]) {
    for &s in free {
        update(layout, field, rng, s as usize);
    }
}

#[inline]
fn update<R: Rng + ?Sized>(layout: &Layout, field: &mut [f64], rng: &mut R, s: usize) {
    let h = layout.local_field(field, s);
    field[s] = Envelope::new(layout.a[s], layout.b[s], h).sample(rng);
}
