//! The dense representation: one byte per register, with the HIP estimator.
//!
//! HIP (Cohen 2014; Ting 2014) adds `m / Σ 2^-r` to a running estimate each time a register
//! grows: the inverse of the probability that a new distinct item changes the sketch. It
//! is unbiased with relative error √(ln 2 / m)·… ≈ 0.833/√m, about 20 % below the
//! register estimators, but only for a sketch built by updates in one stream: a merge makes
//! it meaningless, and the sketch falls back to Ertl's estimator (see `estimate.rs`).
//!
//! `Σ 2^-r` is kept exactly as a fixed-point `u128` (scaled by 2^64), so it can be rebuilt
//! from the registers after deserialisation and the HIP sequence continues bit for bit.

use super::sparse;

/// 2^-64, the scale of the fixed-point `Σ 2^-r`.
const TWO_POW_MINUS_64: f64 = 1.0 / 18_446_744_073_709_551_616.0;

/// Exact `Σ 2^(64 - r)` over registers.
pub fn kxq_of(regs: &[u8]) -> u128 {
    regs.iter().map(|&r| 1u128 << (64 - u32::from(r))).sum()
}

#[derive(Clone, Debug)]
pub struct Dense {
    pub regs: Vec<u8>,
    /// Σ 2^(64 - r): meaningful only while `hip` is `Some`.
    kxq: u128,
    /// The HIP estimate, `None` once a merge has made it invalid.
    pub hip: Option<f64>,
}

impl Dense {
    #[cfg(test)]
    pub fn new(precision: u8, hip: Option<f64>) -> Self {
        let m = 1usize << precision;
        Self {
            regs: vec![0; m],
            kxq: (m as u128) << 64,
            hip,
        }
    }

    /// Registers given whole, e.g. decoded from an image; `Σ 2^-r` is rebuilt exactly.
    pub fn from_registers(regs: Vec<u8>, hip: Option<f64>) -> Self {
        let kxq = kxq_of(&regs);
        Self { regs, kxq, hip }
    }

    /// Raises the register `slot` to `value`; returns true when it changed.
    #[inline(always)]
    pub fn update(&mut self, slot: usize, value: u8) -> bool {
        let old = self.regs[slot];
        if value <= old {
            return false;
        }
        self.regs[slot] = value;
        if let Some(hip) = self.hip.as_mut() {
            let m = self.regs.len() as f64;
            *hip += m / (self.kxq as f64 * TWO_POW_MINUS_64);
            self.kxq -= 1u128 << (64 - u32::from(old));
            self.kxq += 1u128 << (64 - u32::from(value));
        }
        true
    }

    /// Applies a block of coupons; returns true when a register changed. The common case,
    /// a coupon that changes nothing, is one load and a compare.
    #[inline(always)]
    pub fn update_coupons(&mut self, coupons: &[u32]) -> bool {
        let mask = self.regs.len() - 1;
        let mut changed = false;
        for &c in coupons {
            let (slot, value) = (sparse::address(c) as usize & mask, sparse::value(c));
            if value > self.regs[slot] {
                changed |= self.update(slot, value);
            }
        }
        changed
    }

    /// Register-wise max with `other` (same length); invalidates HIP.
    pub fn merge(&mut self, other: &[u8]) {
        debug_assert_eq!(self.regs.len(), other.len());
        for (a, &b) in self.regs.iter_mut().zip(other) {
            *a = (*a).max(b);
        }
        self.hip = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hip_increments_by_inverse_change_probability() {
        let mut d = Dense::new(4, Some(0.0));
        assert!(d.update(3, 2));
        // All 16 registers were 0: Σ 2^-r = 16, so the first change adds 16/16 = 1.
        assert_eq!(d.hip, Some(1.0));
        assert!(!d.update(3, 1));
        assert!(d.update(4, 1));
        // Now Σ = 15 + 1/4 = 15.25.
        assert!((d.hip.unwrap() - (1.0 + 16.0 / 15.25)).abs() < 1e-12);
        assert_eq!(d.kxq, kxq_of(&d.regs));
    }

    #[test]
    fn merge_is_registerwise_max_and_drops_hip() {
        let mut a = Dense::from_registers(vec![1, 0, 4], Some(3.0));
        a.merge(&[2, 2, 1]);
        assert_eq!(a.regs, vec![2, 2, 4]);
        assert_eq!(a.hip, None);
    }
}
