//! Laws over random streams: batch-size invariance, order-insensitivity of final results
//! within lateness (against a brute-force model), snapshot transparency, bounded state.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::tests::{batch, config_with, P};
use super::*;

type Event = (i64, String, i64);

fn events(max_t: i64) -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec(
        (0..max_t, 0..3u8, -50i64..50).prop_map(|(t, k, v)| (t, format!("k{k}"), v)),
        0..60,
    )
}

fn kinds() -> impl Strategy<Value = WindowKind> {
    prop_oneof![
        (1i64..20_000).prop_map(|s| WindowKind::tumbling(s).unwrap()),
        (1i64..8_000, 1i64..4)
            .prop_map(|(slide, k)| WindowKind::sliding(slide * k, slide).unwrap()),
        (1i64..15_000).prop_map(|g| WindowKind::session(g).unwrap()),
    ]
}

fn as_refs(ev: &[Event]) -> Vec<(i64, &str, i64)> {
    ev.iter().map(|(t, k, v)| (*t, k.as_str(), *v)).collect()
}

fn process(e: &mut WindowEngine, ev: &[Event], out: &mut Output, offset: usize) {
    let mut o = Output::default();
    e.process(P, &batch(&as_refs(ev)), None, None, None, &mut o)
        .unwrap();
    out.results.extend(o.results);
    out.late.extend(o.late.into_iter().map(|i| i + offset));
}

/// `(count, sum, min, max)` of one window.
type Agg = (i128, i128, i128, i128);

/// The last result of every window identity still standing, after a flush.
fn finals(out: &Output) -> BTreeMap<(Vec<u8>, i64), (i64, Agg)> {
    let mut last = BTreeMap::new();
    for r in &out.results {
        let id = (r.key.to_vec(), r.start);
        if r.retracted {
            last.remove(&id);
            continue;
        }
        let int = |i: usize| match &r.values[i] {
            Value::Int(v) => *v,
            other => panic!("{other:?}"),
        };
        last.insert(id, (r.end, (int(0), int(1), int(2), int(3))));
    }
    last
}

/// Windows by brute force over all events: grid windows by definition, sessions by
/// sorting each key's times and cutting where consecutive events are more than a gap apart.
fn model(kind: WindowKind, ev: &[Event]) -> BTreeMap<(Vec<u8>, i64), (i64, Agg)> {
    let mut groups: BTreeMap<(Vec<u8>, i64), (i64, Vec<i64>)> = BTreeMap::new();
    match kind {
        WindowKind::Session { gap } => {
            let mut by_key: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
            for (t, k, v) in ev {
                by_key.entry(k).or_default().push((*t, *v));
            }
            for (k, mut tv) in by_key {
                tv.sort();
                let mut start = 0;
                for i in 0..tv.len() {
                    if i > 0 && tv[i].0 - tv[i - 1].0 > gap {
                        start = i;
                    }
                    let g = groups
                        .entry((super::tests::key(k), tv[start].0))
                        .or_default();
                    g.0 = tv[i].0 + gap;
                    g.1.push(tv[i].1);
                }
            }
        }
        _ => {
            let (size, slide) = kind.grid().unwrap();
            for (t, k, v) in ev {
                for s in sliding_starts(*t, size, slide) {
                    let g = groups.entry((super::tests::key(k), s)).or_default();
                    g.0 = s + size;
                    g.1.push(*v);
                }
            }
        }
    }
    groups
        .into_iter()
        .map(|(id, (end, vs))| {
            let agg = (
                vs.len() as i128,
                vs.iter().map(|&v| i128::from(v)).sum(),
                i128::from(*vs.iter().min().unwrap()),
                i128::from(*vs.iter().max().unwrap()),
            );
            (id, (end, agg))
        })
        .collect()
}

fn engine(kind: WindowKind, ooo: i64, lateness: i64, cap: usize) -> WindowEngine {
    WindowEngine::new(config_with(kind, ooo, lateness, None, cap)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Cutting a stream into batches anywhere gives the same results, in the same order.
    #[test]
    fn batches_do_not_change_the_output(
        kind in kinds(),
        ev in events(100_000),
        cuts in prop::collection::vec(0usize..60, 0..6),
        ooo in 0i64..5_000,
        lateness in 0i64..20_000,
        cap in 1usize..8,
    ) {
        let mut whole = engine(kind, ooo, lateness, cap);
        let mut want = Output::default();
        process(&mut whole, &ev, &mut want, 0);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(ev.len())).collect();
        cuts.push(0);
        cuts.push(ev.len());
        cuts.sort_unstable();
        let mut split = engine(kind, ooo, lateness, cap);
        let mut got = Output::default();
        for w in cuts.windows(2) {
            process(&mut split, &ev[w[0]..w[1]], &mut got, w[0]);
        }
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(split.stats(), whole.stats());
        prop_assert_eq!(split.to_bytes(), whole.to_bytes());
    }

    /// With lateness covering the whole stream nothing is too late, and the final results
    /// equal the brute-force windows of all events, whatever the arrival order.
    #[test]
    fn final_results_ignore_arrival_order_within_lateness(
        kind in kinds(),
        ev in events(60_000),
        seed in any::<u64>(),
        ooo in 0i64..3_000,
    ) {
        let mut shuffled = ev.clone();
        // A Fisher–Yates shuffle from a simple LCG: reproducible from the seed.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let want = model(kind, &ev);
        for order in [&ev, &shuffled] {
            let mut e = engine(kind, ooo, 200_000, 10_000);
            let mut out = Output::default();
            process(&mut e, order, &mut out, 0);
            e.flush(&mut out);
            prop_assert!(out.late.is_empty());
            prop_assert_eq!(finals(&out), want.clone());
        }
    }

    /// Revisions of one window identity count up from 0; a retraction ends it.
    #[test]
    fn revisions_count_up(kind in kinds(), ev in events(100_000), lateness in 0i64..30_000) {
        let mut e = engine(kind, 0, lateness, 4);
        let mut out = Output::default();
        process(&mut e, &ev, &mut out, 0);
        e.flush(&mut out);
        let mut next: BTreeMap<(Vec<u8>, i64), u32> = BTreeMap::new();
        for r in &out.results {
            let id = (r.key.to_vec(), r.start);
            let want = next.get(&id).copied().unwrap_or(0);
            prop_assert_eq!(r.revision, want);
            prop_assert_eq!(r.previous.is_some(), r.revision > 0);
            if r.retracted {
                next.remove(&id);
            } else {
                next.insert(id, r.revision + 1);
            }
        }
        prop_assert_eq!(
            e.stats().emitted + e.stats().amended + e.stats().retracted,
            out.results.len() as u64
        );
        prop_assert_eq!(e.stats().events + e.stats().late, ev.len() as u64);
    }

    /// Held state never outlives the watermark by more than the retention.
    #[test]
    fn state_is_bounded_by_the_watermark(kind in kinds(), ev in events(200_000), lateness in 0i64..10_000) {
        let mut e = engine(kind, 0, lateness, 10_000);
        for chunk in ev.chunks(7) {
            process(&mut e, chunk, &mut Output::default(), 0);
            if let Some(wm) = e.watermark() {
                let retention = e.config().retention();
                for w in e.window_states() {
                    prop_assert!(w.end + retention >= wm);
                }
            }
        }
    }

    /// A snapshot taken anywhere restores an engine that continues identically.
    #[test]
    fn snapshots_are_transparent(
        kind in kinds(),
        ev in events(100_000),
        cut in 0usize..60,
        lateness in 0i64..20_000,
    ) {
        let cut = cut.min(ev.len());
        let mut a = engine(kind, 1_000, lateness, 3);
        process(&mut a, &ev[..cut], &mut Output::default(), 0);
        let bytes = a.to_bytes();
        let mut b = WindowEngine::from_bytes(&bytes).unwrap();
        prop_assert_eq!(b.to_bytes(), bytes);
        let (mut oa, mut ob) = (Output::default(), Output::default());
        process(&mut a, &ev[cut..], &mut oa, 0);
        process(&mut b, &ev[cut..], &mut ob, 0);
        a.flush(&mut oa);
        b.flush(&mut ob);
        prop_assert_eq!(oa, ob);
        prop_assert_eq!(a.to_bytes(), b.to_bytes());
    }
}

/// The results as text, in order; series ids are the engine's own business.
fn sorted(mut results: Vec<Emission>) -> Vec<String> {
    let mut out: Vec<String> = results
        .drain(..)
        .map(|r| format!("{:?}", Emission { series: 0, ..r }))
        .collect();
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// Shard engines fed by the router emit exactly what one engine emits, as soon as it
    /// does, and report the same late events, however the stream is batched.
    #[test]
    fn routed_shards_agree_with_one_engine(
        kind in kinds(),
        ev in events(100_000),
        cuts in prop::collection::vec(0usize..60, 0..40),
        shards in 1u32..5,
        ooo in 0i64..3_000,
        lateness in 0i64..20_000,
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(ev.len())).collect();
        cuts.extend([0, ev.len()]);
        cuts.sort_unstable();
        let mut one = engine(kind, ooo, lateness, 10_000);
        let mut want = Output::default();
        let mut router = Router::new(one.config(), shards).unwrap();
        let mut engines: Vec<WindowEngine> =
            (0..shards).map(|_| engine(kind, ooo, lateness, 10_000)).collect();
        let mut got = Output::default();
        for w in cuts.windows(2) {
            let part = &ev[w[0]..w[1]];
            process(&mut one, part, &mut want, w[0]);
            let b = batch(&as_refs(part));
            for (shard, routed) in router.split(P, &[], &b, None) {
                let routed = Routed::from_bytes(&routed.to_bytes()).unwrap();
                let mut o = Output::default();
                engines[shard as usize].process_routed(&routed, None, &mut o).unwrap();
                got.results.extend(o.results);
                got.late.extend(o.late.iter().map(|&i| routed.origin[i] as usize + w[0]));
            }
            // Markers keep the shards as prompt as one engine: nothing emitted later.
            prop_assert_eq!(sorted(got.results.clone()), sorted(want.results.clone()));
        }
        one.flush(&mut want);
        for e in &mut engines {
            e.flush(&mut got);
        }
        want.late.sort_unstable();
        got.late.sort_unstable();
        prop_assert_eq!(got.late, want.late);
        prop_assert_eq!(sorted(got.results), sorted(want.results));
    }
}
