//! Window minimum and maximum under eviction by timestamp.
//!
//! In-order points (ts ≥ every ts before) go to a monotonic deque (Lemire's "streaming
//! maximum"): a point is kept only while no newer point is at least as large, so the
//! front is the maximum, eviction pops the front, and each point is pushed and popped
//! at most once: O(1) amortised. A sorted batch is folded in with one backward scan that
//! keeps its suffix maxima — the records of van Herk/Gil-Werman's backward pass — and
//! appends them after popping the deque entries the batch maximum dominates.
//!
//! Late points (ts below the newest, still inside the window) would break the deque's
//! order, so they go to a separate [`Late`] set: a min-heap by timestamp for eviction
//! and two heaps by value whose entries are deleted lazily — an entry is dead exactly
//! when its ts ≤ the cutoff, so the tops are checked after each eviction and dead
//! entries below the top are purged when they outnumber the live ones. A late point
//! costs O(log L), L the number of late points held; the window's extremes are the
//! better of the deque front and the heap top.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use super::num::{Num, Time, Value};

/// Monotonic deque; `MAX` picks the maximum (true) or the minimum (false).
#[derive(Clone, Debug, Default)]
pub struct Mono<T, V, const MAX: bool> {
    q: VecDeque<(T, V)>,
}

impl<T: Time, V: Value, const MAX: bool> Mono<T, V, MAX> {
    /// Whether `v` beats `best` strictly (a tie goes to the newer point).
    #[inline(always)]
    fn beats(v: V, best: V) -> bool {
        if MAX {
            v > best
        } else {
            v < best
        }
    }

    #[inline(always)]
    pub fn push(&mut self, ts: T, v: V) {
        while self.q.back().is_some_and(|&(_, b)| !Self::beats(b, v)) {
            self.q.pop_back();
        }
        self.q.push_back((ts, v));
    }

    /// Pops the entries that `best`, the maximum (minimum) of a newer batch, dominates.
    fn pop_dominated(&mut self, best: V) {
        while self.q.back().is_some_and(|&(_, b)| !Self::beats(b, best)) {
            self.q.pop_back();
        }
    }

    pub fn evict(&mut self, cutoff: T) {
        while self.q.front().is_some_and(|&(t, _)| t <= cutoff) {
            self.q.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.q.clear();
    }

    #[cfg(test)]
    pub fn entries(&self) -> Vec<(T, V)> {
        self.q.iter().copied().collect()
    }

    pub fn best(&self) -> Option<V> {
        self.q.front().map(|&(_, v)| v)
    }
}

/// Appends a batch of in-order points (`ts` sorted, none before either deque's back) to
/// both deques, in one backward scan that collects the batch's suffix maxima and minima
/// (`scratch` holds them between calls to spare an allocation). The scan moves in blocks
/// of 64 whose extremes are computed without branches (vectorised; with AVX2 when the
/// CPU has it) and looks inside a block only when it holds a new record, which on most
/// data is rare: van Herk/Gil-Werman's backward pass, skipping where nothing changes.
pub fn push_sorted<T: Time, V: Value>(
    max: &mut Mono<T, V, true>,
    min: &mut Mono<T, V, false>,
    ts: &[T],
    vs: &[V],
    scratch: &mut Vec<(usize, bool)>,
) {
    let Some(last) = vs.len().checked_sub(1) else {
        return;
    };
    scratch.clear();
    let (hi, lo) = records(vs, scratch);
    max.pop_dominated(hi);
    min.pop_dominated(lo);
    // Oldest record first; the batch's last point closes both deques.
    for &(i, is_max) in scratch.iter().rev() {
        if is_max {
            max.q.push_back((ts[i], vs[i]));
        } else {
            min.q.push_back((ts[i], vs[i]));
        }
    }
    max.q.push_back((ts[last], vs[last]));
    min.q.push_back((ts[last], vs[last]));
}

/// Values per block of the record scan.
const BLOCK: usize = 64;

/// The suffix records of `vs` (non-empty) before its last value, newest first, and the
/// batch maximum and minimum. Blocks are aligned to the end of `vs[..last]`; a block is
/// scanned value by value only when its extremes beat the records so far.
fn records<V: Value>(vs: &[V], out: &mut Vec<(usize, bool)>) -> (V, V) {
    let last = vs.len() - 1;
    let (mut hi, mut lo) = (vs[last], vs[last]);
    let mut scan = |i: usize, hi: &mut V, lo: &mut V| {
        let v = vs[i];
        if v > *hi {
            *hi = v;
            out.push((i, true));
        }
        if v < *lo {
            *lo = v;
            out.push((i, false));
        }
    };
    let (head, blocks) = vs[..last].as_rchunks::<BLOCK>();
    let extremes = block_extremes(blocks);
    for (k, &(bmax, bmin)) in extremes.iter().enumerate().rev() {
        if bmax > hi || bmin < lo {
            let start = head.len() + k * BLOCK;
            for i in (start..start + BLOCK).rev() {
                scan(i, &mut hi, &mut lo);
            }
        }
    }
    for i in (0..head.len()).rev() {
        scan(i, &mut hi, &mut lo);
    }
    (hi, lo)
}

/// (max, min) of each block, in a pass of its own so that it vectorises (with AVX2 when
/// the CPU has it): each block is eight rows of eight, folded row-wise, then across.
fn block_extremes<V: Value>(blocks: &[[V; BLOCK]]) -> Vec<(V, V)> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { block_extremes_avx2(blocks) };
    }
    block_extremes_body(blocks)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn block_extremes_avx2<V: Value>(blocks: &[[V; BLOCK]]) -> Vec<(V, V)> {
    block_extremes_body(blocks)
}

#[inline(always)]
fn block_extremes_body<V: Value>(blocks: &[[V; BLOCK]]) -> Vec<(V, V)> {
    // A plain loop: an iterator's closure would be compiled outside the AVX2 function.
    let mut out = Vec::with_capacity(blocks.len());
    for block in blocks {
        let (rows, _) = block.as_chunks::<8>();
        out.push((best_of(rows, gt), best_of(rows, lt)));
    }
    out
}

/// The best of a block's 64 values, by trees rather than chains: each level's selects
/// are independent of each other, so they overlap.
#[inline(always)]
fn best_of<V: Value>(r: &[[V; 8]], better: fn(V, V) -> bool) -> V {
    let (a, b) = (pick(r[0], r[1], better), pick(r[2], r[3], better));
    let (c, d) = (pick(r[4], r[5], better), pick(r[6], r[7], better));
    fold8(pick(pick(a, b, better), pick(c, d, better), better), better)
}

#[inline(always)]
fn gt<V: Value>(a: V, b: V) -> bool {
    a > b
}

#[inline(always)]
fn lt<V: Value>(a: V, b: V) -> bool {
    a < b
}

/// Lane-wise `if better(a, b) { a } else { b }`.
#[inline(always)]
fn pick<V: Value>(a: [V; 8], b: [V; 8], better: fn(V, V) -> bool) -> [V; 8] {
    let mut out = b;
    for i in 0..8 {
        out[i] = if better(a[i], b[i]) { a[i] } else { b[i] };
    }
    out
}

/// The best of eight lanes, by halves.
#[inline(always)]
fn fold8<V: Value>(m: [V; 8], better: fn(V, V) -> bool) -> V {
    let p = |a: V, b: V| if better(a, b) { a } else { b };
    let q = [p(m[0], m[4]), p(m[1], m[5]), p(m[2], m[6]), p(m[3], m[7])];
    p(p(q[0], q[2]), p(q[1], q[3]))
}

/// A heap entry ordered by `(a, b)` under the numbers' total order.
#[derive(Clone, Copy, Debug)]
pub struct Key<A, B>(pub A, pub B);

impl<A: Num, B: Num> PartialEq for Key<A, B> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<A: Num, B: Num> Eq for Key<A, B> {}

impl<A: Num, B: Num> PartialOrd for Key<A, B> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<A: Num, B: Num> Ord for Key<A, B> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .total_cmp(&other.0)
            .then_with(|| self.1.total_cmp(&other.1))
    }
}

/// The late points held, see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct Late<T: Num, V: Num> {
    by_ts: BinaryHeap<Reverse<Key<T, V>>>,
    max: BinaryHeap<Key<V, T>>,
    min: BinaryHeap<Reverse<Key<V, T>>>,
}

/// Below this many entries dead ones are left for the tops to find.
const PURGE_SLACK: usize = 32;

impl<T: Time, V: Value> Late<T, V> {
    pub fn len(&self) -> usize {
        self.by_ts.len()
    }

    pub fn push(&mut self, ts: T, v: V) {
        self.by_ts.push(Reverse(Key(ts, v)));
        self.max.push(Key(v, ts));
        self.min.push(Reverse(Key(v, ts)));
    }

    /// Removes the points with ts ≤ `cutoff`, handing each value to `gone`; returns how
    /// many left.
    pub fn evict(&mut self, cutoff: T, mut gone: impl FnMut(V)) -> usize {
        let mut n = 0;
        while let Some(&Reverse(Key(t, v))) = self.by_ts.peek() {
            if t > cutoff {
                break;
            }
            self.by_ts.pop();
            gone(v);
            n += 1;
        }
        if n == 0 {
            return 0;
        }
        while self.max.peek().is_some_and(|k| k.1 <= cutoff) {
            self.max.pop();
        }
        while self.min.peek().is_some_and(|k| k.0 .1 <= cutoff) {
            self.min.pop();
        }
        let live = self.by_ts.len();
        if self.max.len() > 2 * live + PURGE_SLACK {
            self.max.retain(|k| k.1 > cutoff);
        }
        if self.min.len() > 2 * live + PURGE_SLACK {
            self.min.retain(|k| k.0 .1 > cutoff);
        }
        n
    }

    pub fn max(&self) -> Option<V> {
        self.max.peek().map(|k| k.0)
    }

    pub fn min(&self) -> Option<V> {
        self.min.peek().map(|k| k.0 .0)
    }

    /// The late points, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (T, V)> + '_ {
        self.by_ts.iter().map(|&Reverse(Key(t, v))| (t, v))
    }
}
