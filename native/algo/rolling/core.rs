//! The rolling aggregate for one choice of timestamp and value types. See `super` for the
//! contract; this file keeps the points and every statistic in step with them.

use std::collections::VecDeque;

use super::extrema::{self, Late, Mono};
use super::moments::{Moments, Part, SHORT};
use super::num::{Time, Value};
use super::scan;
use super::sum::{Accumulator, Total};

/// A run of consecutive ring points that arrived in one batch, with their sums when the
/// batch was long enough to sum as a slice: evicting the whole run then subtracts them
/// in O(1) instead of a second pass over the values. A run cut by eviction forgets its
/// sums (its remaining values are summed when they leave), so each value is summed at
/// most once on the way in and once on the way out.
#[derive(Clone, Debug)]
struct Chunk<V: Value> {
    len: usize,
    part: Option<Part<V>>,
}

#[derive(Clone, Debug)]
pub struct Core<T: Time, V: Value> {
    pub window: T,
    pub newest: Option<T>,
    pub dropped: u64,
    /// In-order points, sorted by ts (structure of arrays: the values are summed as slices).
    ts: VecDeque<T>,
    vals: VecDeque<V>,
    /// The ring in batch-sized runs (their lengths add up to the ring's).
    chunks: VecDeque<Chunk<V>>,
    late: Late<T, V>,
    max: Mono<T, V, true>,
    min: Mono<T, V, false>,
    pub(super) moments: Moments<V>,
    scratch: Vec<(usize, bool)>,
}

impl<T: Time, V: Value> Core<T, V> {
    pub fn new(window: T) -> Self {
        Self {
            window,
            newest: None,
            dropped: 0,
            ts: VecDeque::new(),
            vals: VecDeque::new(),
            chunks: VecDeque::new(),
            late: Late::default(),
            max: Mono::default(),
            min: Mono::default(),
            moments: Moments::default(),
            scratch: Vec::new(),
        }
    }

    pub fn count(&self) -> usize {
        self.ts.len() + self.late.len()
    }

    pub fn total(&self) -> Total {
        self.moments.total.sum.total()
    }

    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| match self.total() {
            Total::Int(s) => s as f64 / n as f64,
            Total::Float(s) => s / n as f64,
        })
    }

    pub fn variance(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.moments.variance(n))
    }

    pub fn max(&self) -> Option<V> {
        match (self.max.best(), self.late.max()) {
            (Some(a), Some(b)) => Some(if b > a { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    pub fn min(&self) -> Option<V> {
        match (self.min.best(), self.late.min()) {
            (Some(a), Some(b)) => Some(if b < a { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Before adding to an empty window: forget the rounding residue of the last one and
    /// centre the deviations on the first value.
    #[inline(always)]
    fn begin(&mut self, first: V) {
        if self.count() == 0 {
            self.moments.reset(first);
        }
    }

    pub fn push(&mut self, ts: T, v: V) {
        match self.newest {
            Some(newest) if ts < newest => {
                if T::cutoff(newest, self.window).is_some_and(|c| ts <= c) {
                    self.dropped += 1;
                    return;
                }
                self.begin(v);
                self.late.push(ts, v);
            }
            _ => {
                if self.newest.is_none_or(|n| ts > n) {
                    self.newest = Some(ts);
                    self.evict(T::cutoff(ts, self.window));
                }
                self.begin(v);
                self.ts.push_back(ts);
                self.vals.push_back(v);
                self.grow_chunks(1, None);
                self.max.push(ts, v);
                self.min.push(ts, v);
            }
        }
        self.moments.add(v);
        self.moments.note(1);
        self.check();
    }

    /// Pushes a batch; the result is the same as pushing each point in turn (up to the
    /// rounding of float sums), but only the points that end up inside the window are
    /// stored or summed.
    pub fn push_many(&mut self, ts: &[T], vs: &[V]) {
        debug_assert_eq!(ts.len(), vs.len());
        let Some(&last) = ts.last() else {
            return;
        };
        let in_order = self.newest.is_none_or(|n| ts[0] >= n) && scan::is_sorted(ts);
        if in_order {
            self.newest = Some(last);
            let cutoff = T::cutoff(last, self.window);
            let first = cutoff.map_or(0, |c| ts.partition_point(|&t| t <= c));
            self.evict(cutoff);
            self.append_sorted(&ts[first..], &vs[first..]);
        } else {
            self.push_unsorted(ts, vs);
        }
        self.check();
    }

    /// The general batch: classify each point as a sequence of `push` calls would, then
    /// keep the survivors of the final cutoff.
    fn push_unsorted(&mut self, ts: &[T], vs: &[V]) {
        #[derive(Clone, Copy, PartialEq)]
        enum Kind {
            InOrder,
            Late,
            Dropped,
        }
        let mut newest = self.newest;
        let kinds: Vec<Kind> = ts
            .iter()
            .map(|&t| match newest {
                Some(n) if t < n => {
                    if T::cutoff(n, self.window).is_some_and(|c| t <= c) {
                        Kind::Dropped
                    } else {
                        Kind::Late
                    }
                }
                _ => {
                    newest = Some(t);
                    Kind::InOrder
                }
            })
            .collect();
        self.dropped += kinds.iter().filter(|&&k| k == Kind::Dropped).count() as u64;
        self.newest = newest;
        let cutoff = newest.and_then(|n| T::cutoff(n, self.window));
        self.evict(cutoff);
        let alive = |t: T| cutoff.is_none_or(|c| t > c);
        let (mut in_ts, mut in_vs) = (Vec::new(), Vec::new());
        for ((&t, &v), &k) in ts.iter().zip(vs).zip(&kinds) {
            if !alive(t) {
                continue;
            }
            match k {
                Kind::InOrder => {
                    in_ts.push(t);
                    in_vs.push(v);
                }
                Kind::Late => {
                    self.begin(v);
                    self.late.push(t, v);
                    self.moments.add(v);
                    self.moments.note(1);
                }
                Kind::Dropped => {}
            }
        }
        self.append_sorted(&in_ts, &in_vs);
    }

    /// Appends in-order points (sorted, none before the newest held).
    fn append_sorted(&mut self, ts: &[T], vs: &[V]) {
        let Some(&first) = vs.first() else {
            return;
        };
        self.begin(first);
        // `extend` from a slice iterator of references copies with memcpy.
        self.ts.extend(ts.iter());
        self.vals.extend(vs.iter());
        extrema::push_sorted(&mut self.max, &mut self.min, ts, vs, &mut self.scratch);
        if vs.len() < SHORT {
            vs.iter().for_each(|&v| self.moments.add(v));
            self.grow_chunks(vs.len(), None);
        } else {
            let part = Part::of(vs, self.moments.shift);
            self.moments.total.add_part(&part);
            self.grow_chunks(vs.len(), Some(part));
        }
        self.moments.note(vs.len());
    }

    /// Records `len` points appended to the ring: a summed run of their own, or added to
    /// an unsummed last run.
    #[inline(always)]
    fn grow_chunks(&mut self, len: usize, part: Option<Part<V>>) {
        match (self.chunks.back_mut(), part) {
            (Some(last), None) if last.part.is_none() => last.len += len,
            (_, part) => self.chunks.push_back(Chunk { len, part }),
        }
    }

    /// Removes every point with ts ≤ `cutoff`.
    fn evict(&mut self, cutoff: Option<T>) {
        let Some(c) = cutoff else {
            return;
        };
        let mut gone = 0;
        if self.ts.front().is_some_and(|&t| t <= c) {
            // A single push usually evicts one point: skip the binary search then.
            gone = if self.ts.get(1).is_none_or(|&t| t > c) {
                1
            } else {
                self.ts.partition_point(|&t| t <= c)
            };
            // Whole summed runs leave with their sums; the rest value by value.
            let (mut left, mut at) = (gone, 0);
            while left > 0 {
                let Some(chunk) = self.chunks.front_mut() else {
                    break;
                };
                let take = chunk.len.min(left);
                match chunk.part.take() {
                    Some(part) if take == chunk.len => self.moments.total.sub_part(&part),
                    _ => sub_range(&mut self.moments, &self.vals, at, take),
                }
                chunk.len -= take;
                if chunk.len == 0 {
                    self.chunks.pop_front();
                }
                left -= take;
                at += take;
            }
            if gone < SHORT {
                for _ in 0..gone {
                    self.ts.pop_front();
                    self.vals.pop_front();
                }
            } else {
                self.ts.drain(..gone);
                self.vals.drain(..gone);
            }
        }
        self.max.evict(c);
        self.min.evict(c);
        let moments = &mut self.moments;
        gone += self.late.evict(c, |v| moments.sub(v));
        if gone > 0 {
            if self.count() == 0 {
                self.moments = Moments::default();
            } else {
                self.moments.note(gone);
            }
        }
    }

    fn check(&mut self) {
        let n = self.count();
        if n > 0 && self.moments.needs_rebuild(n) {
            self.rebuild();
        }
    }

    /// Recomputes the sums from the points, centred on the current mean.
    pub(super) fn rebuild(&mut self) {
        let n = self.count();
        let shift = if n > 0 {
            V::shift_near(&self.moments.total.sum, n)
        } else {
            V::default()
        };
        self.moments.reset(shift);
        let mut at = 0;
        let mut chunks = std::mem::take(&mut self.chunks);
        for chunk in &mut chunks {
            let (a, b) = range(&self.vals, at, at + chunk.len);
            let mut part = Part::of(a, shift);
            part.add_part(&Part::of(b, shift));
            self.moments.total.add_part(&part);
            chunk.part = Some(part);
            at += chunk.len;
        }
        self.chunks = chunks;
        for (_, v) in self.late.iter() {
            self.moments.add(v);
        }
        self.moments.note(0);
    }

    /// Forgets everything but the window, keeping the buffers' memory for what comes next.
    pub fn clear(&mut self) {
        self.newest = None;
        self.dropped = 0;
        self.ts.clear();
        self.vals.clear();
        self.chunks.clear();
        self.late = Late::default();
        self.max.clear();
        self.min.clear();
        self.moments = Moments::default();
    }

    /// The points held, sorted by (ts, value): a canonical order for the byte image.
    pub fn points(&self) -> Vec<(T, V)> {
        let mut out: Vec<(T, V)> = self
            .ts
            .iter()
            .copied()
            .zip(self.vals.iter().copied())
            .collect();
        out.extend(self.late.iter());
        out.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.total_cmp(&b.1)));
        out
    }

    /// A core holding `points` (sorted by ts, all inside the window) with the given sums.
    pub(super) fn restore(
        window: T,
        newest: Option<T>,
        dropped: u64,
        points: &[(T, V)],
        moments: Moments<V>,
    ) -> Self {
        let mut core = Self::new(window);
        core.newest = newest;
        core.dropped = dropped;
        let ts: Vec<T> = points.iter().map(|p| p.0).collect();
        let vs: Vec<V> = points.iter().map(|p| p.1).collect();
        core.append_sorted(&ts, &vs);
        // The stored sums, not the fresh ones: the same figures as before the round trip.
        core.moments = moments;
        core.chunks.clear();
        if !vs.is_empty() {
            core.chunks.push_back(Chunk {
                len: vs.len(),
                part: None,
            });
        }
        core
    }

    /// The same window with timestamps and values converted (integers to doubles).
    pub fn convert<T2: Time, V2: Value>(
        &self,
        ft: impl Fn(T) -> T2,
        fv: impl Fn(V) -> V2,
    ) -> Core<T2, V2> {
        let mut out = Core::new(ft(self.window));
        out.newest = self.newest.map(&ft);
        out.dropped = self.dropped;
        let ts: Vec<T2> = self.ts.iter().map(|&t| ft(t)).collect();
        let vs: Vec<V2> = self.vals.iter().map(|&v| fv(v)).collect();
        out.append_sorted(&ts, &vs);
        for (t, v) in self.late.iter() {
            let v = fv(v);
            out.begin(v);
            out.late.push(ft(t), v);
        }
        // Rounding to doubles can move a point onto the cutoff: evict it now.
        out.evict(out.newest.and_then(|n| T2::cutoff(n, out.window)));
        out.rebuild();
        out
    }
}

/// Subtracts the ring values at positions `at..at + len`.
#[inline(always)]
fn sub_range<V: Value>(moments: &mut Moments<V>, vals: &VecDeque<V>, at: usize, len: usize) {
    if len < SHORT {
        (at..at + len).for_each(|i| moments.sub(vals[i]));
    } else {
        let (a, b) = range(vals, at, at + len);
        moments.sub_values(a);
        moments.sub_values(b);
    }
}

/// The values at positions `start..end` of a ring, as at most two slices.
fn range<V>(vals: &VecDeque<V>, start: usize, end: usize) -> (&[V], &[V]) {
    let (a, b) = vals.as_slices();
    let cut = |s: &[V], lo: usize, hi: usize| {
        let lo = lo.min(s.len());
        lo..hi.clamp(lo, s.len())
    };
    let (ra, rb) = (
        cut(a, start, end),
        cut(
            b,
            start.saturating_sub(a.len()),
            end.saturating_sub(a.len()),
        ),
    );
    (&a[ra], &b[rb])
}
