//! Scenario tests: the REQUIREMENTS examples and every bullet of the semantics. Laws
//! over random streams are in `tests_props.rs`; the image format in `tests_format.rs`;
//! purging and idle series in `tests_state.rs`.

use super::accs::cmp_int_float;
use super::batch::{decode_key, push_key_part, KeyPart};
use super::measures::{Num, Value};
use super::route::Router;
use super::*;
use crate::algo::error::ErrorKind;
use crate::algo::watermark::PartitionRef;

pub const P: PartitionRef<'static> = PartitionRef::Str("p");

/// Measures of the test engines: n = count, s = sum(v), lo = min(v), hi = max(v),
/// u = distinct(u), p50 and p90 of v.
pub fn config(kind: WindowKind, ooo: i64, lateness: i64) -> Config {
    config_with(kind, ooo, lateness, None, DEFAULT_MAX_OPEN_WINDOWS)
}

pub fn config_with(
    kind: WindowKind,
    ooo: i64,
    lateness: i64,
    idle: Option<i64>,
    max_open_windows: usize,
) -> Config {
    let params = Params {
        kind,
        group_by: vec!["k".into()],
        time_field: "ts".into(),
        max_out_of_orderness: ooo,
        allowed_lateness: lateness,
        idle_timeout: idle,
        max_open_windows,
    };
    let measures = [
        ("n", "count"),
        ("s", "sum(v)"),
        ("lo", "min(v)"),
        ("hi", "max(v)"),
        ("u", "distinct(u)"),
        ("p50", "p50(v)"),
        ("p90", "p90(v)"),
    ];
    let measures: Vec<(String, String)> = measures
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    Config::new(params, &measures).unwrap()
}

pub fn key(k: &str) -> Vec<u8> {
    let mut out = Vec::new();
    push_key_part(&mut out, KeyPart::Str(k));
    out
}

/// Events `(ts, key, v)`; the distinct item is `v` too.
pub fn batch(events: &[(i64, &str, i64)]) -> Batch {
    let mut b = Batch::new(1, 1);
    for &(t, k, v) in events {
        b.push(t, &key(k), &[Num::Int(v)], &[batch::coupon::i64(v)]);
    }
    b
}

pub fn run(e: &mut WindowEngine, events: &[(i64, &str, i64)]) -> Output {
    let mut out = Output::default();
    e.process(P, &batch(events), None, None, None, &mut out)
        .unwrap();
    out
}

pub fn tumbling(size: i64, ooo: i64, lateness: i64) -> WindowEngine {
    WindowEngine::new(config(WindowKind::tumbling(size).unwrap(), ooo, lateness)).unwrap()
}

fn session(gap: i64, lateness: i64) -> WindowEngine {
    WindowEngine::new(config(WindowKind::session(gap).unwrap(), 0, lateness)).unwrap()
}

/// `(key, start, end, revision, count, sum, retracted)` of each result.
type Brief = (String, i64, i64, u32, Option<i128>, Option<i128>, bool);

pub fn brief(out: &Output) -> Vec<Brief> {
    out.results
        .iter()
        .map(|r| {
            let k = match decode_key(&r.key).unwrap()[0] {
                KeyPart::Str(s) => s.to_string(),
                other => format!("{other:?}"),
            };
            let int = |v: Option<&Value>| match v {
                Some(Value::Int(i)) => Some(*i),
                _ => None,
            };
            let (n, s) = (int(r.values.first()), int(r.values.get(1)));
            (k, r.start, r.end, r.revision, n, s, r.retracted)
        })
        .collect()
}

fn b(k: &str, start: i64, end: i64, rev: u32, n: i128, s: i128) -> Brief {
    (k.to_string(), start, end, rev, Some(n), Some(s), false)
}

#[test]
fn stream_8_emits_each_completed_window_once_in_end_order() {
    let mut e = tumbling(10_000, 0, 0);
    assert!(
        brief(&run(
            &mut e,
            &[(5_000, "a", 1), (15_000, "a", 2), (25_000, "a", 3)]
        ))
        .len()
            == 2
    );
    assert_eq!(
        brief(&run(&mut e, &[(30_000, "b", 4)])),
        [b("a", 20_000, 30_000, 0, 1, 3)],
        "watermark 30000 emits [20000, 30000) only"
    );
    let mut e = tumbling(10_000, 0, 0);
    let first = run(
        &mut e,
        &[(5_000, "a", 1), (15_000, "b", 2), (25_000, "c", 3)],
    );
    assert_eq!(
        brief(&first),
        [b("a", 0, 10_000, 0, 1, 1), b("b", 10_000, 20_000, 0, 1, 2)]
    );
    let jump = run(&mut e, &[(95_000, "a", 9)]);
    assert_eq!(brief(&jump), [b("c", 20_000, 30_000, 0, 1, 3)]);
    assert!(run(&mut e, &[(99_000, "a", 1)]).results.is_empty());
    assert_eq!(e.watermark(), Some(99_000));
}

#[test]
fn stream_9_lateness_is_measured_from_the_window_end() {
    let mut e = tumbling(10_000, 0, 5_000);
    run(&mut e, &[(1_000, "a", 1), (14_999, "a", 1)]);
    let out = run(&mut e, &[(3_000, "a", 5)]);
    assert_eq!(brief(&out), [b("a", 0, 10_000, 1, 2, 6)]);
    assert!(out.late.is_empty());
    run(&mut e, &[(15_000, "a", 1)]);
    let out = run(&mut e, &[(3_000, "a", 7)]);
    assert!(out.results.is_empty());
    assert_eq!(out.late, [0]);
    assert_eq!((e.stats().late, e.stats().events), (1, 4));
}

#[test]
fn nothing_is_late_before_the_first_event() {
    let mut e = tumbling(10_000, 0, 0);
    let out = run(&mut e, &[(-5_000_000, "a", 1)]);
    assert!(out.late.is_empty() && out.results.is_empty());
}

#[test]
fn stream_10_a_late_event_re_emits_with_the_previous_values() {
    let mut e = tumbling(10_000, 0, 5_000);
    let out = run(&mut e, &[(1_000, "a", 40), (10_000, "b", 0)]);
    assert_eq!(brief(&out), [b("a", 0, 10_000, 0, 1, 40)]);
    let out = run(&mut e, &[(2_000, "a", 2)]);
    let r = &out.results[0];
    assert_eq!(
        (r.revision, r.values[1].clone(), r.retracted),
        (1, Value::Int(42), false)
    );
    assert_eq!(r.previous.as_ref().unwrap()[1], Value::Int(40));
    assert_eq!(e.stats().amended, 1);
}

#[test]
fn stream_4_sliding_windows_and_partial_lateness() {
    let kind = WindowKind::sliding(10_000, 5_000).unwrap();
    let mut e = WindowEngine::new(config(kind, 0, 0)).unwrap();
    let out = run(&mut e, &[(12_000, "a", 1), (20_000, "a", 2)]);
    assert_eq!(
        brief(&out),
        [
            b("a", 5_000, 15_000, 0, 1, 1),
            b("a", 10_000, 20_000, 0, 1, 1)
        ]
    );
    // 16000 belongs to [10000, 20000) (past lateness) and [15000, 25000) (open).
    let out = run(&mut e, &[(16_000, "a", 4)]);
    assert!(out.results.is_empty() && out.late.is_empty());
    assert_eq!(e.stats().late_windows, 1);
    let out = run(&mut e, &[(30_000, "a", 0)]);
    assert_eq!(
        brief(&out),
        [
            b("a", 15_000, 25_000, 0, 2, 6),
            b("a", 20_000, 30_000, 0, 1, 2)
        ]
    );
    for bad in [(10, 11), (10, 0), (0, 0), (10, -1)] {
        assert!(WindowKind::sliding(bad.0, bad.1).is_err(), "{bad:?}");
    }
}

#[test]
fn stream_5_sessions_join_inclusively_and_merge_when_bridged() {
    let mut e = session(10_000, 0);
    run(&mut e, &[(0, "a", 1), (6_000, "a", 1), (16_000, "a", 1)]);
    let out = run(&mut e, &[(100_000, "z", 0)]);
    assert_eq!(brief(&out), [b("a", 0, 26_000, 0, 3, 3)]);

    let mut e = session(10_000, 0);
    let mut out = run(&mut e, &[(0, "a", 1), (10_001, "a", 1)]);
    out.results
        .extend(run(&mut e, &[(100_000, "z", 0)]).results);
    assert_eq!(
        brief(&out),
        [b("a", 0, 10_000, 0, 1, 1), b("a", 10_001, 20_001, 0, 1, 1)]
    );

    let mut e = session(10_000, 0);
    run(&mut e, &[(0, "a", 1), (10_000, "a", 2)]);
    let out = run(&mut e, &[(100_000, "z", 0)]);
    assert_eq!(
        brief(&out)[0],
        b("a", 0, 20_000, 0, 2, 3),
        "a gap of exactly 10 s joins"
    );
}

#[test]
fn a_bridging_event_merges_sessions_and_retracts_the_absorbed_one() {
    let mut e = session(10_000, 60_000);
    run(&mut e, &[(0, "a", 1), (15_000, "a", 2), (40_000, "z", 0)]);
    // Both emitted: [0, 10000) and [15000, 25000); 8000 touches both.
    assert_eq!(e.stats().emitted, 2);
    let out = run(&mut e, &[(8_000, "a", 4)]);
    let got = brief(&out);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0],
        ("a".into(), 15_000, 25_000, 1, None, None, true),
        "the absorbed session is retracted"
    );
    assert_eq!(out.results[0].previous.as_ref().unwrap()[1], Value::Int(2));
    assert_eq!(
        got[1],
        b("a", 0, 25_000, 1, 3, 7),
        "the survivor is amended"
    );
    assert_eq!(e.stats().retracted, 1);
    assert_eq!(e.window_count(), 2, "the merged session and z's");
}

#[test]
fn a_session_that_moves_its_start_retracts_the_old_one() {
    let mut e = session(10_000, 60_000);
    let out = run(&mut e, &[(20_000, "a", 1), (31_000, "z", 0)]);
    assert_eq!(brief(&out), [b("a", 20_000, 30_000, 0, 1, 1)]);
    // 12000 reaches the session start (20000 − 12000 ≤ gap).
    let out = run(&mut e, &[(12_000, "a", 5)]);
    let got = brief(&out);
    assert_eq!(got[0], ("a".into(), 20_000, 30_000, 1, None, None, true));
    assert_eq!(
        got[1],
        b("a", 12_000, 30_000, 0, 2, 6),
        "a new identity starts at 0"
    );
}

#[test]
fn session_lateness_is_judged_on_the_events_own_window() {
    let mut e = session(10_000, 5_000);
    run(&mut e, &[(0, "a", 1), (9_000, "a", 1), (30_000, "z", 0)]);
    // 15001 + 10000 + 5000 > 30000: accepted, and joins (15001 ≤ 9000 + gap).
    let out = run(&mut e, &[(15_001, "a", 1)]);
    assert_eq!(brief(&out), [b("a", 0, 25_001, 1, 3, 3)]);
    let out = run(&mut e, &[(15_000, "a", 1)]);
    assert_eq!(
        out.late,
        [0],
        "15000 + 10000 + 5000 ≤ 30000, though its session is held"
    );
}

#[test]
fn stream_12_the_oldest_open_windows_are_emitted_early() {
    let kind = WindowKind::tumbling(10_000).unwrap();
    let mut e = WindowEngine::new(config_with(kind, 0, 0, None, 2)).unwrap();
    let out = run(&mut e, &[(1_000, "a", 1), (1_000, "b", 1), (1_000, "c", 1)]);
    assert_eq!(brief(&out).len(), 1, "the third open window pushes one out");
    assert_eq!((e.open_windows(), e.stats().early), (2, 1));
    let early = brief(&out)[0].0.clone();
    // Later events amend the early window once the watermark passes its end.
    let out = run(&mut e, &[(2_000, &early, 5), (10_000, "d", 0)]);
    let got = brief(&out);
    assert_eq!(got.len(), 3);
    assert!(got.contains(&b(&early, 0, 10_000, 1, 2, 6)));
}

#[test]
fn flush_emits_every_waiting_window_in_end_order() {
    let kind = WindowKind::sliding(10_000, 5_000).unwrap();
    let mut e = WindowEngine::new(config(kind, 0, 0)).unwrap();
    run(&mut e, &[(12_000, "a", 1)]);
    let mut out = Output::default();
    e.flush(&mut out);
    assert_eq!(
        brief(&out),
        [
            b("a", 5_000, 15_000, 0, 1, 1),
            b("a", 10_000, 20_000, 0, 1, 1)
        ]
    );
    let mut again = Output::default();
    e.flush(&mut again);
    assert!(again.results.is_empty(), "each window once");
}

#[test]
fn partitions_hold_the_watermark_at_their_minimum() {
    let mut e = tumbling(10_000, 0, 0);
    let mut out = Output::default();
    let (p1, p2) = (PartitionRef::Str("p1"), PartitionRef::Str("p2"));
    e.expect_partitions(&[p1, p2]).unwrap();
    e.process(
        p1,
        &batch(&[(8_000, "a", 1), (4_000, "a", 1), (25_000, "a", 1)]),
        None,
        None,
        None,
        &mut out,
    )
    .unwrap();
    assert_eq!(e.watermark(), None, "p2 has not spoken");
    assert!(out.results.is_empty());
    e.process(p2, &batch(&[(12_000, "b", 1)]), None, None, None, &mut out)
        .unwrap();
    assert_eq!(e.watermark(), Some(12_000));
    assert_eq!(brief(&out), [b("a", 0, 10_000, 0, 2, 2)]);
}

#[test]
fn an_idle_partition_stops_holding_the_watermark() {
    let kind = WindowKind::tumbling(10_000).unwrap();
    let mut e = WindowEngine::new(config_with(kind, 0, 0, Some(30_000), 10)).unwrap();
    let (p1, p2) = (PartitionRef::Int(1), PartitionRef::Int(2));
    let mut out = Output::default();
    e.process(
        p1,
        &batch(&[(1_000, "a", 1)]),
        None,
        None,
        Some(0),
        &mut out,
    )
    .unwrap();
    e.process(
        p2,
        &batch(&[(50_000, "b", 1)]),
        None,
        None,
        Some(10_000),
        &mut out,
    )
    .unwrap();
    assert_eq!(e.watermark(), Some(1_000));
    e.tick(30_000, &mut out).unwrap();
    assert!(out.results.is_empty(), "p1 silent for 30 s is not yet idle");
    e.tick(30_001, &mut out).unwrap();
    assert_eq!(e.watermark(), Some(50_000));
    assert_eq!(brief(&out), [b("a", 0, 10_000, 0, 1, 1)]);
}

#[test]
fn routed_sub_batches_follow_the_whole_partition() {
    // One engine sees everything; two engines see the keys split, with max_before.
    let events = [
        (1_000, "a", 1),
        (12_000, "b", 2),
        (3_000, "a", 3),
        (25_000, "b", 4),
        (9_000, "a", 5),
    ];
    let mut whole = tumbling(10_000, 0, 5_000);
    let want = brief(&run(&mut whole, &events));
    let mut got = Vec::new();
    for k in ["a", "b"] {
        let mut e = tumbling(10_000, 0, 5_000);
        let (mut max, mut mine, mut before) = (i64::MIN, Vec::new(), Vec::new());
        for &(t, key, v) in &events {
            if key == k {
                mine.push((t, key, v));
                before.push(max);
            }
            max = max.max(t);
        }
        let mut out = Output::default();
        e.process(P, &batch(&mine), Some(&before), Some(max), None, &mut out)
            .unwrap();
        got.extend(brief(&out));
    }
    let mut want = want;
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert!(want.contains(&b("a", 0, 10_000, 1, 2, 4)), "{want:?}");
}

fn value(e: &mut WindowEngine, events: &[(i64, Num)], measure: usize) -> Value {
    let mut bt = Batch::new(1, 1);
    for &(t, v) in events {
        bt.push(t, &key("a"), &[v], &[0]);
    }
    let mut out = Output::default();
    e.process(P, &bt, None, None, None, &mut out).unwrap();
    e.flush(&mut out);
    out.results.last().unwrap().values[measure].clone()
}

fn measure_engine(spec: &str) -> WindowEngine {
    let params = config(WindowKind::tumbling(1 << 40).unwrap(), 0, 0).params();
    let c = Config::new(params, &[("m".into(), spec.into())]).unwrap();
    WindowEngine::new(c).unwrap()
}

#[test]
fn sketch_6_sums_are_exact_or_compensated_and_variance_merges() {
    use Num::{Float as F, Int as I};
    let big = value(
        &mut measure_engine("sum(v)"),
        &[(0, I(i64::MAX)), (1, I(10))],
        0,
    );
    assert_eq!(big, Value::Int(9_223_372_036_854_775_817));
    let tenths: Vec<(i64, Num)> = (0..10).map(|t| (t, F(0.1))).collect();
    let Value::Float(s) = value(&mut measure_engine("sum(v)"), &tenths, 0) else {
        panic!()
    };
    assert!((s - 1.0).abs() <= 1e-12, "{s}");
    let exact = value(&mut measure_engine("sum(v)"), &[(0, F(2e15)), (1, I(3))], 0);
    assert_eq!(exact, Value::Float(2e15 + 3.0));
    let xs = [1e9 + 4.0, 1e9 + 7.0, 1e9 + 13.0, 1e9 + 16.0];
    let events: Vec<(i64, Num)> = xs
        .iter()
        .enumerate()
        .map(|(t, &x)| (t as i64, F(x)))
        .collect();
    let Value::Float(sd) = value(&mut measure_engine("stddev(v)"), &events, 0) else {
        panic!()
    };
    assert!((sd * sd - 30.0).abs() <= 1e-6, "{sd}");
    let mean = value(
        &mut measure_engine("mean(v)"),
        &[(0, I(1)), (1, I(2)), (2, I(3)), (3, I(10))],
        0,
    );
    assert_eq!(mean, Value::Float(4.0), "SKETCH-13");
    assert_eq!(
        value(&mut measure_engine("stddev(v)"), &[(0, I(5))], 0),
        Value::Null
    );
    assert_eq!(
        value(&mut measure_engine("sum(v)"), &[(0, Num::Null)], 0),
        Value::Null
    );
    assert_eq!(
        value(&mut measure_engine("count"), &[(0, Num::Null)], 0),
        Value::Int(1)
    );
}

#[test]
fn sketch_8_rate_has_counter_semantics() {
    use Num::Int as I;
    let rate = |ev: &[(i64, Num)]| value(&mut measure_engine("rate(v)"), ev, 0);
    assert_eq!(
        rate(&[(10_000, I(50)), (13_000, I(80))]),
        Value::Float(10.0)
    );
    assert_eq!(
        rate(&[(13_000, I(80)), (10_000, I(50))]),
        Value::Float(10.0),
        "any order"
    );
    assert_eq!(rate(&[(10_000, I(50))]), Value::Float(0.0), "first sample");
    assert_eq!(
        rate(&[(10_000, I(50)), (10_000, I(90))]),
        Value::Float(0.0),
        "no time elapsed"
    );
    assert_eq!(
        rate(&[(10_000, I(50)), (12_000, I(20))]),
        Value::Float(10.0),
        "a reset"
    );
    assert_eq!(rate(&[(0, Num::Null)]), Value::Null);
}

#[test]
fn min_and_max_compare_ints_and_floats_exactly() {
    use Num::{Float as F, Int as I};
    let min = |ev: &[(i64, Num)]| value(&mut measure_engine("min(v)"), ev, 0);
    let max = |ev: &[(i64, Num)]| value(&mut measure_engine("max(v)"), ev, 0);
    assert_eq!(min(&[(0, I(3)), (1, F(2.5))]), Value::Float(2.5));
    assert_eq!(
        min(&[(0, F(3.0)), (1, I(3))]),
        Value::Int(3),
        "ties prefer the int"
    );
    assert_eq!(
        max(&[(0, I(i64::MAX)), (1, F(9.223372036854775e18))]),
        Value::Int(i128::from(i64::MAX))
    );
    assert!(
        matches!(min(&[(0, I(1)), (1, F(f64::NAN))]), Value::Float(f) if f.is_nan()),
        "DEC-8"
    );
    use std::cmp::Ordering::*;
    assert_eq!(cmp_int_float(i64::MAX, 2f64.powi(63)), Less);
    // The largest double below 2^63 is 9223372036854774784 < i64::MAX.
    assert_eq!(cmp_int_float(i64::MAX, 2f64.powi(63).next_down()), Greater);
    assert_eq!(cmp_int_float(i64::MIN, -(2f64.powi(63))), Equal);
    assert_eq!(cmp_int_float(-3, -2.5), Less);
    assert_eq!(cmp_int_float(-2, -2.5), Greater);
    assert_eq!(cmp_int_float(7, 7.0), Equal);
}

#[test]
fn measure_specs_are_validated_with_messages_naming_them() {
    let params = config(WindowKind::tumbling(10).unwrap(), 0, 0).params();
    let cases = [
        ("median(x)", "unknown measure function 'median'"),
        ("p101(latency)", "between p0 and p100"),
        ("p9x(latency)", "unknown measure function"),
        ("p(latency)", "unknown measure function"),
        ("sum", "unknown measure"),
        ("sum(x", "closing parenthesis"),
        ("sum()", "one field name"),
        ("sum(a(b))", "one field name"),
    ];
    for (spec, why) in cases {
        let err = Config::new(params.clone(), &[("bad_one".into(), spec.into())]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert!(
            err.message.contains("bad_one") && err.message.contains(why),
            "{}",
            err.message
        );
    }
    let dup = [("a".into(), "count".into()), ("a".into(), "sum(x)".into())];
    assert!(Config::new(params.clone(), &dup)
        .unwrap_err()
        .message
        .contains("twice"));
    assert!(Config::new(params.clone(), &[]).is_err());
    let mut p = params.clone();
    p.allowed_lateness = -1;
    assert!(Config::new(p, &[("n".into(), "count".into())]).is_err());
    let ok = Config::new(
        params,
        &[
            ("x".into(), " sum( v ) ".into()),
            ("d".into(), "distinct(v)".into()),
        ],
    )
    .unwrap();
    assert_eq!(
        (ok.numeric_fields.clone(), ok.distinct_fields.clone()),
        (vec!["v".to_string()], vec!["v".to_string()])
    );
}

#[test]
fn sketch_4_percentiles_are_nearest_rank_and_share_a_digest() {
    let params = config(WindowKind::tumbling(1 << 40).unwrap(), 0, 0).params();
    let specs = [
        ("p90", "p90(v)"),
        ("p50", "p50(v)"),
        ("top", "p100(v)"),
        ("w", "p99.9(w)"),
    ];
    let specs: Vec<(String, String)> = specs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let c = Config::new(params, &specs).unwrap();
    let owners: Vec<Option<usize>> = c.measures.iter().map(|m| m.owner).collect();
    assert_eq!(
        owners,
        [None, Some(0), Some(0), None],
        "one digest per field"
    );
    let mut e = WindowEngine::new(c).unwrap();
    let mut bt = Batch::new(2, 0);
    for v in (1..=20).rev() {
        bt.push(v, &key("a"), &[Num::Int(v), Num::Null], &[]);
    }
    let mut out = Output::default();
    e.process(P, &bt, None, None, None, &mut out).unwrap();
    e.flush(&mut out);
    let values = &out.results[0].values;
    assert_eq!(
        values[..3],
        [Value::Float(18.0), Value::Float(10.0), Value::Float(20.0)]
    );
    assert_eq!(values[3], Value::Null, "no values of w");
    let back = WindowEngine::from_bytes(&e.to_bytes()).unwrap();
    assert_eq!(back.to_bytes(), e.to_bytes());
    let nan = value(
        &mut measure_engine("p50(v)"),
        &[(0, Num::Int(1)), (1, Num::Float(f64::INFINITY))],
        0,
    );
    assert!(matches!(nan, Value::Float(f) if f.is_nan()), "DEC-8");
}

#[test]
fn markers_reach_shards_without_events_exactly_at_window_ends() {
    let c = config(WindowKind::tumbling(10_000).unwrap(), 0, 5_000);
    let mut router = Router::new(&c, 2).unwrap();
    // Two keys of different shards.
    let (a, b) = (0..100)
        .map(|i| format!("k{i}"))
        .flat_map(|x| (0..100).map(move |j| (x.clone(), format!("k{j}"))))
        .find(|(x, y)| batch::shard_of(&key(x), 2) == 0 && batch::shard_of(&key(y), 2) == 1)
        .unwrap();
    let mut engines = [
        WindowEngine::new(c.clone()).unwrap(),
        WindowEngine::new(c).unwrap(),
    ];
    let mut emitted = Vec::new();
    for (events, shards) in [
        (vec![(1_000, a.as_str(), 1), (1_000, b.as_str(), 1)], 2),
        (vec![(4_999, a.as_str(), 1)], 1),
        (vec![(10_000, a.as_str(), 1)], 2),
        (vec![(10_001, a.as_str(), 1)], 1),
        (vec![(15_000, a.as_str(), 1)], 1),
        (vec![(15_001, a.as_str(), 1)], 2), // past end + lateness: b's state can go
    ] {
        let parts = router.split(P, &[], &batch(&events), None);
        assert_eq!(parts.len(), shards, "{events:?}");
        for (shard, part) in parts {
            let mut out = Output::default();
            engines[shard as usize]
                .process_routed(&part, None, &mut out)
                .unwrap();
            emitted.extend(brief(&out));
        }
    }
    assert_eq!(
        emitted.len(),
        2,
        "both windows at watermark 10000: {emitted:?}"
    );
    assert_eq!(engines[1].window_count(), 0, "purged on the marker");
    // Sessions end anywhere: every batch reaches every shard.
    let c = config(WindowKind::session(5_000).unwrap(), 0, 0);
    let mut router = Router::new(&c, 4).unwrap();
    assert_eq!(router.split(P, &[], &batch(&[(1, "x", 1)]), None).len(), 4);
    assert_eq!(router.split(P, &[], &batch(&[(2, "x", 1)]), None).len(), 4);
    assert!(
        router.split(P, &[], &Batch::new(1, 1), None).is_empty(),
        "nothing to tell"
    );
    assert!(Router::new(&config(WindowKind::tumbling(1).unwrap(), 0, 0), 0).is_err());
}

#[test]
fn marks_say_which_results_each_event_is_part_of() {
    let mut e = tumbling(10_000, 0, 5_000);
    // The window [0, 10 s) emits after the second event, is amended by the third (at
    // once: its end is behind the watermark), and the fourth changes nothing emitted.
    let out = run(
        &mut e,
        &[
            (1_000, "a", 1),
            (10_000, "a", 1),
            (3_000, "a", 5),
            (11_000, "b", 1),
        ],
    );
    assert_eq!(
        brief(&out),
        [b("a", 0, 10_000, 0, 1, 1), b("a", 0, 10_000, 1, 2, 6)]
    );
    assert_eq!(out.marks, [0, 0, 1, 2]);
}
