use super::*;
use crate::algo::error::ErrorKind;
use proptest::prelude::*;

/// The contract, written the slow and obvious way: every point in a vector, evicted by a
/// filter after each push.
struct Model {
    window: i64,
    newest: Option<i64>,
    points: Vec<(i64, i64)>,
    dropped: u64,
}

impl Model {
    fn new(window: i64) -> Self {
        Self {
            window,
            newest: None,
            points: Vec::new(),
            dropped: 0,
        }
    }

    fn push(&mut self, ts: i64, v: i64) {
        if let Some(n) = self.newest {
            if ts <= n - self.window {
                self.dropped += 1;
                return;
            }
        }
        let newest = self.newest.map_or(ts, |n| n.max(ts));
        self.newest = Some(newest);
        self.points.push((ts, v));
        self.points.retain(|&(t, _)| t > newest - self.window);
    }
}

/// Shewchuk's exact summation (the algorithm of Python's `math.fsum`).
fn fsum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    for mut x in values {
        let mut i = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        partials.truncate(i);
        partials.push(x);
    }
    partials.iter().rev().fold(0.0, |acc, &p| acc + p)
}

/// Variance of `values` by two exact-ish passes: fsum mean, fsum of squared deviations.
fn exact_variance(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = fsum(values.iter().copied()) / n;
    fsum(values.iter().map(|v| (v - mean) * (v - mean))) / n
}

fn int(v: i64) -> Number {
    Number::Int(v)
}

fn float(v: f64) -> Number {
    Number::Float(v)
}

fn int_sum(r: &RollingAggregate) -> i128 {
    match r.sum() {
        Total::Int(s) => s,
        Total::Float(f) => panic!("expected an integer sum, got {f}"),
    }
}

fn float_sum(r: &RollingAggregate) -> f64 {
    match r.sum() {
        Total::Float(s) => s,
        Total::Int(i) => panic!("expected a float sum, got {i}"),
    }
}

fn assert_matches_model(r: &RollingAggregate, m: &Model) {
    assert_eq!(r.count(), m.points.len());
    assert_eq!(r.dropped(), m.dropped);
    assert_eq!(r.newest(), m.newest.map(Number::Int));
    let values: Vec<i64> = m.points.iter().map(|p| p.1).collect();
    assert_eq!(
        int_sum(r),
        values.iter().map(|&v| i128::from(v)).sum::<i128>()
    );
    assert_eq!(r.min(), values.iter().min().map(|&v| int(v)));
    assert_eq!(r.max(), values.iter().max().map(|&v| int(v)));
    if values.is_empty() {
        assert_eq!((r.mean(), r.variance()), (None, None));
    } else {
        let f: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        let var = exact_variance(&f);
        let got = r.variance().unwrap();
        // Values ≤ 2^20: deviations are exact; the plain sums err by ~n·ε relative.
        assert!(
            (got - var).abs() <= 1e-9 * var + 1e-9,
            "variance {got} vs {var}"
        );
    }
}

#[test]
fn window_must_be_positive_and_finite() {
    for w in [
        int(0),
        int(-3),
        float(0.0),
        float(-1.0),
        float(f64::NAN),
        float(f64::INFINITY),
    ] {
        assert_eq!(
            RollingAggregate::new(w).unwrap_err().kind,
            ErrorKind::InvalidArgument,
            "{w:?}"
        );
    }
    assert_eq!(RollingAggregate::new(int(5)).unwrap().window(), int(5));
    assert_eq!(
        RollingAggregate::new(float(0.5)).unwrap().window(),
        float(0.5)
    );
}

#[test]
fn empty_window() {
    let r = RollingAggregate::new(int(10)).unwrap();
    assert_eq!(r.count(), 0);
    assert_eq!(r.sum(), Total::Int(0));
    assert_eq!((r.mean(), r.variance(), r.stddev()), (None, None, None));
    assert_eq!((r.min(), r.max(), r.newest()), (None, None, None));
}

#[test]
fn holds_points_newer_than_newest_minus_window() {
    let mut r = RollingAggregate::new(int(10)).unwrap();
    r.push(int(0), int(5));
    r.push(int(9), int(1));
    assert_eq!((r.count(), int_sum(&r)), (2, 6));
    // ts 10: cutoff 0, the point at 0 leaves (ts > newest − window).
    r.push(int(10), int(2));
    assert_eq!((r.count(), int_sum(&r)), (2, 3));
    assert_eq!((r.min(), r.max()), (Some(int(1)), Some(int(2))));
    // Late but inside: accepted. Older than the window: dropped.
    r.push(int(5), int(100));
    r.push(int(0), int(100));
    assert_eq!((r.count(), int_sum(&r), r.dropped()), (3, 103, 1));
    assert_eq!(r.max(), Some(int(100)));
    // The late point leaves by its own timestamp, before the earlier-arrived ts 9.
    r.push(int(15), int(7));
    assert_eq!(r.max(), Some(int(7)));
    assert_eq!((r.count(), int_sum(&r)), (3, 10));
}

#[test]
fn sketch_6_sums() {
    let mut r = RollingAggregate::new(int(100)).unwrap();
    r.push(int(0), int(i64::MAX));
    r.push(int(1), int(10));
    assert_eq!(int_sum(&r), 9_223_372_036_854_775_817);
    let mut r = RollingAggregate::new(int(100)).unwrap();
    r.push(int(0), int((1 << 53) - 2));
    r.push(int(1), int(2));
    assert_eq!(int_sum(&r), 1 << 53);

    let mut r = RollingAggregate::new(int(100)).unwrap();
    for i in 0..10 {
        r.push(int(i), float(0.1));
    }
    assert!((float_sum(&r) - 1.0).abs() <= 1e-12);
    let mut r = RollingAggregate::new(int(100)).unwrap();
    r.push(int(0), float(2e15));
    r.push(int(1), float(3.0));
    assert_eq!(float_sum(&r), 2e15 + 3.0);

    let mut r = RollingAggregate::new(int(100)).unwrap();
    for (i, v) in [4, 7, 13, 16].into_iter().enumerate() {
        r.push(int(i as i64), float(1e9 + f64::from(v)));
    }
    assert!((r.sample_variance().unwrap() - 30.0).abs() <= 1e-6);
    assert!((r.variance().unwrap() - 22.5).abs() <= 1e-6);
}

#[test]
fn cancelling_pairs_keep_the_sum_exact() {
    // ±1e15 pairs with a small residue each: a naive sum drifts by ~1e-2 relative.
    let mut r = RollingAggregate::new(int(i64::MAX)).unwrap();
    let mut values = Vec::new();
    let mut seed = 1u64;
    for i in 0..200_000 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let big = 1e15 * (1.0 + (seed >> 11) as f64 / (1u64 << 53) as f64);
        let small = (seed >> 40) as f64 / 1024.0;
        values.extend([big, -big + small]);
        r.push(int(2 * i), float(big));
        r.push(int(2 * i + 1), float(-big + small));
    }
    let exact = fsum(values.iter().copied());
    assert!(((float_sum(&r) - exact) / exact).abs() <= 1e-12);
    let naive: f64 = values.iter().sum();
    assert!(((naive - exact) / exact).abs() > 1e-9, "the test has teeth");
}

/// Levels 1e15, then 1e-3, then 1e9 (each evicting the scale of the one before), with
/// noise: what a plain running sum of squares cannot survive.
fn level_shifts(n: i64) -> Vec<(i64, f64)> {
    let mut seed = 7u64;
    (0..n)
        .map(|i| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = (seed >> 11) as f64 / (1u64 << 53) as f64;
            let v = match 3 * i / n {
                0 => 1e15 * (1.0 + noise),
                1 => 1e-3 * noise,
                _ => 1e9 + noise,
            };
            (i, v)
        })
        .collect()
}

fn assert_close_to_exact(r: &RollingAggregate, held: &[f64], at: i64) {
    let exact = fsum(held.iter().copied());
    let mag: f64 = held.iter().map(|v| v.abs()).sum();
    // A few ulps of the sum, plus ε² of the magnitudes for the compensation's own rounding.
    assert!(
        (float_sum(r) - exact).abs() <= 4.0 * f64::EPSILON * exact.abs() + 1e-30 * mag,
        "sum at {at}: {} vs {exact}",
        float_sum(r)
    );
    let var = exact_variance(held);
    // 1e-9 relative is the re-centring threshold; the floor is the inputs' own rounding.
    let floor = (f64::EPSILON * held[0].abs()).powi(2);
    let got = r.variance().unwrap();
    assert!(
        (got - var).abs() <= 1e-8 * var + 4.0 * floor,
        "variance at {at}: {got} vs {var}"
    );
}

#[test]
fn sum_and_variance_survive_heavy_eviction_and_level_shifts() {
    let points = level_shifts(30_000);
    let mut r = RollingAggregate::new(int(1000)).unwrap();
    for &(i, v) in &points {
        r.push(int(i), float(v));
        if i % 997 == 0 || i % 10_000 == 1500 {
            let held: Vec<f64> = points[(i - 999).max(0) as usize..=i as usize]
                .iter()
                .map(|p| p.1)
                .collect();
            assert_close_to_exact(&r, &held, i);
        }
    }
    let mut r = RollingAggregate::new(int(1000)).unwrap();
    for chunk in points.chunks(777) {
        let ts: Vec<i64> = chunk.iter().map(|p| p.0).collect();
        let vs: Vec<f64> = chunk.iter().map(|p| p.1).collect();
        r.push_many(Column::Int(&ts), Column::Float(&vs)).unwrap();
        let i = *ts.last().unwrap();
        let held: Vec<f64> = points[(i - 999).max(0) as usize..=i as usize]
            .iter()
            .map(|p| p.1)
            .collect();
        assert_close_to_exact(&r, &held, i);
    }
}

#[test]
fn batches_longer_than_the_window_keep_only_survivors() {
    let mut r = RollingAggregate::new(int(100)).unwrap();
    let ts: Vec<i64> = (0..10_000).collect();
    let vs: Vec<i64> = (0..10_000).map(|i| (i * 7919) % 1000).collect();
    r.push_many(Column::Int(&ts), Column::Int(&vs)).unwrap();
    let mut m = Model::new(100);
    ts.iter().zip(&vs).for_each(|(&t, &v)| m.push(t, v));
    assert_matches_model(&r, &m);
    assert_eq!(
        r.push_many(Column::Int(&ts[..3]), Column::Int(&vs[..2]))
            .unwrap_err()
            .kind,
        ErrorKind::InvalidArgument
    );
}

#[test]
fn widening_keeps_the_points() {
    let mut r = RollingAggregate::new(int(10)).unwrap();
    r.push(int(1), int(3));
    r.push(int(2), int(4));
    r.push(int(0), int(5)); // late
    r.push(float(2.5), int(1));
    assert!(r.float_timestamps() && !r.float_values());
    assert_eq!((r.count(), int_sum(&r)), (4, 13));
    r.push(int(3), float(0.5));
    assert!(r.float_values());
    assert_eq!(float_sum(&r), 13.5);
    assert_eq!((r.min(), r.max()), (Some(float(0.5)), Some(float(5.0))));
    r.push(float(10.5), float(1.0));
    // cutoff 0.5: ts 0 leaves, the rest stay.
    assert_eq!((r.count(), float_sum(&r)), (5, 9.5));
    assert_eq!(r.window(), float(10.0));
}

#[test]
fn clear_forgets_everything_but_the_window() {
    let mut r = RollingAggregate::new(int(10)).unwrap();
    r.push(int(100), int(1));
    r.push(int(0), int(1));
    r.clear();
    assert_eq!(r, RollingAggregate::new(int(10)).unwrap());
    r.push(int(0), int(2));
    assert_eq!((r.count(), r.dropped()), (1, 0));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// Pinned format: a change here breaks every stored aggregate; bump the version instead.
const GOLDEN_INT: &str = concat!(
    "444e0301",                         // header: RollingAggregate, version 1
    "04",                               // flags: newest present, integer ts and values
    "0a00000000000000",                 // window 10
    "0c00000000000000",                 // newest 12
    "0100000000000000",                 // dropped 1
    "0200000000000000",                 // 2 points
    "07000000000000000000000000000000", // sum 7 (i128)
    "0300000000000000",                 // shift 3 (the first value)
    "000000000000f03f",                 // Σd = 1.0
    "000000000000f03f",                 // Σd² = 1.0
    "0200000000000000",                 // 2 operations since the sums were rebuilt
    "000000000000f03f",                 // peak |Σd| = 1.0
    "000000000000f03f",                 // peak Σd² = 1.0
    "0500000000000000",                 // (5, 3)
    "0300000000000000",
    "0c00000000000000", // (12, 4)
    "0400000000000000",
);

#[test]
fn golden_integer_image() {
    let mut r = RollingAggregate::new(int(10)).unwrap();
    r.push(int(5), int(3));
    r.push(int(12), int(4));
    r.push(int(1), int(9)); // dropped
    let bytes = r.to_bytes();
    assert_eq!(hex(&bytes), GOLDEN_INT);
    let back = RollingAggregate::from_bytes(&bytes).unwrap();
    assert_eq!(back, r);
    assert_eq!((back.count(), int_sum(&back), back.dropped()), (2, 7, 1));
}

#[test]
fn golden_float_image() {
    let mut r = RollingAggregate::new(float(1.5)).unwrap();
    r.push(float(0.25), float(2.0));
    r.push(float(1.0), float(-0.5));
    assert_eq!(hex(&r.to_bytes()), GOLDEN_FLOAT);
    let back = RollingAggregate::from_bytes(&r.to_bytes()).unwrap();
    assert_eq!(float_sum(&back), 1.5);
    assert_eq!(back.variance(), r.variance());
}

const GOLDEN_FLOAT: &str = concat!(
    "444e0301",                                         // header
    "07",                                               // flags: float ts and values, newest
    "000000000000f83f",                                 // window 1.5
    "000000000000f03f",                                 // newest 1.0
    "0000000000000000",                                 // dropped 0
    "0200000000000000",                                 // 2 points
    "000000000000f83f00000000000000000000000000000000", // sum (1.5, 0, 0)
    "0000000000000040",                                 // shift 2.0
    "00000000000004c0",                                 // Σd = −2.5
    "0000000000001940",                                 // Σd² = 6.25
    "0200000000000000",                                 // 2 operations
    "0000000000000440",                                 // peak |Σd| = 2.5
    "0000000000001940",                                 // peak Σd² = 6.25
    "000000000000d03f0000000000000040",                 // (0.25, 2.0)
    "000000000000f03f000000000000e0bf",                 // (1.0, −0.5)
);

#[test]
fn corrupt_images_are_refused() {
    let mut r = RollingAggregate::new(int(1000)).unwrap();
    for i in 0..50 {
        r.push(int(i * 3), float(i as f64 * 0.5));
    }
    r.push(int(100), float(1.0)); // late
    let good = r.to_bytes();
    for cut in 0..good.len() {
        assert_eq!(
            RollingAggregate::from_bytes(&good[..cut]).unwrap_err().kind,
            ErrorKind::Corrupt,
            "cut {cut}"
        );
    }
    let mut extra = good.clone();
    extra.push(0);
    let mut flags = good.clone();
    flags[4] |= 0x80;
    let mut window = good.clone();
    window[5..13].copy_from_slice(&0i64.to_le_bytes());
    let mut sum = good.clone();
    sum[44] ^= 0x01; // the exponent of the float sum
    let mut order = good.clone();
    let at = good.len() - 32;
    order[at..at + 8].copy_from_slice(&i64::MAX.to_le_bytes());
    let mut count = good.clone();
    count[29..37].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut foreign = good.clone();
    foreign[2] = 1;
    for (what, bad) in [
        ("extra", extra),
        ("flags", flags),
        ("window", window),
        ("sum", sum),
        ("order", order),
        ("count", count),
        ("foreign", foreign),
    ] {
        assert_eq!(
            RollingAggregate::from_bytes(&bad).unwrap_err().kind,
            ErrorKind::Corrupt,
            "{what}"
        );
    }
    assert_eq!(RollingAggregate::from_bytes(&good).unwrap(), r);
}

#[test]
fn nan_propagates_without_panicking() {
    let mut r = RollingAggregate::new(float(10.0)).unwrap();
    r.push(float(1.0), float(f64::NAN));
    r.push(float(f64::NAN), float(1.0));
    r.push(float(2.0), float(1.0));
    r.push_many(
        Column::Float(&[f64::NAN, 3.0]),
        Column::Float(&[1.0, f64::NAN]),
    )
    .unwrap();
    assert!(r.mean().unwrap().is_nan());
    let _ = (r.min(), r.max(), r.variance(), r.to_bytes());
}

/// (ts offset from a drifting base, value); offsets below zero arrive late or too old.
fn stream() -> impl Strategy<Value = Vec<(i64, i64)>> {
    prop::collection::vec((-40i64..25, -1000i64..1000), 0..300)
}

fn timestamps(ops: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut base = 0;
    ops.iter()
        .map(|&(d, v)| {
            base += d.max(0) / 3;
            (base + d, v)
        })
        .collect()
}

proptest! {
    #[test]
    fn agrees_with_the_model(ops in stream(), window in 1i64..60) {
        let mut r = RollingAggregate::new(int(window)).unwrap();
        let mut m = Model::new(window);
        for (t, v) in timestamps(&ops) {
            r.push(int(t), int(v));
            m.push(t, v);
            assert_matches_model(&r, &m);
        }
    }

    #[test]
    fn batches_equal_single_pushes(
        ops in stream(),
        window in 1i64..60,
        cuts in prop::collection::vec(0usize..300, 0..6),
        floats in any::<bool>(),
    ) {
        let points = timestamps(&ops);
        let mut one = RollingAggregate::new(int(window)).unwrap();
        let mut many = RollingAggregate::new(int(window)).unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(points.len())).collect();
        cuts.push(0);
        cuts.push(points.len());
        cuts.sort_unstable();
        for w in cuts.windows(2) {
            let chunk = &points[w[0]..w[1]];
            let ts: Vec<i64> = chunk.iter().map(|p| p.0).collect();
            let vs: Vec<i64> = chunk.iter().map(|p| p.1).collect();
            let fs: Vec<f64> = vs.iter().map(|&v| v as f64 / 8.0).collect();
            for &(t, v) in chunk {
                if floats {
                    one.push(int(t), float(v as f64 / 8.0));
                } else {
                    one.push(int(t), int(v));
                }
            }
            let values = if floats { Column::Float(&fs) } else { Column::Int(&vs) };
            many.push_many(Column::Int(&ts), values).unwrap();
            prop_assert_eq!(one.count(), many.count());
            prop_assert_eq!(one.dropped(), many.dropped());
            prop_assert_eq!(one.newest(), many.newest());
            prop_assert_eq!(one.min(), many.min());
            prop_assert_eq!(one.max(), many.max());
            // Eighths of small integers: every float sum here is exact.
            prop_assert_eq!(one.sum(), many.sum());
        }
        let back = RollingAggregate::from_bytes(&many.to_bytes()).unwrap();
        prop_assert_eq!(&back, &many);
        prop_assert_eq!(back.to_bytes(), many.to_bytes());
    }
}

#[test]
fn batch_scans() {
    assert!(scan::is_sorted::<i64>(&[]) && scan::is_sorted(&[5i64]));
    let mut xs: Vec<i64> = (0..1000).map(|i| i / 3).collect();
    assert!(scan::is_sorted(&xs));
    xs[777] = -1;
    assert!(!scan::is_sorted(&xs));
    let mut fs: Vec<f64> = (0..1000).map(f64::from).collect();
    assert!(scan::is_sorted(&fs) && scan::all_finite(&fs));
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        fs[999] = bad;
        assert!(!scan::all_finite(&fs), "{bad}");
    }
    fs[999] = f64::NAN;
    assert!(!scan::is_sorted(&fs));
}

proptest! {
    #[test]
    fn batch_records_equal_pushes_one_by_one(
        before in prop::collection::vec(-50i64..50, 0..40),
        batch in prop::collection::vec(-50i64..50, 1..400),
        shape in 0u8..3,
    ) {
        // Random, rising (every value a max record) or falling (every value a min record).
        let batch: Vec<i64> = match shape {
            0 => batch,
            1 => (0..batch.len() as i64).collect(),
            _ => (0..batch.len() as i64).rev().collect(),
        };
        let (mut max1, mut min1) = (extrema::Mono::<i64, i64, true>::default(), extrema::Mono::<i64, i64, false>::default());
        let (mut max2, mut min2) = (max1.clone(), min1.clone());
        for (t, &v) in before.iter().enumerate() {
            for (mx, mn) in [(&mut max1, &mut min1), (&mut max2, &mut min2)] {
                mx.push(t as i64, v);
                mn.push(t as i64, v);
            }
        }
        let ts: Vec<i64> = (before.len()..before.len() + batch.len()).map(|t| t as i64).collect();
        for (&t, &v) in ts.iter().zip(&batch) {
            max1.push(t, v);
            min1.push(t, v);
        }
        extrema::push_sorted(&mut max2, &mut min2, &ts, &batch, &mut Vec::new());
        prop_assert_eq!(max1.entries(), max2.entries());
        prop_assert_eq!(min1.entries(), min2.entries());
    }
}
