//! Window assignment on the epoch-aligned grid (REQUIREMENTS STREAM-3, STREAM-4).
//!
//! Starts are `floor(t / slide) · slide`, rounding toward −∞ so that negative times fall
//! in the window before zero (−1 → [−10000, 0) for 10 s windows). Times are whole
//! milliseconds within ±(2^53 − 1), durations within 1..=2^53 − 1, so no step overflows.

/// The start of the tumbling window of `t`.
#[inline]
pub fn tumbling_start(t: i64, size: i64) -> i64 {
    t.div_euclid(size) * size
}

/// The starts of every sliding window `[s, s + size)` holding `t`, ascending: the
/// aligned `s` with `t − size < s ≤ t`. One start when `slide == size`.
#[inline]
pub fn sliding_starts(t: i64, size: i64, slide: i64) -> impl Iterator<Item = i64> {
    let last = tumbling_start(t, slide);
    let first = tumbling_start(t - size, slide) + slide;
    (0..)
        .map(move |k| first + k * slide)
        .take_while(move |&s| s <= last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::window::MAX_TIME;
    use proptest::prelude::*;

    fn windows(t: i64, size: i64, slide: i64) -> Vec<(i64, i64)> {
        sliding_starts(t, size, slide)
            .map(|s| (s, s + size))
            .collect()
    }

    #[test]
    fn requirement_examples() {
        // STREAM-3, size 10 s.
        assert_eq!(tumbling_start(25_000, 10_000), 20_000);
        assert_eq!(tumbling_start(30_000, 10_000), 30_000);
        assert_eq!(tumbling_start(-1, 10_000), -10_000);
        assert_eq!(
            tumbling_start(MAX_TIME, 10_000),
            MAX_TIME - MAX_TIME % 10_000
        );
        assert_eq!(
            tumbling_start(-MAX_TIME, 10_000),
            -MAX_TIME - 10_000 + MAX_TIME % 10_000
        );
        // STREAM-4: 10 s every 5 s.
        assert_eq!(
            windows(12_000, 10_000, 5_000),
            [(5_000, 15_000), (10_000, 20_000)]
        );
        assert_eq!(windows(12_000, 10_000, 10_000), [(10_000, 20_000)]);
        assert_eq!(
            windows(10_000, 10_000, 5_000),
            [(5_000, 15_000), (10_000, 20_000)]
        );
        // Size not a multiple of the slide: starts 0, 3000, 6000, 9000 hold 9500.
        assert_eq!(windows(9_500, 10_000, 3_000).len(), 4);
    }

    proptest! {
        #[test]
        fn tumbling_window_holds_its_time(
            t in -MAX_TIME..=MAX_TIME,
            size in 1i64..=1 << 40,
        ) {
            let s = tumbling_start(t, size);
            prop_assert!(s <= t && t < s + size);
            prop_assert_eq!(s.rem_euclid(size), 0);
        }

        #[test]
        fn sliding_windows_are_exactly_those_holding_t(
            t in -(1i64 << 45)..(1i64 << 45),
            slide in 1i64..5_000,
            extra in 0i64..20_000,
        ) {
            let size = slide + extra;
            let got = windows(t, size, slide);
            // Brute force over the aligned starts near t.
            let lo = tumbling_start(t - size - slide, slide);
            let want: Vec<(i64, i64)> = (0..)
                .map(|k| lo + k * slide)
                .take_while(|&s| s <= t)
                .filter(|&s| s <= t && t < s + size)
                .map(|s| (s, s + size))
                .collect();
            prop_assert_eq!(&got, &want);
            // Every time lies in ⌊size/slide⌋ or ⌈size/slide⌉ windows.
            let k = got.len() as i64;
            prop_assert!(k == size / slide || k == (size + slide - 1) / slide, "{k} windows");
            prop_assert!(!got.is_empty());
        }

        #[test]
        fn slide_equal_to_size_is_tumbling(t in -MAX_TIME..=MAX_TIME, size in 1i64..=1 << 40) {
            let got: Vec<i64> = sliding_starts(t, size, size).collect();
            prop_assert_eq!(got, vec![tumbling_start(t, size)]);
        }
    }
}
