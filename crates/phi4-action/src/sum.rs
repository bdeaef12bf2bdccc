//! Sums in a fixed order that does not wait on itself.
//!
//! A plain `Σ` over a configuration is one chain of dependent additions (four cycles each),
//! several times slower than computing the terms.  [`Lanes`] keeps eight partial sums,
//! term `k` of a run going to lane `k mod 8`, and adds them pairwise at the end: a fixed
//! order (the result depends only on the terms, never on threads or hardware) that the
//! compiler turns into vector additions.

/// Eight partial sums.
pub(crate) type Lanes = [f64; 8];

/// Adds `f(k)` for `k` in `0..n` to lane `k mod 8` of `acc`.  `f` receives whole blocks of
/// eight indices at once (`f8(k0)` returns the terms `k0..k0 + 8`) so that the compiler
/// can vectorise them, then the remainder one by one (`f1`).
#[inline(always)]
pub(crate) fn add_lanes(acc: &mut Lanes, n: usize, f8: impl Fn(usize) -> Lanes, f1: impl Fn(usize) -> f64) {
    let full = n - n % 8;
    let mut k = 0;
    while k < full {
        let t = f8(k);
        for l in 0..8 {
            acc[l] += t[l];
        }
        k += 8;
    }
    for (l, lane) in acc.iter_mut().enumerate().take(n - full) {
        *lane += f1(full + l);
    }
}

/// The total of eight partial sums, added pairwise.
#[inline]
pub(crate) fn total(l: &Lanes) -> f64 {
    ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]))
}

/// Eight consecutive entries of `v` from `k`.
#[inline(always)]
pub(crate) fn block(v: &[f64], k: usize) -> &[f64; 8] {
    v[k..k + 8].try_into().expect("eight entries")
}

/// `Σ_k f(v[k])` with eight lanes.
#[inline(always)]
pub(crate) fn lane_sum_map(v: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = Lanes::default();
    add_lanes(&mut acc, v.len(), |k| block(v, k).map(&f), |k| f(v[k]));
    total(&acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lane sums of integers are exact, and the remainder lanes are used.
    #[test]
    fn lane_sums_add_every_term() {
        for n in [0, 1, 7, 8, 9, 100, 101] {
            let v: Vec<f64> = (0..n).map(|k| f64::from(k * k % 37) - 11.5).collect();
            let exact: f64 = v.iter().sum();
            assert_eq!(lane_sum_map(&v, |x| x), exact, "n = {n}");
            assert_eq!(lane_sum_map(&v, |x| 2.0 * x), 2.0 * exact, "n = {n}");
        }
    }
}
