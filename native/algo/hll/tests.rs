use super::*;
use crate::algo::error::ErrorKind;
use proptest::prelude::*;

fn sketch(precision: u8, items: impl IntoIterator<Item = u64>) -> HyperLogLog {
    let mut h = HyperLogLog::new(precision).unwrap();
    items.into_iter().for_each(|v| h.add_u64(v));
    h
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn precision_is_checked() {
    for p in [0, 3, 19, 255] {
        assert_eq!(
            HyperLogLog::new(p).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }
    for p in MIN_PRECISION..=MAX_PRECISION {
        let h = HyperLogLog::new(p).unwrap();
        assert_eq!(h.estimate(), 0.0);
        assert!((h.standard_error() - 1.04 / f64::from(1u32 << p).sqrt()).abs() < 1e-15);
    }
}

#[test]
fn small_counts_are_nearly_exact() {
    for n in [1u64, 10, 100, 500] {
        let h = sketch(12, 0..n);
        assert!(h.is_sparse());
        assert!(
            (h.estimate() - n as f64).abs() < 0.01,
            "n={n}: {}",
            h.estimate()
        );
    }
}

#[test]
fn promotion_happens_when_dense_is_smaller() {
    let mut h = HyperLogLog::new(12).unwrap();
    let mut n = 0u64;
    while h.is_sparse() {
        let before = h.serialized_len();
        h.add_u64(n);
        n += 1;
        if !h.is_sparse() {
            assert!(
                before <= h.serialized_len(),
                "sparse {before} vs dense {}",
                h.serialized_len()
            );
        }
    }
    assert!(h.is_hip());
    assert!(
        (h.estimate() - n as f64).abs() < 1.0,
        "HIP continues from the coupon count"
    );
}

#[test]
fn merge_rejects_other_precision() {
    let mut a = sketch(12, 0..10);
    let b = sketch(13, 0..10);
    assert_eq!(a.merge(&b).unwrap_err().kind, ErrorKind::Incompatible);
}

#[test]
fn merge_with_empty_keeps_hip() {
    let mut a = sketch(10, 0..100_000);
    let e = a.estimate();
    a.merge(&HyperLogLog::new(10).unwrap()).unwrap();
    assert!(a.is_hip());
    assert_eq!(a.estimate(), e);
    let mut empty = HyperLogLog::new(10).unwrap();
    empty.merge(&a).unwrap();
    assert_eq!(empty, a);
}

#[test]
fn merged_halves_have_the_registers_of_the_whole() {
    for n in [50u64, 3000, 200_000] {
        let whole = sketch(12, 0..n);
        let mut a = sketch(12, (0..n).filter(|v| v % 2 == 0));
        let b = sketch(12, (0..n).filter(|v| v % 2 == 1));
        a.merge(&b).unwrap();
        assert_eq!(a.registers(), whole.registers(), "n={n}");
        let rel = (a.estimate() - n as f64).abs() / n as f64;
        assert!(rel < 5.0 * a.standard_error(), "n={n} rel={rel}");
    }
}

#[test]
fn bytes_round_trip_in_both_modes() {
    for n in [0u64, 1, 100, 10_000, 1_000_000] {
        let h = sketch(14, 0..n);
        let bytes = h.to_bytes();
        assert_eq!(bytes.len(), h.serialized_len());
        let back = HyperLogLog::from_bytes(&bytes).unwrap();
        assert_eq!(back.estimate(), h.estimate());
        assert_eq!(back.registers(), h.registers());
        // The HIP sequence continues bit for bit after a round trip.
        let (mut x, mut y) = (h.clone(), back);
        (n..n + 5000).for_each(|v| {
            x.add_u64(v);
            y.add_u64(v);
        });
        assert_eq!(x.to_bytes(), y.to_bytes());
    }
}

#[test]
fn dense_p14_image_is_small() {
    let h = sketch(14, 0..1_000_000);
    assert!(!h.is_sparse());
    assert!(h.serialized_len() <= 8300, "{}", h.serialized_len());
}

#[test]
fn golden_sparse_image() {
    let h = sketch(12, [1, 2, 3]);
    // header, precision 12, flags HIP; three coupons in ascending address order.
    assert_eq!(hex(&h.to_bytes()), GOLDEN_SPARSE);
    assert_eq!(HyperLogLog::from_bytes(&h.to_bytes()).unwrap(), h);
}

#[test]
fn golden_dense_image() {
    let h = sketch(4, 0..1000);
    assert!(!h.is_sparse());
    assert_eq!(hex(&h.to_bytes()), GOLDEN_DENSE);
}

// Pinned format: a change here breaks every stored sketch; bump the version instead.
const GOLDEN_SPARSE: &str = "444e01010c02862ff90d2bf2fb0675816607";
const GOLDEN_DENSE: &str = "444e01010403051928cbb165a49140000000000331232120110522";

#[test]
fn corrupt_images_are_refused() {
    let good = sketch(8, 0..10_000).to_bytes();
    for cut in [0, 3, 5, 6, 10, good.len() - 1] {
        assert_eq!(
            HyperLogLog::from_bytes(&good[..cut]).unwrap_err().kind,
            ErrorKind::Corrupt
        );
    }
    let mut extra = good.clone();
    extra.push(0);
    assert!(HyperLogLog::from_bytes(&extra).is_err());
    let mut flags = good.clone();
    flags[5] |= 0x80;
    assert!(HyperLogLog::from_bytes(&flags).is_err());
    let mut precision = good;
    precision[4] = 30;
    assert!(HyperLogLog::from_bytes(&precision).is_err());
}

#[test]
fn datasketches_hll8_round_trip() {
    for n in [0u64, 5, 300, 100_000] {
        let h = sketch(11, 0..n);
        let image = datasketches::encode_hll8(&h);
        let back = HyperLogLog::from_bytes(&image).unwrap();
        assert_eq!(back.registers(), h.registers(), "n={n}");
        assert!((back.estimate() - h.estimate()).abs() <= 1e-9 * h.estimate().max(1.0));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn merge_is_commutative_associative_idempotent(
        a in proptest::collection::vec(any::<u64>(), 0..3000),
        b in proptest::collection::vec(any::<u64>(), 0..3000),
        c in proptest::collection::vec(any::<u64>(), 0..3000),
    ) {
        let (sa, sb, sc) = (sketch(8, a), sketch(8, b), sketch(8, c));
        let mut ab = sa.clone();
        ab.merge(&sb).unwrap();
        let mut ba = sb.clone();
        ba.merge(&sa).unwrap();
        prop_assert_eq!(ab.registers(), ba.registers());
        prop_assert_eq!(ab.estimate(), ba.estimate());

        let mut ab_c = ab.clone();
        ab_c.merge(&sc).unwrap();
        let mut bc = sb.clone();
        bc.merge(&sc).unwrap();
        let mut a_bc = sa.clone();
        a_bc.merge(&bc).unwrap();
        prop_assert_eq!(ab_c.registers(), a_bc.registers());

        let mut aa = sa.clone();
        aa.merge(&sa).unwrap();
        prop_assert_eq!(aa.registers(), sa.registers());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = HyperLogLog::from_bytes(&bytes);
        let mut ds = bytes.clone();
        if ds.len() >= 8 {
            ds[0] = [2, 3, 10][usize::from(ds[0]) % 3];
            ds[1] = 1;
            ds[2] = 7;
            let _ = HyperLogLog::from_bytes(&ds);
        }
    }

    #[test]
    fn flipped_bits_never_panic(n in 0u64..5000, at in any::<usize>(), bit in 0u8..8) {
        let mut bytes = sketch(6, 0..n).to_bytes();
        let i = at % bytes.len();
        bytes[i] ^= 1 << bit;
        if let Ok(h) = HyperLogLog::from_bytes(&bytes) {
            prop_assert!(h.estimate().is_finite());
        }
    }
}

#[test]
fn unsigned_and_signed_integers_agree_where_they_are_the_same_number() {
    let (mut a, mut b) = (HyperLogLog::new(10).unwrap(), HyperLogLog::new(10).unwrap());
    a.add_u64(12345);
    b.add_i64(12345);
    assert_eq!(a, b);
    let (mut big, mut minus_one) = (HyperLogLog::new(10).unwrap(), HyperLogLog::new(10).unwrap());
    big.add_u64(u64::MAX);
    minus_one.add_i64(-1);
    assert_ne!(big.registers(), minus_one.registers(), "2^64 - 1 is not -1");
}

proptest! {
    #[test]
    fn batches_equal_items_one_by_one(
        ints in proptest::collection::vec(any::<i64>(), 0..700),
        uints in proptest::collection::vec(any::<u64>(), 0..700),
        floats in proptest::collection::vec(any::<f64>(), 0..700),
    ) {
        let mut batch = HyperLogLog::new(9).unwrap();
        batch.add_many_i64(&ints);
        batch.add_many_u64(&uints);
        batch.add_many_f64(&floats);
        let mut single = HyperLogLog::new(9).unwrap();
        ints.iter().for_each(|&v| single.add_i64(v));
        uints.iter().for_each(|&v| single.add_u64(v));
        floats.iter().for_each(|&v| single.add_f64(v));
        prop_assert_eq!(batch.to_bytes(), single.to_bytes());
    }
}

#[test]
fn merge_images_is_the_union_of_the_images() {
    let sketches: Vec<HyperLogLog> = (0..5u64)
        .map(|k| {
            let mut h = HyperLogLog::new(12).unwrap();
            // Overlapping ranges; the first two stay sparse, the others go dense.
            let n = if k < 2 { 50 } else { 5_000 };
            (k * 1_000..k * 1_000 + n).for_each(|v| h.add_u64(v));
            h
        })
        .collect();
    let mut expected = HyperLogLog::new(12).unwrap();
    sketches.iter().for_each(|s| expected.merge(s).unwrap());
    let images: Vec<Vec<u8>> = sketches.iter().map(HyperLogLog::to_bytes).collect();
    let merged = HyperLogLog::merge_images(&images, None).unwrap();
    assert_eq!(merged, expected);
    let mut reversed = images.clone();
    reversed.reverse();
    assert_eq!(
        HyperLogLog::merge_images(&reversed, Some(12)).unwrap(),
        expected
    );
}

#[test]
fn merge_images_refuses_bad_images_and_precisions() {
    let empty: [&[u8]; 0] = [];
    let none = HyperLogLog::merge_images(&empty, Some(10)).unwrap();
    assert!(none.is_empty());
    assert_eq!(none.precision(), 10);
    let a = HyperLogLog::new(12).unwrap().to_bytes();
    let b = HyperLogLog::new(11).unwrap().to_bytes();
    let e = HyperLogLog::merge_images(&[a.clone(), b], None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Incompatible);
    assert!(e.message.starts_with("image 1:"), "{}", e.message);
    let e = HyperLogLog::merge_images(&[a.clone(), b"nope".to_vec()], None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt);
    assert!(e.message.starts_with("image 1:"), "{}", e.message);
    let e = HyperLogLog::merge_images(&[a], Some(14)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Incompatible);
}
