//! Coupons of a block of 8-byte items, vectorised where the CPU allows.
//!
//! Hashing dominates a batch update: register updates are one load and a rarely taken
//! store. The block loop below is plain scalar Rust; compiled a second time with AVX-512
//! (64-bit multiplies, rotates and leading-zero counts in 8 lanes) or AVX2 and chosen at
//! run time, it hashes several items per instruction. Integer arithmetic only, so every
//! variant gives the same coupons bit for bit.

use super::sparse;
use crate::algo::hash::{murmur3_u64, DEFAULT_SEED};

/// Items hashed ahead of their register updates.
pub const BLOCK: usize = 64;

#[inline(always)]
fn coupons_scalar(words: &[u64; BLOCK], out: &mut [u32; BLOCK]) {
    for (c, &w) in out.iter_mut().zip(words) {
        let (h1, h2) = murmur3_u64(w, DEFAULT_SEED);
        *c = sparse::coupon(h1, h2);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512cd,avx512vl")]
unsafe fn coupons_avx512(words: &[u64; BLOCK], out: &mut [u32; BLOCK]) {
    coupons_scalar(words, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn coupons_avx2(words: &[u64; BLOCK], out: &mut [u32; BLOCK]) {
    coupons_scalar(words, out)
}

/// The coupons of `words` (each hashed as its 8 little-endian bytes) into `out`.
pub fn coupons(words: &[u64; BLOCK], out: &mut [u32; BLOCK]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512cd")
            && std::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the features the function was compiled for are present.
            return unsafe { coupons_avx512(words, out) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { coupons_avx2(words, out) };
        }
    }
    coupons_scalar(words, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_matches_the_scalar_coupons() {
        let mut words = [0u64; BLOCK];
        for (i, w) in words.iter_mut().enumerate() {
            *w = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (u64::MAX >> (i % 64));
        }
        let mut expected = [0u32; BLOCK];
        coupons_scalar(&words, &mut expected);
        let mut got = [0u32; BLOCK];
        coupons(&words, &mut got);
        assert_eq!(got, expected);
    }
}
