use super::*;
use crate::algo::error::ErrorKind;
use proptest::prelude::*;

/// splitmix64: a small, fixed, dependency-free generator for reproducible data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn lognormal(&mut self, sigma: f64) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        let normal = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        (sigma * normal).exp()
    }
}

fn digest(values: &[f64]) -> TDigest {
    let mut d = TDigest::new(DEFAULT_COMPRESSION).unwrap();
    d.add_many(values).unwrap();
    d
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// |F_n(v) − q|, taking the closer end of the rank interval of a tie.
fn rank_error(sorted: &[f64], v: f64, q: f64) -> f64 {
    let n = sorted.len() as f64;
    let lo = sorted.partition_point(|&x| x < v) as f64 / n;
    let hi = sorted.partition_point(|&x| x <= v) as f64 / n;
    (lo - q).max(q - hi).max(0.0)
}

fn assert_monotone(d: &mut TDigest, steps: usize) {
    let mut previous = f64::NEG_INFINITY;
    for i in 0..=steps {
        let q = i as f64 / steps as f64;
        let v = d.quantile(q).unwrap();
        assert!(v >= previous, "quantile({q}) = {v} < {previous}");
        previous = v;
    }
    let (lo, hi) = (d.min(), d.max());
    let mut previous = 0.0;
    for i in 0..=steps {
        let x = lo + (hi - lo) * (i as f64 / steps as f64);
        let c = d.cdf(x).unwrap();
        assert!(c >= previous && c <= 1.0, "cdf({x}) = {c} after {previous}");
        previous = c;
    }
}

#[test]
fn compression_is_checked() {
    for bad in [f64::NAN, 9.99, 10_000.5, -1.0, f64::INFINITY] {
        let err = TDigest::new(bad).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument, "{bad}");
    }
    for good in [MIN_COMPRESSION, 123.5, MAX_COMPRESSION] {
        assert_eq!(TDigest::new(good).unwrap().compression(), good);
    }
}

#[test]
fn empty_digest() {
    let mut d = TDigest::new(100.0).unwrap();
    assert!(d.is_empty());
    assert!(d.quantile(0.5).unwrap().is_nan());
    assert!(d.quantile(0.0).unwrap().is_nan());
    assert!(d.cdf(1.0).unwrap().is_nan());
    assert!(d.min().is_nan() && d.max().is_nan() && d.mean().is_nan());
    assert_eq!((d.count(), d.sum()), (0.0, 0.0));
    let image = d.to_bytes();
    assert_eq!(TDigest::from_bytes(&image).unwrap(), d);
    // Merging empties stays empty and equal to a fresh digest.
    d.merge(&TDigest::new(50.0).unwrap());
    let all = TDigest::merge_all(&[&d, &d], None).unwrap();
    assert_eq!(all, TDigest::new(100.0).unwrap());
}

#[test]
fn bad_values_and_weights_are_refused_without_change() {
    let mut d = digest(&[1.0, 2.0, 3.0]);
    let before = d.to_bytes();
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(d.add(x).unwrap_err().kind, ErrorKind::InvalidArgument);
        assert_eq!(
            d.add_many(&[4.0, x, 5.0]).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }
    for w in [f64::NAN, -1.0, f64::INFINITY, -0.0 - 1e-300] {
        assert_eq!(
            d.add_weighted(1.0, w).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            d.add_many_weighted(&[1.0, 2.0], &[1.0, w])
                .unwrap_err()
                .kind,
            ErrorKind::InvalidArgument
        );
    }
    assert_eq!(
        d.add_many_weighted(&[1.0], &[1.0, 2.0]).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    for q in [-0.1, 1.1, f64::NAN] {
        assert_eq!(d.quantile(q).unwrap_err().kind, ErrorKind::InvalidArgument);
        assert_eq!(
            d.quantiles(&[0.5, q], &mut [0.0; 2]).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }
    assert_eq!(
        d.cdf(f64::NAN).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    // A zero weight adds nothing, not even to min and max.
    d.add_weighted(100.0, 0.0).unwrap();
    assert_eq!(d.to_bytes(), before);
    assert_eq!(
        (d.cdf(f64::NEG_INFINITY), d.cdf(f64::INFINITY)),
        (Ok(0.0), Ok(1.0))
    );
}

#[test]
fn nearest_rank_is_exact_up_to_100_values() {
    let mut r = Rng(1);
    for n in 1..=EXACT_POINTS {
        // Values with duplicates, in random order.
        let values: Vec<f64> = (0..n).map(|_| (r.uniform() * 40.0).floor()).collect();
        let s = sorted(&values);
        let mut d = digest(&values);
        for i in 0..=1000usize {
            // q = i/1000 as written in decimal: rank ⌈i·n/1000⌉, computed in integers.
            let rank = (i * n).div_ceil(1000).max(1);
            let q = i as f64 / 1000.0;
            assert_eq!(d.quantile(q).unwrap(), s[rank - 1], "n={n} q={q}");
        }
        for &x in &s {
            let at_or_below = s.partition_point(|&y| y <= x);
            assert_eq!(d.cdf(x).unwrap(), at_or_below as f64 / n as f64);
        }
    }
    // SKETCH-4: p90 of 1..=20 is 18.
    let mut d = digest(&(1..=20).map(f64::from).collect::<Vec<_>>());
    assert_eq!(d.quantile(0.9).unwrap(), 18.0);
    assert_eq!(d.quantile(0.5).unwrap(), 10.0);
    // 0.07 · 100 is 7.000000000000001 in binary: still rank 7, as in decimal.
    let mut d = digest(&(1..=100).map(f64::from).collect::<Vec<_>>());
    assert_eq!(d.quantile(0.07).unwrap(), 7.0);
}

#[test]
fn weights_act_as_multiplicities() {
    let mut weighted = TDigest::new(200.0).unwrap();
    weighted
        .add_many_weighted(&[3.0, 1.0, 2.0], &[2.0, 5.0, 3.0])
        .unwrap();
    let mut repeated = digest(&[3.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    for i in 0..=100 {
        let q = i as f64 / 100.0;
        assert_eq!(weighted.quantile(q), repeated.quantile(q), "q={q}");
    }
    assert_eq!(weighted.count(), 10.0);
    assert_eq!(weighted.sum(), 17.0);
    assert_eq!(weighted.mean(), 1.7);
}

#[test]
fn extremes_are_exact_and_anchor_the_ends() {
    let mut r = Rng(2);
    let values: Vec<f64> = (0..300_000).map(|_| r.lognormal(2.0)).collect();
    let s = sorted(&values);
    let mut d = digest(&values);
    assert_eq!(d.min(), s[0]);
    assert_eq!(d.max(), s[s.len() - 1]);
    assert_eq!(d.quantile(0.0).unwrap(), s[0]);
    assert_eq!(d.quantile(1.0).unwrap(), s[s.len() - 1]);
    // The extreme items are single points: the first and last few ranks are exact.
    for k in 1..=5 {
        let q = k as f64 / s.len() as f64;
        assert_eq!(d.quantile(q).unwrap(), s[k - 1]);
        assert_eq!(d.quantile(1.0 - q).unwrap(), s[s.len() - k - 1]);
    }
    assert_eq!(d.count(), 300_000.0);
    let exact_sum: f64 = s.iter().sum();
    assert!((d.sum() - exact_sum).abs() <= 1e-12 * exact_sum);
}

#[test]
fn monotone_on_adversarial_inputs() {
    let mut r = Rng(3);
    let n = 50_000;
    let cases: Vec<(&str, Vec<f64>)> = vec![
        ("duplicates", (0..n).map(|i| f64::from(i % 7)).collect()),
        ("ascending", (0..n).map(f64::from).collect()),
        ("descending", (0..n).rev().map(f64::from).collect()),
        (
            "two points",
            (0..n)
                .map(|_| if r.uniform() < 0.3 { 1.0 } else { 0.0 })
                .collect(),
        ),
        (
            "tiny spread",
            (0..n)
                .map(|i| 1.0 + f64::from(i % 3) * f64::EPSILON)
                .collect(),
        ),
        (
            "huge range",
            (0..n).map(|_| (r.uniform() - 0.5) * 1e300).collect(),
        ),
        ("lognormal", (0..n).map(|_| r.lognormal(4.0)).collect()),
    ];
    for (name, values) in cases {
        let mut d = digest(&values);
        assert_monotone(&mut d, 100_000);
        let other = digest(&values[..n as usize / 3]);
        d.merge(&other);
        assert_monotone(&mut d, 20_000);
        let mut halves = TDigest::merge_all(&[&other, &d], None).unwrap();
        assert_monotone(&mut halves, 20_000);
        let (lo, hi) = (d.min(), d.max());
        for i in 0..=100 {
            let v = d.quantile(i as f64 / 100.0).unwrap();
            assert!(lo <= v && v <= hi, "{name}: {v} outside [{lo}, {hi}]");
        }
    }
}

#[test]
fn two_point_data_is_answered_exactly() {
    let mut r = Rng(4);
    let values: Vec<f64> = (0..100_000)
        .map(|_| if r.uniform() < 0.3 { 5.0 } else { -2.0 })
        .collect();
    let low = values.iter().filter(|&&x| x == -2.0).count() as f64 / 1e5;
    let mut d = digest(&values);
    // Equal values merge without loss: two centroids, exact at every q.
    assert_eq!(d.centroids().len(), 2);
    assert_eq!(d.quantile(low).unwrap(), -2.0);
    assert_eq!(d.quantile(low + 1e-5).unwrap(), 5.0);
    assert_eq!(d.cdf(-2.0).unwrap(), low);
    assert_eq!(d.cdf(4.9).unwrap(), low);
}

#[test]
fn accuracy_and_size_at_the_default_compression() {
    // The Python accuracy tests run n = 1e6 against numpy; this is the native smoke check.
    // Between two knots w items apart, the data's own empirical CDF wanders about
    // 0.5·√w/n from any straight line: with w ≈ 0.006·n in the middle that is ~9e-5 at
    // n = 2e5, so the bound here is 3e-4 (about 3σ), and 1e-4 only from n ≈ 1e6.
    let mut r = Rng(5);
    let values: Vec<f64> = (0..200_000).map(|_| r.lognormal(2.0)).collect();
    let s = sorted(&values);
    let mut d = digest(&values);
    for q in [0.5, 0.9, 0.99, 0.999] {
        let v = d.quantile(q).unwrap();
        let e = rank_error(&s, v, q);
        assert!(e <= 3e-4, "q={q}: rank error {e}");
        let c = d.cdf(v).unwrap();
        assert!((c - q).abs() <= 2e-4, "cdf(quantile({q})) = {c}");
    }
    assert!(d.serialized_len() <= 5000, "{} bytes", d.serialized_len());
}

#[test]
fn memory_is_bounded() {
    let mut d = TDigest::new(100.0).unwrap();
    let mut r = Rng(6);
    let mut most = 0;
    for round in 0..20 {
        let chunk: Vec<f64> = (0..50_000).map(|_| r.lognormal(1.0)).collect();
        d.add_many(&chunk).unwrap();
        most = most.max(d.centroids().len());
        assert!(d.buffered() == 0, "round {round}");
    }
    // About (π/A + 2 ln(n/50)/B)·δ fully packed, at most twice that.
    assert!(most <= 400, "{most} centroids at compression 100");
}

#[test]
fn add_many_is_add_repeated() {
    let mut r = Rng(7);
    let values: Vec<f64> = (0..20_000).map(|_| r.lognormal(1.0)).collect();
    let weights: Vec<f64> = (0..20_000).map(|i| [1.0, 0.5, 3.0][i % 3]).collect();
    let mut one = TDigest::new(50.0).unwrap();
    values.iter().for_each(|&x| one.add(x).unwrap());
    assert_eq!(one, digest_at(50.0, &values));
    let mut one = TDigest::new(50.0).unwrap();
    for (&x, &w) in values.iter().zip(&weights) {
        one.add_weighted(x, w).unwrap();
    }
    let mut many = TDigest::new(50.0).unwrap();
    many.add_many_weighted(&values, &weights).unwrap();
    assert_eq!(one, many);
}

fn digest_at(compression: f64, values: &[f64]) -> TDigest {
    let mut d = TDigest::new(compression).unwrap();
    d.add_many(values).unwrap();
    d
}

#[test]
fn merged_digests_stay_accurate() {
    // SKETCH-5: a long range's percentile is the merge of its parts' digests.
    let mut r = Rng(8);
    let values: Vec<f64> = (0..360_000).map(|_| r.lognormal(2.0)).collect();
    let s = sorted(&values);
    let parts: Vec<TDigest> = values.chunks(1000).map(digest).collect();
    let refs: Vec<&TDigest> = parts.iter().collect();
    let mut all = TDigest::merge_all(&refs, None).unwrap();
    let mut folded = TDigest::new(DEFAULT_COMPRESSION).unwrap();
    parts.iter().for_each(|p| folded.merge(p));
    for d in [&mut all, &mut folded] {
        assert_eq!(d.count(), 360_000.0);
        assert_eq!((d.min(), d.max()), (s[0], s[s.len() - 1]));
        // As in the test above: ~7e-5 of sampling noise alone at n = 3.6e5.
        for q in [0.5, 0.9, 0.99, 0.999] {
            let e = rank_error(&s, d.quantile(q).unwrap(), q);
            assert!(e <= 3e-4, "q={q}: rank error {e}");
        }
    }
}

#[test]
fn merge_keeps_its_own_compression_and_leaves_other_alone() {
    let mut a = digest_at(50.0, &[1.0, 2.0]);
    let b = digest_at(500.0, &[3.0, 4.0, 5.0]);
    let b_image = b.to_bytes();
    a.merge(&b);
    assert_eq!(a.compression(), 50.0);
    assert_eq!(b.to_bytes(), b_image);
    assert_eq!(
        (a.count(), a.min(), a.max(), a.sum()),
        (5.0, 1.0, 5.0, 15.0)
    );
    let c = TDigest::merge_all(&[&b, &a], Some(20.0)).unwrap();
    assert_eq!((c.compression(), c.count()), (20.0, 8.0));
}

#[test]
fn image_layout_is_pinned() {
    let mut d = TDigest::new(100.0).unwrap();
    d.add_many(&[2.0, 1.0, 2.0]).unwrap();
    let hex: String = d.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        concat!(
            "444e0201",         // DN, type 2 (TDigest), version 1
            "01",               // flags: the next sweep runs right to left
            "0000000000005940", // compression 100
            "02000000",         // 2 centroids
            "0000000000001440", // sum 5
            "0000000000000000", // compensation 0
            "000000000000f03f", // min 1
            "0000000000000040", // max 2
            "000000000000f03f", // means 1, 2
            "0000000000000040",
            "0305", // (1 << 1 | point), (2 << 1 | point)
        )
    );
    let mut w = TDigest::new(100.0).unwrap();
    w.add_weighted(1.0, 0.5).unwrap();
    let image = w.to_bytes();
    assert_eq!(image[4], 0b11, "f64 weights flagged");
    assert_eq!(TDigest::from_bytes(&image).unwrap(), w);
}

#[test]
fn corrupt_images_are_refused() {
    let good = digest(&(0..1000).map(f64::from).collect::<Vec<_>>()).to_bytes();
    assert!(TDigest::from_bytes(&good).is_ok());
    let mut cases: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
    let mut trailing = good.clone();
    trailing.push(0);
    cases.push(trailing);
    let mut flags = good.clone();
    flags[4] |= 0x80;
    cases.push(flags);
    let mut compression = good.clone();
    compression[5..13].copy_from_slice(&5.0f64.to_le_bytes());
    cases.push(compression);
    let mut unsorted = good.clone();
    let means = 4 + 1 + 8 + 4 + 16 + 16;
    unsorted[means..means + 8].copy_from_slice(&1e9f64.to_le_bytes());
    cases.push(unsorted);
    let mut huge_count = good.clone();
    huge_count[13..17].copy_from_slice(&u32::MAX.to_le_bytes());
    cases.push(huge_count);
    for bad in cases {
        let err = TDigest::from_bytes(&bad).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Corrupt, "{} bytes", bad.len());
    }
}

fn values_strategy() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![
            -1e6f64..1e6,
            (0i32..20).prop_map(f64::from),
            (-300.0f64..300.0).prop_map(|e| 10f64.powf(e)),
        ],
        0..3000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn quantiles_are_monotone_and_bounded(values in values_strategy(), cut in 0usize..3000) {
        let cut = cut.min(values.len());
        let mut d = digest_at(20.0, &values[..cut]);
        d.merge(&digest_at(30.0, &values[cut..]));
        if values.is_empty() {
            prop_assert!(d.quantile(0.5).unwrap().is_nan());
        } else {
            assert_monotone(&mut d, 2000);
            prop_assert_eq!(d.quantile(0.0).unwrap(), d.min());
            prop_assert_eq!(d.quantile(1.0).unwrap(), d.max());
        }
    }

    #[test]
    fn merge_laws(values in values_strategy(), cut in 0usize..3000) {
        let cut = cut.min(values.len());
        let (a, b) = (digest(&values[..cut]), digest(&values[cut..]));
        let ab = TDigest::merge_all(&[&a, &b], None).unwrap();
        let ba = TDigest::merge_all(&[&b, &a], None).unwrap();
        // One sweep over the same sorted entries: the order of the inputs does not matter.
        let (mut x, mut y) = (ab.clone(), ba.clone());
        prop_assert_eq!(x.centroids(), y.centroids());
        prop_assert_eq!(ab.count(), values.len() as f64);
        let mut folded = a.clone();
        folded.merge(&b);
        prop_assert_eq!(folded.count(), ab.count());
        prop_assert_eq!(folded.min().to_bits(), ab.min().to_bits());
        prop_assert_eq!(folded.max().to_bits(), ab.max().to_bits());
        // Merging an empty digest changes nothing.
        let mut same = a.clone();
        same.merge(&TDigest::new(100.0).unwrap());
        prop_assert_eq!(same.to_bytes(), a.to_bytes());
    }

    #[test]
    fn images_round_trip(values in values_strategy(), weighted in any::<bool>()) {
        let mut d = TDigest::new(25.0).unwrap();
        if weighted {
            let weights: Vec<f64> = (0..values.len()).map(|i| 0.25 + (i % 5) as f64).collect();
            d.add_many_weighted(&values, &weights).unwrap();
        } else {
            d.add_many(&values).unwrap();
        }
        let image = d.to_bytes();
        let mut back = TDigest::from_bytes(&image).unwrap();
        prop_assert_eq!(back.to_bytes(), image);
        d.flush();
        for i in 0..=50 {
            let q = f64::from(i) / 50.0;
            prop_assert_eq!(back.quantile(q).unwrap().to_bits(), d.quantile(q).unwrap().to_bits());
        }
    }

    #[test]
    fn mutated_images_never_panic(values in values_strategy(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut image = digest_at(20.0, &values).to_bytes();
        let i = at.index(image.len());
        image[i] = byte;
        if let Ok(mut d) = TDigest::from_bytes(&image) {
            // Whatever it decoded, its answers are still ordered.
            if !d.is_empty() {
                assert_monotone(&mut d, 200);
            }
        }
    }
}

/// The packed sort key orders centroids as (mean, weight, point) tuples do.
#[test]
fn pack_orders_like_the_tuples() {
    let mut rng = Rng(11);
    let mut items: Vec<(f64, f64, bool)> = (0..2_000)
        .map(|i| {
            let mean = match i % 5 {
                0 => -rng.lognormal(2.0),
                1 => 0.0,
                _ => rng.lognormal(2.0),
            };
            (
                (mean * 4.0).round() / 4.0,
                ((i % 7) as f64) * 0.5,
                i % 3 == 0,
            )
        })
        .collect();
    let mut packed: Vec<u128> = items.iter().map(|&(m, w, p)| pack(m, w, p)).collect();
    packed.sort_unstable();
    items.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then(a.1.total_cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    let unpacked: Vec<(f64, f64, bool)> = packed.into_iter().map(unpack).collect();
    assert_eq!(unpacked, items);
}

fn minute_digests(count: usize, seed: u64) -> Vec<TDigest> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| {
            let v: Vec<f64> = (0..200).map(|_| 20.0 * rng.lognormal(1.0)).collect();
            let mut d = TDigest::new(100.0).unwrap();
            d.add_many(&v).unwrap();
            // As stored: an image holds centroids only.
            d.flush();
            d
        })
        .collect()
}

/// merge_images is merge_all of the decoded images, whatever their order.
#[test]
fn merge_images_equals_merge_all_of_the_decoded() {
    let digests = minute_digests(300, 3);
    let refs: Vec<&TDigest> = digests.iter().collect();
    let expected = TDigest::merge_all(&refs, None).unwrap();
    let images: Vec<Vec<u8>> = digests.iter().map(TDigest::to_bytes).collect();
    assert_eq!(TDigest::merge_images(&images, None).unwrap(), expected);
    let mut shuffled = images.clone();
    shuffled.reverse();
    shuffled.swap(0, 150);
    // The same centroids in any order (the compensated sum may differ in its last bits).
    let mut other = TDigest::merge_images(&shuffled, None).unwrap();
    let mut expected = expected;
    assert_eq!(other.centroids(), expected.centroids());
    assert!((other.sum() - expected.sum()).abs() <= 1e-9 * expected.sum());
    // The quantiles of the merge stay close to those of all the values (rank error).
    let mut merged = TDigest::merge_images(&images, Some(200.0)).unwrap();
    assert_eq!(merged.compression(), 200.0);
    assert_eq!(merged.count(), 300.0 * 200.0);
    let mut values: Vec<f64> = Vec::new();
    let mut rng = Rng(3);
    for _ in 0..300 {
        values.extend((0..200).map(|_| 20.0 * rng.lognormal(1.0)));
    }
    let sorted = sorted(&values);
    for q in [0.5, 0.9, 0.99] {
        let v = merged.quantile(q).unwrap();
        let rank = sorted.partition_point(|&x| x < v) as f64 / sorted.len() as f64;
        assert!((rank - q).abs() < 2e-3, "q={q} rank={rank}");
    }
}

/// Identical digests tie on everything; the base is then any of them, the same result.
#[test]
fn merge_all_of_equal_digests_is_order_independent() {
    let digests = minute_digests(4, 9);
    let d = &digests[0];
    let refs = [d, &digests[1], d, &digests[2], d];
    let rev = [d, &digests[2], d, &digests[1], d];
    assert_eq!(
        TDigest::merge_all(&refs, None).unwrap(),
        TDigest::merge_all(&rev, None).unwrap()
    );
}

#[test]
fn merge_images_names_the_bad_image() {
    let good = minute_digests(1, 1)[0].to_bytes();
    let mut bad = good.clone();
    bad.truncate(good.len() - 3);
    let e = TDigest::merge_images(&[good.clone(), bad], None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Corrupt);
    assert!(e.message.starts_with("image 1:"), "{}", e.message);
    let none: [&[u8]; 0] = [];
    let empty = TDigest::merge_images(&none, None).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.compression(), DEFAULT_COMPRESSION);
    let e = TDigest::merge_images(&[good], Some(1.0)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
}
