//! The rolling aggregate for one choice of timestamp and value types. See `super` for the
//! contract; this file keeps the points and every statistic in step with them.

use std::collections::VecDeque;

use super::extrema::{Late, Mono};
use super::num::{Time, Value};
use super::sum::{deviations, Accumulator, Total};

/// The variance is re-centred (recomputed from the points) once its error bound passes
/// this fraction of the variance.
const VAR_TOLERANCE: f64 = 1e-9;

#[derive(Clone, Debug)]
pub struct Core<T: Time, V: Value> {
    pub window: T,
    pub newest: Option<T>,
    pub dropped: u64,
    /// In-order points, sorted by ts (structure of arrays: the values are summed as slices).
    ts: VecDeque<T>,
    vals: VecDeque<V>,
    late: Late<T, V>,
    max: Mono<T, V, true>,
    min: Mono<T, V, false>,
    pub(super) moments: Moments<V>,
    scratch: Vec<usize>,
}

/// The running sums behind count/sum/mean/variance, and what their error bound needs.
///
/// The variance comes from plain sums of d = v − shift: var = Σd²/n − (Σd/n)². Adding
/// and subtracting values makes each sum err by at most ε per operation times the
/// largest magnitude it held (`peak1`, `peak2`) since the last rebuild, and the
/// subtraction amplifies that when the shift is far from the mean — as after a level
/// shift, when the values that set the scale have been evicted. `check` bounds that
/// error after every update and, when it passes `VAR_TOLERANCE` of the variance,
/// recomputes everything from the points around a shift at the current mean: O(n), rare
/// (stationary data needs ~1e7·n operations to get there), so O(1) amortised.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Moments<V: Value> {
    pub sum: V::Sum,
    pub shift: V,
    pub dev: f64,
    pub dev2: f64,
    pub ops: u64,
    pub peak1: f64,
    pub peak2: f64,
}

impl<V: Value> Moments<V> {
    fn reset(&mut self, shift: V) {
        *self = Self {
            shift,
            ..Self::default()
        };
    }

    #[inline(always)]
    fn add(&mut self, v: V) {
        self.sum.add(v);
        let d = v.deviation(self.shift);
        self.dev += d;
        self.dev2 += d * d;
    }

    #[inline(always)]
    fn sub(&mut self, v: V) {
        self.sum.sub(v);
        let d = v.deviation(self.shift);
        self.dev -= d;
        self.dev2 -= d * d;
    }

    fn add_slice(&mut self, vs: &[V]) {
        self.sum.add_slice(vs);
        let (s, q) = deviations(vs, self.shift);
        self.dev += s;
        self.dev2 += q;
    }

    fn sub_slice(&mut self, vs: &[V]) {
        self.sum.sub_slice(vs);
        let (s, q) = deviations(vs, self.shift);
        self.dev -= s;
        self.dev2 -= q;
    }

    /// Records `ops` more operations and the magnitudes the sums reached.
    #[inline(always)]
    fn note(&mut self, ops: usize) {
        self.ops += ops as u64;
        self.peak1 = self.peak1.max(self.dev.abs());
        self.peak2 = self.peak2.max(self.dev2.abs());
    }

    fn variance(&self, n: usize) -> f64 {
        let n = n as f64;
        let m = self.dev / n;
        (self.dev2 / n - m * m).max(0.0)
    }

    /// Whether the variance's error bound has outgrown `VAR_TOLERANCE`.
    fn needs_rebuild(&self, n: usize) -> bool {
        let nf = n as f64;
        let m = self.dev / nf;
        let bound =
            f64::EPSILON * (self.ops + 2) as f64 * (self.peak2 + 2.0 * m.abs() * self.peak1) / nf;
        bound > VAR_TOLERANCE * self.variance(n) + V::rounding_floor(self.shift)
    }
}

impl<T: Time, V: Value> Core<T, V> {
    pub fn new(window: T) -> Self {
        Self {
            window,
            newest: None,
            dropped: 0,
            ts: VecDeque::new(),
            vals: VecDeque::new(),
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
        self.moments.sum.total()
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
        let in_order = self.newest.is_none_or(|n| ts[0] >= n)
            && ts.windows(2).fold(true, |ok, w| ok & (w[0] <= w[1]));
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
        self.ts.extend(ts.iter().copied());
        self.vals.extend(vs.iter().copied());
        self.max.push_sorted(ts, vs, &mut self.scratch);
        self.min.push_sorted(ts, vs, &mut self.scratch);
        self.moments.add_slice(vs);
        self.moments.note(vs.len());
    }

    /// Removes every point with ts ≤ `cutoff`.
    fn evict(&mut self, cutoff: Option<T>) {
        let Some(c) = cutoff else {
            return;
        };
        let mut gone = 0;
        if self.ts.front().is_some_and(|&t| t <= c) {
            let k = self.ts.partition_point(|&t| t <= c);
            let (a, b) = self.vals.as_slices();
            let (a, b) = if k <= a.len() {
                (&a[..k], &b[..0])
            } else {
                (a, &b[..k - a.len()])
            };
            self.moments.sub_slice(a);
            self.moments.sub_slice(b);
            self.ts.drain(..k);
            self.vals.drain(..k);
            gone += k;
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
            V::shift_near(&self.moments.sum, n)
        } else {
            V::default()
        };
        self.moments.reset(shift);
        let (a, b) = self.vals.as_slices();
        self.moments.add_slice(a);
        self.moments.add_slice(b);
        for (_, v) in self.late.iter() {
            self.moments.add(v);
        }
        self.moments.ops = 0;
        self.moments.note(0);
    }

    pub fn clear(&mut self) {
        *self = Self::new(self.window);
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
        core.moments = moments;
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
