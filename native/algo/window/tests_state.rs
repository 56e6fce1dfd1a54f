//! State over time: windows purged after lateness, series that go idle and come back,
//! and the bounds that keep an endless stream's memory flat.

use super::engine::IDLE_SERIES_SLACK;
use super::tests::{key, run, tumbling};
use super::*;

#[test]
fn state_is_purged_after_lateness_and_stays_readable_until_then() {
    let mut e = tumbling(10_000, 0, 5_000);
    run(&mut e, &[(1_000, "a", 1), (12_000, "b", 1)]);
    let states = e.window_states();
    assert_eq!(states.len(), 2);
    assert_eq!(states.iter().filter(|s| s.revision == Some(0)).count(), 1);
    run(&mut e, &[(15_000, "b", 1)]);
    assert_eq!(
        e.window_count(),
        2,
        "DEC-7: kept at watermark = end + lateness"
    );
    run(&mut e, &[(15_001, "b", 1)]);
    assert_eq!(e.window_count(), 1);
    assert_eq!((e.series_count(), e.stats().purged), (1, 1));
    // An endless stream over many keys holds a bounded number of windows.
    let mut e = tumbling(1_000, 0, 2_000);
    for step in 0..200 {
        let events: Vec<(i64, String, i64)> = (0..50)
            .map(|k| (step * 500 + k, format!("k{k}"), 1))
            .collect();
        run_owned(&mut e, &events);
        assert!(e.window_count() <= 50 * 5, "{} windows", e.window_count());
    }
}

#[test]
fn a_key_back_for_its_next_window_keeps_its_series() {
    let mut e = tumbling(1_000, 0, 0);
    run(&mut e, &[(500, "a", 1), (2_500, "b", 1)]);
    assert_eq!(
        e.series_count(),
        1,
        "a's window is purged: a holds no state"
    );
    assert_eq!(e.series.len(), 2, "a's series stays, idle");
    let sid = e.index[&key("a")[..]];
    run(&mut e, &[(2_600, "a", 2)]);
    assert_eq!(e.series_count(), 2);
    assert_eq!(
        e.index[&key("a")[..]],
        sid,
        "the idle series took the new window"
    );
    // An image leaves idle series out, and loads.
    run(&mut e, &[(5_000, "b", 1)]);
    assert_eq!(e.series_count(), 1);
    let back = WindowEngine::from_bytes(&e.to_bytes()).unwrap();
    assert_eq!((back.series.len(), back.series_count()), (1, 1));
}

#[test]
fn idle_series_are_dropped_once_they_outnumber_the_live_ones_by_the_slack() {
    // Every key is seen once: without a sweep the index would grow without end.
    let mut e = tumbling(1_000, 0, 0);
    let keys = 3 * IDLE_SERIES_SLACK as i64;
    let mut most = 0;
    for step in 0..keys / 100 {
        let events: Vec<(i64, String, i64)> = (0..100)
            .map(|k| (step * 1_000 + k, format!("k{}", step * 100 + k), 1))
            .collect();
        run_owned(&mut e, &events);
        assert_eq!(e.index.len(), e.series.len());
        assert!(e.series.len() - e.series_count() <= e.series_count() + IDLE_SERIES_SLACK);
        most = most.max(e.series.len());
    }
    assert!(most > IDLE_SERIES_SLACK, "idle series were kept");
    assert!(
        e.series.len() < IDLE_SERIES_SLACK + 200,
        "{} series",
        e.series.len()
    );
    assert_eq!(
        e.series_count(),
        100,
        "only the last window's keys hold state"
    );
}

/// `run` over events whose keys are built at run time.
fn run_owned(e: &mut WindowEngine, events: &[(i64, String, i64)]) {
    let refs: Vec<(i64, &str, i64)> = events
        .iter()
        .map(|(t, k, v)| (*t, k.as_str(), *v))
        .collect();
    run(e, &refs);
}
