//! The mergeable-state measures the rollup store reads: `count(f)`, `m2(f)`, `digest(f)`
//! and `hll(f)`, compared with the sketches fed directly and with a two-pass variance.

use super::batch::coupon;
use super::measures::{Num, Value};
use super::tests::{key, P};
use super::*;
use crate::algo::error::ErrorKind;
use crate::algo::hll::HyperLogLog;
use crate::algo::tdigest::TDigest;

fn engine(measures: &[(&str, &str)]) -> WindowEngine {
    let params = Params {
        kind: WindowKind::tumbling(1_000).unwrap(),
        group_by: vec!["k".into()],
        time_field: "ts".into(),
        max_out_of_orderness: 0,
        allowed_lateness: 0,
        idle_timeout: None,
        max_open_windows: DEFAULT_MAX_OPEN_WINDOWS,
    };
    let measures: Vec<(String, String)> = measures
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    WindowEngine::new(Config::new(params, &measures).unwrap()).unwrap()
}

/// A deterministic, scrambled stream: (ts, v, user); every 7th v is null.
fn stream(n: usize) -> Vec<(i64, Num, i64)> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = if i % 7 == 3 {
                Num::Null
            } else if i % 2 == 0 {
                Num::Int((x % 10_000) as i64 - 2_000)
            } else {
                Num::Float((x % 1_000_000) as f64 / 997.0)
            };
            // All in one window [0, 1000): the time is not what is measured.
            (i as i64 % 1_000, v, (x >> 40) as i64 % 3_000)
        })
        .collect()
}

/// Feeds `events` (numbers in column 0, users as coupons in column 0), in `chunks`
/// batches, then flushes; the values of the single window.
fn run(e: &mut WindowEngine, events: &[(i64, Num, i64)], chunk: usize) -> Vec<Value> {
    let mut out = Output::default();
    for part in events.chunks(chunk) {
        let mut b = Batch::new(1, 1);
        for &(t, v, u) in part {
            b.push(t, &key("a"), &[v], &[coupon::i64(u)]);
        }
        e.process(P, &b, None, None, None, &mut out).unwrap();
    }
    e.flush(&mut out);
    assert_eq!(out.results.len(), 1, "one window");
    out.results.pop().unwrap().values.to_vec()
}

fn finite(events: &[(i64, Num, i64)]) -> Vec<f64> {
    events
        .iter()
        .filter_map(|&(_, v, _)| match v {
            Num::Null => None,
            Num::Int(i) => Some(i as f64),
            Num::Float(f) => Some(f),
        })
        .collect()
}

fn bytes(v: &Value) -> &[u8] {
    match v {
        Value::Bytes(b) => b,
        other => panic!("not an image: {other:?}"),
    }
}

fn float(v: &Value) -> f64 {
    match v {
        Value::Float(f) => *f,
        other => panic!("not a float: {other:?}"),
    }
}

#[test]
fn digest_image_is_the_digest_fed_the_same_values_in_order() {
    let events = stream(5_000);
    let xs = finite(&events);
    for (spec, compression) in [("digest(v)", 100.0), ("digest(v, 250)", 250.0)] {
        let mut reference = TDigest::new(compression).unwrap();
        xs.iter().for_each(|&x| reference.add(x).unwrap());
        for chunk in [1, 333, 5_000] {
            let values = run(&mut engine(&[("d", spec)]), &events, chunk);
            let mut got = TDigest::from_bytes(bytes(&values[0])).unwrap();
            assert_eq!(got.compression(), compression);
            // Stronger than equal quantiles: the same image.
            assert_eq!(
                got.to_bytes(),
                reference.to_bytes(),
                "{spec}, chunk {chunk}"
            );
            for q in [0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
                assert_eq!(got.quantile(q).unwrap(), reference.quantile(q).unwrap());
            }
        }
    }
}

#[test]
fn hll_image_is_the_sketch_fed_the_same_values() {
    for n in [0, 5, 200, 5_000] {
        let events = stream(n.max(1))[..n].to_vec();
        for (spec, p) in [("hll(u)", 12), ("hll(u, 14)", 14)] {
            let mut reference = HyperLogLog::new(p).unwrap();
            events.iter().for_each(|&(_, _, u)| reference.add_i64(u));
            let mut e = engine(&[("n", "count"), ("h", spec)]);
            if n == 0 {
                // No events, no window: an empty window cannot be emitted.
                let mut out = Output::default();
                e.flush(&mut out);
                assert!(out.results.is_empty());
                continue;
            }
            let values = run(&mut e, &events, 97);
            assert_eq!(
                bytes(&values[1]),
                reference.to_bytes().as_slice(),
                "{spec} n={n}"
            );
        }
    }
}

#[test]
fn m2_is_the_sum_of_squared_deviations() {
    let events = stream(4_000);
    let xs = finite(&events);
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let want: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
    for chunk in [1, 1_000] {
        let values = run(
            &mut engine(&[("m2", "m2(v)"), ("c", "count(v)"), ("n", "n(v)")]),
            &events,
            chunk,
        );
        let got = float(&values[0]);
        assert!(((got - want) / want).abs() < 1e-9, "{got} vs {want}");
        assert_eq!(values[1], Value::Int(xs.len() as i128));
        assert_eq!(values[2], values[1], "n(f) is count(f)");
    }
    // One value: no deviation; no value: null.
    let one = run(&mut engine(&[("m2", "m2(v)")]), &[(0, Num::Int(5), 0)], 1);
    assert_eq!(one[0], Value::Float(0.0));
    let none = run(
        &mut engine(&[("m2", "m2(v)"), ("c", "count(v)"), ("d", "digest(v)")]),
        &[(0, Num::Null, 0)],
        1,
    );
    assert_eq!(none, [Value::Null, Value::Int(0), Value::Null]);
}

#[test]
fn count_of_a_field_read_only_as_items_counts_present_items() {
    // `u` is read as distinct items only: count(u) counts the events carrying one.
    let params = engine(&[("n", "count")]).config().params();
    let c = Config::new(
        params,
        &[
            ("n".into(), "count(u)".into()),
            ("h".into(), "hll(u)".into()),
        ],
    )
    .unwrap();
    assert!(c.measures[0].coupons);
    assert!(c.numeric_fields.is_empty());
    let mut e = WindowEngine::new(c).unwrap();
    let mut b = Batch::new(0, 1);
    for (i, c) in [coupon::str("x"), 0, coupon::i64(3), 0, coupon::str("x")]
        .into_iter()
        .enumerate()
    {
        b.push(i as i64, &key("a"), &[], &[c]);
    }
    let mut out = Output::default();
    e.process(P, &b, None, None, None, &mut out).unwrap();
    e.flush(&mut out);
    assert_eq!(out.results[0].values[0], Value::Int(3));
}

#[test]
fn image_measures_share_state_with_their_older_kinds() {
    let e = engine(&[
        ("p50", "p50(v)"),
        ("d", "digest(v, 200)"),
        ("d100", "digest(v)"),
        ("u", "distinct(u)"),
        ("h", "hll(u)"),
        ("sd", "stddev(v)"),
        ("m2", "m2(v)"),
        ("h2", "hll(u, 11)"),
    ]);
    let owners: Vec<Option<usize>> = e.config().measures.iter().map(|m| m.owner).collect();
    assert_eq!(
        owners,
        [None, Some(0), None, None, Some(3), None, Some(5), None]
    );
    let mut shared = e;
    let events = stream(3_000);
    let a = run(&mut shared, &events, 500);
    // The same measures, each on its own state.
    let alone = |spec: &str| run(&mut engine(&[("x", spec)]), &events, 500).remove(0);
    assert_eq!(a[1], alone("digest(v, 200)"));
    assert_eq!(a[2], alone("digest(v)"));
    assert_eq!(a[4], alone("hll(u)"));
    assert_eq!(a[6], alone("m2(v)"));
    assert_eq!(a[7], alone("hll(u, 11)"));
    assert_eq!(a[0], alone("p50(v)"));
    let sd = float(&a[5]);
    let n = finite(&events).len() as f64;
    assert!((sd * sd * (n - 1.0) / float(&a[6]) - 1.0).abs() < 1e-12);
    // The other way round: an older kind reads the image measure's state.
    let flipped = engine(&[
        ("h", "hll(u)"),
        ("u", "distinct(u)"),
        ("m2", "m2(v)"),
        ("sd", "stddev(v)"),
    ]);
    let owners: Vec<Option<usize>> = flipped.config().measures.iter().map(|m| m.owner).collect();
    assert_eq!(owners, [None, Some(0), None, Some(2)]);
    // Older kinds alone share as they always did: two distinct(u) keep two sketches.
    let old = engine(&[("u", "distinct(u)"), ("u2", "distinct(u)")]);
    assert!(old.config().measures.iter().all(|m| m.owner.is_none()));
}

#[test]
fn snapshots_carry_image_measures_and_emitted_images() {
    let measures = [
        ("n", "count"),
        ("c", "count(v)"),
        ("m2", "m2(v)"),
        ("d", "digest(v)"),
        ("h", "hll(u)"),
    ];
    let events = stream(3_000);
    let whole = run(&mut engine(&measures), &events, 3_000);
    for cut in [1, 799, 800, 1_601, 2_999] {
        let mut e = engine(&measures);
        let mut out = Output::default();
        let mut b = Batch::new(1, 1);
        for &(t, v, u) in &events[..cut] {
            b.push(t, &key("a"), &[v], &[coupon::i64(u)]);
        }
        e.process(P, &b, None, None, None, &mut out).unwrap();
        let mut back = WindowEngine::from_bytes(&e.to_bytes()).unwrap();
        assert_eq!(back.to_bytes(), e.to_bytes());
        let rest = run(&mut back, &events[cut..], 1_000);
        assert_eq!(rest, whole, "cut at {cut}");
    }
    // An emitted window keeps its image as the last emission, and restores it.
    let mut e = engine(&[("d", "digest(v)"), ("h", "hll(u)")]);
    let mut out = Output::default();
    let mut b = Batch::new(1, 1);
    b.push(5, &key("a"), &[Num::Float(1.5)], &[coupon::i64(1)]);
    b.push(1_500, &key("a"), &[Num::Float(2.5)], &[coupon::i64(2)]);
    e.process(P, &b, None, None, None, &mut out).unwrap();
    assert_eq!(out.results.len(), 1);
    let back = WindowEngine::from_bytes(&e.to_bytes()).unwrap();
    assert_eq!(back.to_bytes(), e.to_bytes());
}

#[test]
fn nan_stays_out_of_the_digest_image() {
    let events = [
        (0, Num::Float(1.0), 0),
        (1, Num::Float(f64::NAN), 0),
        (2, Num::Float(3.0), 0),
    ];
    let values = run(
        &mut engine(&[("d", "digest(v)"), ("p", "p50(v)")]),
        &events,
        3,
    );
    let mut reference = TDigest::new(100.0).unwrap();
    reference.add_many(&[1.0, 3.0]).unwrap();
    assert_eq!(bytes(&values[0]), reference.to_bytes().as_slice());
    assert!(float(&values[1]).is_nan(), "DEC-8: the percentile is NaN");
}

#[test]
fn bad_image_measures_are_refused_with_what_is_allowed() {
    let params = engine(&[("n", "count")]).config().params();
    for spec in [
        "digest(v, 5)",
        "digest(v, x)",
        "digest(, 100)",
        "hll(u, 3)",
        "hll(u, 19)",
        "hll(u, 12.5)",
        "m2()",
        "count(v",
    ] {
        let err = Config::new(params.clone(), &[("m".into(), spec.into())]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument, "{spec}");
        assert!(err.to_string().contains("digest(f, compression)"), "{err}");
    }
}
