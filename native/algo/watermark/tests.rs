use super::*;
use crate::algo::error::ErrorKind;
use proptest::prelude::*;

use PartitionRef::{Int as P, Str as S};
use Time::{Float as F, Int as I};

fn tracker(ooo: i64, idle: Option<i64>) -> WatermarkTracker {
    WatermarkTracker::new(I(ooo), idle.map(I)).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn arguments_are_checked() {
    let bad = [
        (I(-1), None),
        (F(-0.5), None),
        (F(f64::NAN), None),
        (F(f64::INFINITY), None),
        (I(MAX_EXACT_INT + 1), None),
        (I(0), Some(I(-1))),
        (I(0), Some(F(f64::NAN))),
        (I(0), Some(F(f64::NEG_INFINITY))),
    ];
    for (ooo, idle) in bad {
        let err = WatermarkTracker::new(ooo, idle).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument, "{ooo:?} {idle:?}");
    }
    let mut t = tracker(0, Some(10));
    for (ts, now) in [
        (F(f64::NAN), None),
        (F(f64::INFINITY), None),
        (I(i64::MIN), None),
        (I(-MAX_EXACT_INT - 1), None),
        (I(1), Some(F(f64::NAN))),
        (I(1), Some(I(i64::MAX))),
    ] {
        assert_eq!(
            t.observe(S("p"), ts, now).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }
    assert_eq!(
        t.tick(F(f64::NAN)).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        t.is_late(I(1), I(-1)).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        t.is_late(F(f64::NAN), I(0)).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    // Nothing above changed the tracker.
    assert_eq!(t, tracker(0, Some(10)));
    // The exact limits are accepted.
    t.observe(P(1), I(MAX_EXACT_INT), None).unwrap();
    t.observe(P(2), I(-MAX_EXACT_INT), None).unwrap();
    assert_eq!(t.watermark(), Some(-MAX_EXACT_INT as f64));
}

#[test]
fn stream_7_example() {
    let mut t = tracker(0, None);
    assert_eq!(t.watermark(), None);
    assert_eq!(t.partition_watermark(S("p1")), None);
    assert_eq!(t.observe(S("p1"), I(8000), None).unwrap(), 8000.0);
    assert_eq!(t.observe(S("p1"), I(4000), None).unwrap(), 8000.0);
    assert_eq!(t.partition_watermark(S("p1")), Some(8000.0));
    assert_eq!(t.observe(S("p2"), I(6000), None).unwrap(), 6000.0);
    assert_eq!(t.watermark(), Some(6000.0));
    assert_eq!(t.partition_watermark(S("p2")), Some(6000.0));
    assert_eq!(
        t.holdback(),
        Some((&PartitionKey::Str("p2".into()), 2000.0))
    );
}

#[test]
fn out_of_orderness_and_lateness() {
    let mut t = tracker(1000, None);
    assert!(
        !t.is_late(I(i64::from(i32::MIN)), I(0)).unwrap(),
        "nothing is late yet"
    );
    assert_eq!(t.observe(P(0), I(10_000), None).unwrap(), 9000.0);
    assert!(t.is_late(I(8999), I(0)).unwrap());
    assert!(!t.is_late(I(9000), I(0)).unwrap());
    assert!(t.is_late(I(8499), I(500)).unwrap());
    assert!(!t.is_late(I(8500), I(500)).unwrap());
    assert!(t.integral_times());
}

#[test]
fn int_and_str_keys_are_distinct_partitions() {
    let mut t = tracker(0, None);
    t.observe(P(1), I(100), None).unwrap();
    t.observe(S("1"), I(50), None).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t.partition_watermark(P(1)), Some(100.0));
    assert_eq!(t.partition_watermark(S("1")), Some(50.0));
}

#[test]
fn idle_partitions_stop_holding_the_watermark() {
    let mut t = tracker(0, Some(30));
    t.observe(S("fast"), I(8000), Some(I(0))).unwrap();
    t.observe(S("slow"), I(2000), Some(I(0))).unwrap();
    t.observe(S("fast"), I(9000), Some(I(30))).unwrap();
    // Silent for exactly the timeout: not yet idle.
    assert_eq!(t.tick(I(30)).unwrap(), Some(2000.0));
    assert_eq!(t.tick(I(31)).unwrap(), Some(9000.0));
    let idle: Vec<bool> = t.partitions().map(|(_, s)| s.idle).collect();
    assert_eq!(idle, [false, true]);
    // Everybody idle: the maximum.
    assert_eq!(t.tick(I(61)).unwrap(), Some(9000.0));
    assert_eq!(t.holdback(), None);
}

#[test]
fn a_resumed_partition_holds_the_watermark_instead_of_lowering_it() {
    let mut t = tracker(0, Some(10));
    t.observe(S("a"), I(8000), Some(I(0))).unwrap();
    t.observe(S("b"), I(2000), Some(I(0))).unwrap();
    t.observe(S("a"), I(8500), Some(I(20))).unwrap();
    assert_eq!(t.tick(I(20)).unwrap(), Some(8500.0));
    // "b" wakes up far behind: the watermark holds, its event is late.
    assert_eq!(t.observe(S("b"), I(3000), Some(I(21))).unwrap(), 8500.0);
    assert_eq!(t.partition_watermark(S("b")), Some(3000.0));
    assert!(t.is_late(I(3000), I(0)).unwrap());
    // "a" moves on, but "b" holds the watermark at its floor until it catches up.
    assert_eq!(t.observe(S("a"), I(9500), Some(I(22))).unwrap(), 8500.0);
    assert_eq!(t.holdback(), Some((&PartitionKey::Str("b".into()), 1000.0)));
    assert_eq!(t.observe(S("b"), I(9000), Some(I(23))).unwrap(), 9000.0);
    assert_eq!(t.observe(S("b"), I(9900), Some(I(24))).unwrap(), 9500.0);
}

#[test]
fn resuming_when_everybody_was_idle() {
    let mut t = tracker(0, Some(10));
    t.observe(S("a"), I(500), Some(I(0))).unwrap();
    t.observe(S("b"), I(100), Some(I(0))).unwrap();
    assert_eq!(t.tick(I(11)).unwrap(), Some(500.0));
    assert_eq!(t.observe(S("b"), I(200), Some(I(12))).unwrap(), 500.0);
    assert_eq!(t.observe(S("b"), I(700), Some(I(13))).unwrap(), 700.0);
    // "a" is still idle and does not hold "b" back.
    assert_eq!(t.observe(S("b"), I(900), Some(I(14))).unwrap(), 900.0);
}

#[test]
fn a_new_partition_joins_the_minimum_even_when_the_others_are_idle() {
    let mut t = tracker(0, Some(10));
    t.observe(S("a"), I(500), Some(I(0))).unwrap();
    assert_eq!(t.tick(I(11)).unwrap(), Some(500.0));
    assert_eq!(t.observe(S("b"), I(100), Some(I(12))).unwrap(), 100.0);
}

#[test]
fn the_clock_never_goes_back_and_starts_for_everybody() {
    let mut t = tracker(0, Some(10));
    // Heard before any clock reading: counts as heard when the clock starts.
    t.observe(S("a"), I(100), None).unwrap();
    t.observe(S("b"), I(900), Some(I(50))).unwrap();
    assert_eq!(t.tick(I(60)).unwrap(), Some(100.0));
    assert_eq!(t.tick(I(61)).unwrap(), Some(900.0), "a silent since 50");
    // A reading from the past is ignored: "b" is stamped at the clock, 61.
    t.observe(S("b"), I(950), Some(I(5))).unwrap();
    assert_eq!(t.clock(), Some(61.0));
    let seen: Vec<Option<f64>> = t.partitions().map(|(_, s)| s.last_seen).collect();
    assert_eq!(seen, [Some(50.0), Some(61.0)]);
}

#[test]
fn without_idle_timeout_nothing_goes_idle() {
    let mut t = tracker(0, None);
    t.observe(S("a"), I(1), Some(I(0))).unwrap();
    t.observe(S("b"), I(5), Some(I(0))).unwrap();
    assert_eq!(t.tick(I(1_000_000)).unwrap(), Some(1.0));
}

#[test]
fn integral_flags_follow_the_inputs() {
    let mut t = tracker(0, None);
    t.observe_many_i64(S("a"), &[1, 2], Some(I(3))).unwrap();
    assert!(t.integral_times() && t.integral_clock());
    t.observe_many_f64(S("a"), &[], Some(F(4.0))).unwrap();
    assert!(
        t.integral_times() && t.integral_clock(),
        "an empty batch is a no-op"
    );
    t.observe(S("a"), F(2.5), None).unwrap();
    assert!(!t.integral_times() && t.integral_clock());
    t.tick(F(4.5)).unwrap();
    assert!(!t.integral_clock());
    let t = WatermarkTracker::new(F(0.0), None).unwrap();
    assert!(!t.integral_times() && t.integral_clock());
    let t = WatermarkTracker::new(I(0), Some(F(1.5))).unwrap();
    assert!(t.integral_times() && !t.integral_clock());
    // Mixed batches: the ints are checked as ints, the flag drops.
    let mut t = tracker(0, None);
    t.observe_many(S("a"), &[I(1), I(2)], None).unwrap();
    assert!(t.integral_times());
    let err = t
        .observe_many(S("a"), &[F(1.5), I(1 << 60)], None)
        .unwrap_err();
    assert!(err.message.contains("index 1"), "{}", err.message);
    assert_eq!(
        t.observe_many(S("a"), &[F(1.5), I(7)], None).unwrap(),
        Some(7.0)
    );
    assert!(!t.integral_times());
}

#[test]
fn batch_errors_name_the_index_and_change_nothing() {
    let mut t = tracker(0, Some(5));
    t.observe(S("a"), I(10), Some(I(0))).unwrap();
    let before = t.clone();
    let err = t
        .observe_many_f64(S("a"), &[1.0, 2.0, f64::NAN, 3.0], Some(I(1)))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(err.message.contains("index 2"), "{}", err.message);
    let err = t
        .observe_many_i64(S("b"), &[1, 1 << 60], Some(I(1)))
        .unwrap_err();
    assert!(err.message.contains("index 1"), "{}", err.message);
    assert_eq!(t, before);
    assert_eq!(t.to_bytes(), before.to_bytes());
}

proptest! {
    /// The laned scans agree with a plain fold, and name the first bad value, wherever it
    /// falls (in a full chunk or in the remainder).
    #[test]
    fn batch_scans(
        values in prop::collection::vec(-1e12f64..1e12, 0..40),
        ints in prop::collection::vec(-MAX_EXACT_INT..=MAX_EXACT_INT, 0..40),
        bad in prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
        at in any::<prop::sample::Index>(),
    ) {
        let expected = values.iter().copied().reduce(f64::max);
        prop_assert_eq!(max_f64(&values).unwrap(), expected);
        prop_assert_eq!(max_i64(&ints).unwrap(), ints.iter().copied().max());
        if !values.is_empty() {
            let i = at.index(values.len());
            let mut poisoned = values.clone();
            poisoned[i] = bad;
            let err = max_f64(&poisoned).unwrap_err();
            prop_assert!(err.message.ends_with(&format!("at index {i}")), "{}", err.message);
        }
        if !ints.is_empty() {
            let i = at.index(ints.len());
            let mut wide = ints.clone();
            wide[i] = if i % 2 == 0 { MAX_EXACT_INT + 1 } else { i64::MIN };
            let err = max_i64(&wide).unwrap_err();
            prop_assert!(err.message.contains(&format!("index {i} ")), "{}", err.message);
        }
    }
}

/// The tracker of the golden image: every flag and both key kinds are used.
fn golden_tracker() -> WatermarkTracker {
    let mut t = tracker(5, Some(30));
    t.observe(S("a"), I(100), Some(I(1))).unwrap();
    t.observe(P(7), I(40), Some(I(2))).unwrap();
    t.observe(S("b"), I(10), Some(I(3))).unwrap();
    t.observe(S("a"), I(120), Some(I(35))).unwrap();
    assert_eq!(t.tick(I(40)).unwrap(), Some(115.0));
    // 7 resumes behind the watermark: a floor at 115.
    assert_eq!(t.observe(P(7), I(50), Some(I(41))).unwrap(), 115.0);
    t
}

const GOLDEN: &str = concat!(
    "444e0401",         // b"DN", WatermarkTracker, version 1
    "0f",               // integral times and clock, idle timeout and clock set
    "0000000000001440", // max_out_of_orderness 5.0
    "0000000000003e40", // idle_timeout 30.0
    "0000000000804440", // clock 41.0
    "03000000",         // 3 partitions
    "05",               // "a": str key, last seen
    "01000000",
    "61",
    "0000000000005e40", // max_ts 120.0
    "0000000000804140", // last seen 35.0
    "0c",               // 7: int key, last seen, floor
    "0700000000000000",
    "0000000000004940", // max_ts 50.0
    "0000000000c05c40", // floor 115.0
    "0000000000804440", // last seen 41.0
    "07",               // "b": str key, idle, last seen
    "01000000",
    "62",
    "0000000000002440", // max_ts 10.0
    "0000000000000840", // last seen 3.0
);

#[test]
fn golden_image() {
    let t = golden_tracker();
    assert_eq!(hex(&t.to_bytes()), GOLDEN);
    let bytes: Vec<u8> = (0..GOLDEN.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&GOLDEN[i..i + 2], 16).unwrap())
        .collect();
    let back = WatermarkTracker::from_bytes(&bytes).unwrap();
    assert_eq!(back, t);
    assert_eq!(back.watermark(), Some(115.0));
    assert_eq!(back.partition_watermark(P(7)), Some(45.0));
    assert_eq!(back.holdback(), Some((&PartitionKey::Str("a".into()), 0.0)));
}

#[test]
fn corrupt_images_are_refused() {
    let good = golden_tracker().to_bytes();
    // Every truncation.
    for n in 0..good.len() {
        let err = WatermarkTracker::from_bytes(&good[..n]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Corrupt, "truncated at {n}");
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        WatermarkTracker::from_bytes(&trailing).unwrap_err().kind,
        ErrorKind::Corrupt
    );
    let patched = |at: usize, bytes: &[u8]| {
        let mut b = good.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        WatermarkTracker::from_bytes(&b)
    };
    let nan = f64::NAN.to_le_bytes();
    // Offsets: flags 4, out-of-orderness 5, partition count 29, "a" at 33 (key byte 38),
    // 7 at 55 (max_ts 64, floor 72, last seen 80), "b" at 88 (key byte 93).
    let cases: [(usize, &[u8], &str); 13] = [
        (2, &[1], "another type"),
        (3, &[2], "a future version"),
        (4, &[0x1f], "unknown flags"),
        (4, &[0x0b], "flags that drop the idle timeout"),
        (5, &nan, "NaN out-of-orderness"),
        (5, &(-1.0f64).to_le_bytes(), "negative out-of-orderness"),
        (
            5,
            &0.5f64.to_le_bytes(),
            "fractional under the integral flag",
        ),
        (29, &[0xff, 0xff, 0xff, 0x0f], "a huge partition count"),
        (33, &[0x25], "unknown partition flags"),
        (38, &[0xff], "a key that is not UTF-8"),
        (64, &50.5f64.to_le_bytes(), "a fractional timestamp"),
        (72, &40.0f64.to_le_bytes(), "a floor below the watermark"),
        (80, &99.0f64.to_le_bytes(), "last seen after the clock"),
    ];
    for (at, bytes, what) in cases {
        assert_eq!(
            patched(at, bytes).unwrap_err().kind,
            ErrorKind::Corrupt,
            "{what}"
        );
    }
    // The same key twice: rename "b" to "a".
    assert_eq!(patched(93, b"a").unwrap_err().kind, ErrorKind::Corrupt);
    assert!(
        patched(93, b"c").is_ok(),
        "the offsets above point where they should"
    );
}

#[test]
fn empty_tracker_round_trips() {
    let t = WatermarkTracker::new(F(2.5), None).unwrap();
    let back = WatermarkTracker::from_bytes(&t.to_bytes()).unwrap();
    assert_eq!(back, t);
    assert_eq!(back.watermark(), None);
    assert_eq!(back.max_out_of_orderness(), 2.5);
}

#[derive(Clone, Debug)]
enum Op {
    Observe(i64, i64, Option<i64>),
    Many(i64, Vec<i64>, Option<i64>),
    Tick(i64),
}

/// Partitions 0..5 (odd ones named by str, to mix key kinds), timestamps that wander,
/// clock steps that mostly move forward.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    let now = prop_oneof![Just(None), (-2i64..25).prop_map(Some)];
    let op = prop_oneof![
        4 => (0i64..5, -100i64..1000, now.clone()).prop_map(|(p, ts, n)| Op::Observe(p, ts, n)),
        1 => (0i64..5, prop::collection::vec(-100i64..1000, 0..6), now)
            .prop_map(|(p, ts, n)| Op::Many(p, ts, n)),
        2 => (-2i64..40).prop_map(Op::Tick),
    ];
    prop::collection::vec(op, 0..60)
}

fn key(p: i64) -> PartitionKey {
    if p % 2 == 1 {
        PartitionKey::Str(format!("p{p}"))
    } else {
        PartitionKey::Int(p)
    }
}

/// Applies `op`, whose clock values are steps from `clock`; returns whether it introduced
/// a partition.
fn apply(t: &mut WatermarkTracker, clock: &mut i64, op: &Op) -> bool {
    let mut now = |step: Option<i64>| {
        step.map(|s| {
            *clock += s;
            I(*clock)
        })
    };
    let (p, nonempty) = match op {
        Op::Observe(p, ..) => (*p, true),
        Op::Many(p, ts, _) => (*p, !ts.is_empty()),
        Op::Tick(_) => (-1, false),
    };
    let new = nonempty && t.partition_watermark(key(p).as_ref()).is_none();
    match op {
        Op::Observe(p, ts, step) => {
            t.observe(key(*p).as_ref(), I(*ts), now(*step)).unwrap();
        }
        // An empty batch is a no-op, its clock reading included.
        Op::Many(_, ts, _) if ts.is_empty() => {}
        Op::Many(p, ts, step) => {
            t.observe_many_i64(key(*p).as_ref(), ts, now(*step))
                .unwrap();
        }
        Op::Tick(step) => {
            let n = now(Some(*step)).unwrap();
            t.tick(n).unwrap();
        }
    }
    new
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Partition watermarks never decrease; the tracker watermark never decreases except
    /// when a new partition joins, and then it is the minimum of the old one and the
    /// newcomer's; the cached watermark equals one computed from scratch.
    #[test]
    fn watermarks_are_monotone(ops in ops(), ooo in 0i64..50, idle in prop::option::of(0i64..30)) {
        let mut t = tracker(ooo, idle);
        let mut clock = 0;
        for op in &ops {
            let before = t.clone();
            let new = apply(&mut t, &mut clock, op);
            for (k, s) in t.partitions() {
                if let Some(old) = before.partition_watermark(k.as_ref()) {
                    prop_assert!(s.watermark >= old);
                }
            }
            match (before.watermark(), t.watermark()) {
                (Some(old), Some(now)) if new => {
                    let (k, _) = t.partitions().last().unwrap();
                    let joined = t.partition_watermark(k.as_ref()).unwrap();
                    if before.partitions().any(|(_, s)| !s.idle) {
                        prop_assert_eq!(now, old.min(joined));
                    } else {
                        prop_assert_eq!(now, joined);
                    }
                }
                (Some(old), Some(now)) => prop_assert!(now >= old, "{old} -> {now} on {op:?}"),
                (Some(_), None) => prop_assert!(false, "the watermark vanished"),
                (None, _) => {}
            }
            let mut fresh = t.clone();
            fresh.recompute();
            prop_assert_eq!(fresh.watermark(), t.watermark());
        }
    }

    /// Without idleness the watermark is exactly the minimum of the partition watermarks,
    /// each of which is its maximum timestamp minus the out-of-orderness.
    #[test]
    fn without_idleness_the_watermark_is_the_minimum(ops in ops(), ooo in 0i64..50) {
        let mut t = tracker(ooo, None);
        let mut clock = 0;
        let mut max_ts: HashMap<PartitionKey, i64> = HashMap::new();
        for op in &ops {
            apply(&mut t, &mut clock, op);
            match op {
                Op::Observe(p, ts, _) => {
                    let m = max_ts.entry(key(*p)).or_insert(*ts);
                    *m = (*m).max(*ts);
                }
                Op::Many(p, ts, _) => {
                    if let Some(&top) = ts.iter().max() {
                        let m = max_ts.entry(key(*p)).or_insert(top);
                        *m = (*m).max(top);
                    }
                }
                Op::Tick(_) => {}
            }
            let expected = max_ts.values().min().map(|m| (m - ooo) as f64);
            prop_assert_eq!(t.watermark(), expected);
            for (k, m) in &max_ts {
                prop_assert_eq!(t.partition_watermark(k.as_ref()), Some((m - ooo) as f64));
            }
        }
    }

    /// After a tick a partition is idle iff it has been silent for longer than the
    /// timeout; active partitions bound the watermark from above (their minimum) unless a
    /// resumed one holds it; with everybody idle it is the maximum partition watermark.
    #[test]
    fn idleness(ops in ops(), idle in 0i64..30) {
        let mut t = tracker(0, Some(idle));
        let mut clock = 0;
        for op in &ops {
            apply(&mut t, &mut clock, op);
            let Some(w) = t.watermark() else { continue };
            let statuses: Vec<PartitionStatus> = t.partitions().map(|(_, s)| s).collect();
            if let Op::Tick(_) = op {
                let now = t.clock().unwrap();
                for s in &statuses {
                    prop_assert_eq!(s.idle, now - s.last_seen.unwrap() > idle as f64);
                }
            }
            let max = statuses.iter().map(|s| s.watermark).fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(w <= max);
            if statuses.iter().all(|s| s.idle) {
                prop_assert_eq!(w, max);
                prop_assert!(t.holdback().is_none());
            } else {
                let (holder, lag) = t.holdback().unwrap();
                let low = statuses
                    .iter()
                    .filter(|s| !s.idle)
                    .map(|s| s.watermark)
                    .fold(f64::INFINITY, f64::min);
                prop_assert!(w >= low);
                // The most advanced active partition, floors included, is never ahead of
                // every partition's own watermark: floors are past watermarks.
                prop_assert!(lag >= 0.0 && w + lag <= max);
                prop_assert!(!t.partitions().find(|(k, _)| *k == holder).unwrap().1.idle);
            }
        }
    }

    /// A batch is the same as its items one by one.
    #[test]
    fn batches_equal_items_one_by_one(ops in ops(), ooo in 0i64..50, idle in prop::option::of(0i64..30)) {
        let (mut batched, mut single) = (tracker(ooo, idle), tracker(ooo, idle));
        let (mut c1, mut c2) = (0, 0);
        for op in &ops {
            apply(&mut batched, &mut c1, op);
            match op {
                Op::Many(p, ts, step) => {
                    if !ts.is_empty() {
                        apply(&mut single, &mut c2, &Op::Observe(*p, ts[0], *step));
                        for &v in &ts[1..] {
                            apply(&mut single, &mut c2, &Op::Observe(*p, v, step.map(|_| 0)));
                        }
                    }
                }
                _ => {
                    apply(&mut single, &mut c2, op);
                }
            }
            prop_assert_eq!(&batched, &single);
            prop_assert_eq!(batched.watermark(), single.watermark());
        }
        let floats: Vec<f64> = (0..20).map(|i| f64::from(i) * 0.5).collect();
        let w = batched.observe_many_f64(S("f"), &floats, None).unwrap();
        for &v in &floats {
            single.observe(S("f"), F(v), None).unwrap();
        }
        prop_assert_eq!(w, single.watermark());
        prop_assert_eq!(&batched, &single);
    }

    /// An image reads back as an equal tracker that goes on behaving the same.
    #[test]
    fn bytes_round_trip(ops in ops(), more in ops(), ooo in 0i64..50, idle in prop::option::of(0i64..30)) {
        let mut t = tracker(ooo, idle);
        let mut clock = 0;
        for op in &ops {
            apply(&mut t, &mut clock, op);
        }
        let mut back = WatermarkTracker::from_bytes(&t.to_bytes()).unwrap();
        prop_assert_eq!(&back, &t);
        prop_assert_eq!(back.watermark(), t.watermark());
        let mut clock2 = clock;
        for op in &more {
            apply(&mut t, &mut clock, op);
            apply(&mut back, &mut clock2, op);
            prop_assert_eq!(back.watermark(), t.watermark());
        }
        prop_assert_eq!(back.to_bytes(), t.to_bytes());
    }

    /// `is_late` is exactly `ts < watermark − allowed_lateness`.
    #[test]
    fn lateness(ops in ops(), ts in -200i64..1200, lateness in 0i64..100) {
        let mut t = tracker(3, Some(10));
        let mut clock = 0;
        for op in &ops {
            apply(&mut t, &mut clock, op);
        }
        let expected = t.watermark().is_some_and(|w| (ts as f64) < w - lateness as f64);
        prop_assert_eq!(t.is_late(I(ts), I(lateness)).unwrap(), expected);
    }
}
