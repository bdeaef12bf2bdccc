//! Bulk random words from the chain's generator, fast.
//!
//! [`fill_u64`]`(rng, out)` writes exactly what `rng.fill(out)` writes and leaves `rng` in
//! exactly the state `rng.fill(out)` leaves it in (same word position), so kernels may use
//! either and chains stay bit-identical.  The generator is ChaCha8 ([`crate::SimRng`]), whose
//! keystream is random-access: block `n` of stream `s` depends only on the key, `s` and `n`.
//! On x86-64 CPUs with AVX-512 (chosen at run time, [`crate::simd`]) the blocks are computed
//! sixteen at a time, one block per 32-bit lane ("vertical" layout: sixteen registers hold
//! word `w` of sixteen consecutive blocks), and transposed back to stream order with 64
//! shuffles.  That costs about a third of `rand_chacha`'s own four-block AVX2 refill per
//! word.  Elsewhere it falls back to `rng.fill`.
//!
//! [`fill_u64_at`] computes any stretch of the stream without touching the generator, so
//! several threads can produce disjoint parts of one chain's random words in parallel.

use rand::Rng;

use crate::SimRng;
use crate::simd::Isa;

/// Words (32-bit) per ChaCha block.
const BLOCK_WORDS: u128 = 16;
/// Blocks computed per batch by the vectorised kernel.
const BATCH_BLOCKS: u64 = 16;
/// 64-bit words per batch.
const BATCH_U64: usize = (BATCH_BLOCKS * 8) as usize;
/// 32-bit words per batch.
const BATCH_WORDS: usize = 2 * BATCH_U64;

/// The constant, key and stream of one ChaCha8 generator: everything but the block counter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamKey {
    key: [u32; 8],
    stream: u64,
}

/// The stream that holds the refinement words of a chain's Metropolis tests (see
/// [`crate::metropolis`]): same key, stream number with the top bit flipped.
pub(crate) fn refinement_key(rng: &SimRng) -> StreamKey {
    let mut k = StreamKey::of(rng);
    k.stream ^= 1 << 63;
    k
}

impl StreamKey {
    /// The key and stream of `rng`.
    pub(crate) fn of(rng: &SimRng) -> Self {
        let seed = rng.get_seed();
        let key = std::array::from_fn(|i| {
            u32::from_le_bytes([seed[4 * i], seed[4 * i + 1], seed[4 * i + 2], seed[4 * i + 3]])
        });
        Self {
            key,
            stream: rng.get_stream(),
        }
    }
}

/// Fills `out` exactly as `rng.fill(out)` would, and advances `rng` as that would (with the
/// vector kernel where the CPU has it and this thread did not switch it off,
/// [`crate::simd`]).
pub fn fill_u64(rng: &mut SimRng, out: &mut [u64]) {
    fill_u64_with(Isa::current(), rng, out);
}

/// [`fill_u64`] with the instruction set of the calling kernel.
pub(crate) fn fill_u64_with(isa: Isa, rng: &mut SimRng, out: &mut [u64]) {
    let pos = rng.get_word_pos();
    if !accelerated(isa) || !pos.is_multiple_of(2) || out.len() < BATCH_U64 {
        rng.fill(out);
        return;
    }
    fill_u64_at(isa, &StreamKey::of(rng), pos, out);
    rng.set_word_pos(pos + 2 * out.len() as u128);
}

/// Fills `out` exactly as `rng.fill(out)` would (32-bit words in stream order), and
/// advances `rng` as that would.
pub fn fill_u32(rng: &mut SimRng, out: &mut [u32]) {
    fill_u32_with(Isa::current(), rng, out);
}

/// [`fill_u32`] with the instruction set of the calling kernel.
pub(crate) fn fill_u32_with(isa: Isa, rng: &mut SimRng, out: &mut [u32]) {
    let pos = rng.get_word_pos();
    if !accelerated(isa) || out.len() < 2 * BATCH_U64 {
        rng.fill(out);
        return;
    }
    fill_u32_at(isa, &StreamKey::of(rng), pos, out);
    rng.set_word_pos(pos + out.len() as u128);
}

/// [`fill_u32`] with the work split over the current rayon pool: the keystream is
/// random-access, so the words (and the generator's final state) do not depend on the
/// number of threads.  The instruction set is chosen on the calling thread.
pub fn fill_u32_parallel(rng: &mut SimRng, out: &mut [u32]) {
    fill_u32_parallel_with(Isa::current(), rng, out);
}

/// [`fill_u32_parallel`] with the instruction set of the calling kernel.
pub(crate) fn fill_u32_parallel_with(isa: Isa, rng: &mut SimRng, out: &mut [u32]) {
    use rayon::prelude::*;
    const CHUNK: usize = 1 << 15;
    if !accelerated(isa) || out.len() < 2 * CHUNK {
        fill_u32_with(isa, rng, out);
        return;
    }
    let k = StreamKey::of(rng);
    let pos = rng.get_word_pos();
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(i, chunk)| fill_u32_at(isa, &k, pos + (i * CHUNK) as u128, chunk));
    rng.set_word_pos(pos + out.len() as u128);
}

/// Fills `out` with the 32-bit words of the keystream from word position `pos` on, without
/// a generator.
pub(crate) fn fill_u32_at(isa: Isa, k: &StreamKey, pos: u128, out: &mut [u32]) {
    let mut block = (pos / BLOCK_WORDS) as u64;
    let mut skip = (pos % BLOCK_WORDS) as usize;
    let mut done = 0;
    let mut buf = [0u32; BATCH_WORDS];
    while done < out.len() {
        let rest = out.len() - done;
        if skip == 0 && rest >= BATCH_WORDS {
            let dst: &mut [u32; BATCH_WORDS] = (&mut out[done..done + BATCH_WORDS]).try_into().expect("batch length");
            batch(isa, k, block, dst);
            done += BATCH_WORDS;
        } else {
            batch(isa, k, block, &mut buf);
            let take = (BATCH_WORDS - skip).min(rest);
            out[done..done + take].copy_from_slice(&buf[skip..skip + take]);
            done += take;
            skip = 0;
        }
        block = block.wrapping_add(BATCH_BLOCKS);
    }
}

/// Word `index` of the keystream `k` (one block computed, scalar): for rare random access.
pub(crate) fn word_at(k: &StreamKey, index: u64) -> u32 {
    chacha8_block(k, index / 16)[(index % 16) as usize]
}

/// Fills `out` with the 64-bit words of the keystream that start at the (even) 32-bit word
/// position `pos`, without a generator.
pub(crate) fn fill_u64_at(isa: Isa, k: &StreamKey, pos: u128, out: &mut [u64]) {
    debug_assert!(pos.is_multiple_of(2));
    let mut block = (pos / BLOCK_WORDS) as u64;
    // Offset (in u64) into the first batch.
    let mut skip = ((pos % BLOCK_WORDS) / 2) as usize;
    let mut done = 0;
    let mut buf = [0u32; BATCH_WORDS];
    while done < out.len() {
        batch(isa, k, block, &mut buf);
        let take = (BATCH_U64 - skip).min(out.len() - done);
        for (o, pair) in out[done..done + take].iter_mut().zip(buf[2 * skip..].chunks_exact(2)) {
            *o = u64::from(pair[0]) | (u64::from(pair[1]) << 32);
        }
        done += take;
        skip = 0;
        block = block.wrapping_add(BATCH_BLOCKS);
    }
}

/// Whether `isa` computes the keystream faster than `rng.fill`.
fn accelerated(isa: Isa) -> bool {
    isa.avx512().is_some()
}

/// Sixteen consecutive blocks from block counter `block`, in stream order.
#[inline]
fn batch(isa: Isa, k: &StreamKey, block: u64, out: &mut [u32; BATCH_WORDS]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(token) = isa.avx512() {
        return avx512::batch(token, k, block, out);
    }
    let _ = isa;
    portable_batch(k, block, out);
}

/// The reference ChaCha8 block function, one block at a time.
fn portable_batch(k: &StreamKey, block: u64, out: &mut [u32; BATCH_WORDS]) {
    for (b, dst) in out.chunks_exact_mut(16).enumerate() {
        dst.copy_from_slice(&chacha8_block(k, block.wrapping_add(b as u64)));
    }
}

const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// One ChaCha8 block: 64-bit counter in words 12–13, 64-bit stream in words 14–15.
pub(crate) fn chacha8_block(k: &StreamKey, counter: u64) -> [u32; 16] {
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&SIGMA);
    init[4..12].copy_from_slice(&k.key);
    init[12] = counter as u32;
    init[13] = (counter >> 32) as u32;
    init[14] = k.stream as u32;
    init[15] = (k.stream >> 32) as u32;
    let mut x = init;
    fn qr(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(16);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(12);
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(8);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(7);
    }
    for _ in 0..4 {
        qr(&mut x, 0, 4, 8, 12);
        qr(&mut x, 1, 5, 9, 13);
        qr(&mut x, 2, 6, 10, 14);
        qr(&mut x, 3, 7, 11, 15);
        qr(&mut x, 0, 5, 10, 15);
        qr(&mut x, 1, 6, 11, 12);
        qr(&mut x, 2, 7, 8, 13);
        qr(&mut x, 3, 4, 9, 14);
    }
    for (xi, ii) in x.iter_mut().zip(init) {
        *xi = xi.wrapping_add(ii);
    }
    x
}

/// The keystream in AVX-512, sixteen blocks per batch.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{BATCH_WORDS, SIGMA, StreamKey};
    use crate::simd::Avx512;

    macro_rules! quarter {
        ($x:ident, $a:expr, $b:expr, $c:expr, $d:expr) => {
            $x[$a] = _mm512_add_epi32($x[$a], $x[$b]);
            $x[$d] = _mm512_rol_epi32::<16>(_mm512_xor_si512($x[$d], $x[$a]));
            $x[$c] = _mm512_add_epi32($x[$c], $x[$d]);
            $x[$b] = _mm512_rol_epi32::<12>(_mm512_xor_si512($x[$b], $x[$c]));
            $x[$a] = _mm512_add_epi32($x[$a], $x[$b]);
            $x[$d] = _mm512_rol_epi32::<8>(_mm512_xor_si512($x[$d], $x[$a]));
            $x[$c] = _mm512_add_epi32($x[$c], $x[$d]);
            $x[$b] = _mm512_rol_epi32::<7>(_mm512_xor_si512($x[$b], $x[$c]));
        };
    }

    /// Sixteen blocks, one per lane, then a 16 × 16 transpose into stream order.
    #[inline]
    pub(super) fn batch(_: Avx512, k: &StreamKey, block: u64, out: &mut [u32; BATCH_WORDS]) {
        // SAFETY: the token proves that the CPU has the features `batch_avx512` enables.
        unsafe { batch_avx512(k, block, out) }
    }

    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,popcnt,bmi1,bmi2,lzcnt")]
    fn batch_avx512(k: &StreamKey, block: u64, out: &mut [u32; BATCH_WORDS]) {
        let lo: [u32; 16] = std::array::from_fn(|l| block.wrapping_add(l as u64) as u32);
        let hi: [u32; 16] = std::array::from_fn(|l| (block.wrapping_add(l as u64) >> 32) as u32);
        let splat = |w: u32| _mm512_set1_epi32(w as i32);
        // SAFETY: `lo` and `hi` are 64-byte arrays; unaligned loads.
        let (lo, hi) = unsafe {
            (
                _mm512_loadu_si512(lo.as_ptr().cast()),
                _mm512_loadu_si512(hi.as_ptr().cast()),
            )
        };
        let init = [
            splat(SIGMA[0]),
            splat(SIGMA[1]),
            splat(SIGMA[2]),
            splat(SIGMA[3]),
            splat(k.key[0]),
            splat(k.key[1]),
            splat(k.key[2]),
            splat(k.key[3]),
            splat(k.key[4]),
            splat(k.key[5]),
            splat(k.key[6]),
            splat(k.key[7]),
            lo,
            hi,
            splat(k.stream as u32),
            splat((k.stream >> 32) as u32),
        ];
        let mut x = init;
        for _ in 0..4 {
            quarter!(x, 0, 4, 8, 12);
            quarter!(x, 1, 5, 9, 13);
            quarter!(x, 2, 6, 10, 14);
            quarter!(x, 3, 7, 11, 15);
            quarter!(x, 0, 5, 10, 15);
            quarter!(x, 1, 6, 11, 12);
            quarter!(x, 2, 7, 8, 13);
            quarter!(x, 3, 4, 9, 14);
        }
        for w in 0..16 {
            x[w] = _mm512_add_epi32(x[w], init[w]);
        }
        // Lane group L (128 bits) of x[w] holds word w of blocks 4L..4L+3.
        let mut t = x;
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_epi32(x[2 * i], x[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_epi32(x[2 * i], x[2 * i + 1]);
        }
        // u[4i + e], lane group L: words 4i..4i+3 of block 4L + e.
        let mut u = t;
        for i in 0..4 {
            u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
            u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
            u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
            u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
        }
        let dst = out.as_mut_ptr();
        for e in 0..4 {
            let (a, b, c, d) = (u[e], u[4 + e], u[8 + e], u[12 + e]);
            let x0 = _mm512_shuffle_i32x4::<0x44>(a, b);
            let x1 = _mm512_shuffle_i32x4::<0xEE>(a, b);
            let y0 = _mm512_shuffle_i32x4::<0x44>(c, d);
            let y1 = _mm512_shuffle_i32x4::<0xEE>(c, d);
            let blocks = [
                _mm512_shuffle_i32x4::<0x88>(x0, y0),
                _mm512_shuffle_i32x4::<0xDD>(x0, y0),
                _mm512_shuffle_i32x4::<0x88>(x1, y1),
                _mm512_shuffle_i32x4::<0xDD>(x1, y1),
            ];
            for (l, v) in blocks.into_iter().enumerate() {
                // Block 4l + e occupies out[16(4l + e)..][..16].
                // SAFETY: 4l + e ≤ 15, so the 64 bytes written lie inside `out`.
                unsafe { _mm512_storeu_si512(dst.add(16 * (4 * l + e)).cast(), v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, RngCore};

    use super::*;
    use crate::chain_rng;

    #[test]
    fn block_function_is_the_generators() {
        let mut rng = chain_rng(99, 5);
        let k = StreamKey::of(&rng);
        for counter in 0..6 {
            let mut reference = [0u32; 16];
            rng.fill(&mut reference[..]);
            assert_eq!(chacha8_block(&k, counter), reference, "block {counter}");
        }
    }

    #[test]
    fn fill_equals_generator_fill_at_every_offset_and_length() {
        for &(seed, stream) in &[(1u64, 0u64), (7, 3), (123, u64::MAX)] {
            for pre in [0usize, 2, 6, 14, 16, 30, 1, 3] {
                for len in [0usize, 1, 7, 127, 128, 129, 255, 256, 300, 1000] {
                    let mut a = chain_rng(seed, stream);
                    let mut b = a.clone();
                    for _ in 0..pre {
                        a.next_u32();
                        b.next_u32();
                    }
                    let mut fast = vec![0u64; len];
                    let mut slow = vec![0u64; len];
                    fill_u64(&mut a, &mut fast);
                    b.fill(&mut slow[..]);
                    assert_eq!(fast, slow, "seed {seed} stream {stream} pre {pre} len {len}");
                    assert_eq!(a.get_word_pos(), b.get_word_pos());
                    assert_eq!(a.next_u64(), b.next_u64(), "state after fill");
                }
            }
        }
    }

    #[test]
    fn fill_u32_equals_generator_fill_and_word_at() {
        for pre in [0usize, 1, 2, 5, 16, 17] {
            for len in [0usize, 3, 255, 256, 257, 511, 1000, 3001] {
                let mut a = chain_rng(11, 4);
                for _ in 0..pre {
                    a.next_u32();
                }
                let mut b = a.clone();
                let pos = a.get_word_pos() as u64;
                let mut fast = vec![0u32; len];
                let mut slow = vec![0u32; len];
                fill_u32(&mut a, &mut fast);
                b.fill(&mut slow[..]);
                assert_eq!(fast, slow, "pre {pre} len {len}");
                assert_eq!(a.next_u64(), b.next_u64(), "state after fill");
                let k = StreamKey::of(&a);
                for (i, w) in slow.iter().enumerate().step_by(97) {
                    assert_eq!(word_at(&k, pos + i as u64), *w);
                }
            }
        }
    }

    /// The vector kernel gives the portable blocks, where the CPU has it.
    #[test]
    fn vector_batch_equals_portable_batch() {
        let isa = Isa::current_or_note("keystream batch");
        let k = StreamKey::of(&chain_rng(17, 9));
        for block in [0u64, 16, 12345, u64::from(u32::MAX) - 7, u64::MAX - 15] {
            let (mut fast, mut slow) = ([0u32; BATCH_WORDS], [0u32; BATCH_WORDS]);
            batch(isa, &k, block, &mut fast);
            portable_batch(&k, block, &mut slow);
            assert_eq!(fast, slow, "block {block}");
        }
    }

    /// With the vector kernels switched off on this thread the fills still give the
    /// generator's words, through the portable path.
    #[test]
    fn fills_with_vector_kernels_off_equal_generator_fill() {
        crate::simd::set_vector_kernels(false);
        assert!(!crate::simd::vector_kernels_enabled());
        let mut a = chain_rng(21, 2);
        let mut b = a.clone();
        let (mut fast, mut slow) = (vec![0u64; 1000], vec![0u64; 1000]);
        fill_u64(&mut a, &mut fast);
        b.fill(&mut slow[..]);
        let (mut fast32, mut slow32) = (vec![0u32; 70_001], vec![0u32; 70_001]);
        fill_u32_parallel(&mut a, &mut fast32);
        b.fill(&mut slow32[..]);
        crate::simd::set_vector_kernels(true);
        assert_eq!(fast, slow);
        assert_eq!(fast32, slow32);
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn parallel_fill_equals_generator_fill() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let mut a = chain_rng(3, 1);
        a.next_u32();
        let mut b = a.clone();
        let mut fast = vec![0u32; 100_003];
        let mut slow = vec![0u32; 100_003];
        pool.install(|| fill_u32_parallel(&mut a, &mut fast));
        b.fill(&mut slow[..]);
        assert_eq!(fast, slow);
        assert_eq!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn stream_at_position_matches_across_block_counter_carry() {
        let mut a = chain_rng(5, 2);
        a.set_word_pos(16 * (u128::from(u32::MAX) - 3));
        let mut b = a.clone();
        let mut fast = vec![0u64; 400];
        let mut slow = vec![0u64; 400];
        fill_u64(&mut a, &mut fast);
        b.fill(&mut slow[..]);
        assert_eq!(fast, slow);
    }
}
