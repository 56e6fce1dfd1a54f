//! The sparse representation: a set of coupons, one per 26-bit address.
//!
//! A coupon packs what a dense sketch of any precision needs from one hash: the low 26
//! bits of `h1` (the address; a register index is its low `p` bits) and the register value
//! `min(clz(h2), 62) + 1` in the 6 bits above them. This is DataSketches' coupon, so its
//! list and set images load as they are. Keeping 26 address bits makes small sets nearly
//! exact and their merges lossless.

/// Bits of a coupon's address.
pub const ADDRESS_BITS: u32 = 26;
pub const ADDRESS_MASK: u32 = (1 << ADDRESS_BITS) - 1;
/// The largest register value a coupon carries (DataSketches caps clz at 62).
pub const MAX_VALUE: u8 = 63;

/// The coupon of a 128-bit hash.
#[inline(always)]
pub fn coupon(h1: u64, h2: u64) -> u32 {
    let value = h2.leading_zeros().min(62) + 1;
    (value << ADDRESS_BITS) | (h1 as u32 & ADDRESS_MASK)
}

#[inline(always)]
pub fn address(coupon: u32) -> u32 {
    coupon & ADDRESS_MASK
}

#[inline(always)]
pub fn value(coupon: u32) -> u8 {
    (coupon >> ADDRESS_BITS) as u8
}

/// Builds a coupon, or `None` when the value is outside 1..=63.
pub fn make(address: u32, value: u8) -> Option<u32> {
    ((1..=MAX_VALUE).contains(&value) && address <= ADDRESS_MASK)
        .then(|| (u32::from(value) << ADDRESS_BITS) | address)
}

/// An open-addressing hash set of coupons keyed by address, keeping the largest value.
/// Slot 0 means empty: a real coupon always has a non-zero value.
#[derive(Clone, Debug, Default)]
pub struct CouponSet {
    slots: Vec<u32>,
    len: usize,
}

impl CouponSet {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts `coupon`; returns true when the set changed.
    pub fn insert(&mut self, coupon: u32) -> bool {
        if 4 * (self.len + 1) > 3 * self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let addr = address(coupon);
        // The address is already uniformly distributed: use it directly as the probe start.
        let mut i = addr as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                self.slots[i] = coupon;
                self.len += 1;
                return true;
            }
            if address(slot) == addr {
                if value(coupon) > value(slot) {
                    self.slots[i] = coupon;
                    return true;
                }
                return false;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![0; capacity]);
        self.len = 0;
        for c in old.into_iter().filter(|&c| c != 0) {
            self.insert(c);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().copied().filter(|&c| c != 0)
    }

    /// The coupons in ascending address order: the canonical order of our images.
    pub fn sorted(&self) -> Vec<u32> {
        let mut out: Vec<u32> = self.iter().collect();
        out.sort_unstable_by_key(|&c| address(c));
        out
    }

    pub fn clear(&mut self) {
        self.slots = Vec::new();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coupon_fields() {
        let c = coupon(0xffff_ffff_ffff_ffff, 1 << 60);
        assert_eq!(address(c), ADDRESS_MASK);
        assert_eq!(value(c), 4);
        assert_eq!(
            value(coupon(0, 0)),
            63,
            "clz of 0 is capped at 62, plus one"
        );
        assert_eq!(make(5, 0), None);
        assert_eq!(make(5, 64), None);
        assert_eq!(make(5, 7), Some((7 << 26) | 5));
    }

    #[test]
    fn set_keeps_the_largest_value_per_address() {
        let mut s = CouponSet::default();
        assert!(s.insert(make(9, 3).unwrap()));
        assert!(!s.insert(make(9, 2).unwrap()));
        assert!(s.insert(make(9, 5).unwrap()));
        for a in 0..1000 {
            s.insert(make(a * 7919, 1).unwrap());
        }
        assert_eq!(
            s.len(),
            1001,
            "address 9 is not a multiple of 7919: 1000 + 1"
        );
        let sorted = s.sorted();
        assert!(sorted.windows(2).all(|w| address(w[0]) < address(w[1])));
        assert!(sorted.contains(&make(9, 5).unwrap()));
    }
}
