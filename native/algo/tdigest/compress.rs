//! How centroids grow: new values join their nearest centroid ([`Centroids::absorb`]), then
//! one sweep over the sorted centroids folds neighbours together as far as the scale
//! function allows ([`Centroids::compress`]).
//!
//! A centroid that starts at quantile `q` (counted from the end the pass starts at) may grow
//! to `n · Δ(q)` in weight, where
//!
//! ```text
//! Δ(q) = min(A · √(q(1 − q)), B · q(1 − q)) / δ,    A = 2.5, B = 36, δ = compression
//! ```
//!
//! The first term is the k1 (arcsine) scale of Dunning and Ertl, fine enough in the middle
//! for rank errors of a few 1e-5 (a centroid there holds at most 0.6 % of the weight); the
//! second is their k2 (logit) scale, which takes over where q(1 − q) < (A/B)² ≈ 0.0048
//! (outside about p0.5..p99.5) and shrinks centroids in proportion to the tail mass, so
//! that the last ~δ/B items at each end stay single points and the tail quantiles of
//! heavy-tailed data keep their value accuracy (see [`Limit`] for how it is evaluated).
//!
//! Two lossless rules come first: equal single values (points) always merge, and while the
//! digest holds at most [`EXACT_POINTS`] entries nothing else merges at all, so small
//! inputs are kept exactly.

/// Up to this many entries (distinct points or centroids) the digest never merges two
/// different values: every quantile of up to this many values is exact.
pub const EXACT_POINTS: usize = 100;

/// Scale-function constants, see the module documentation.
const ARCSINE: f64 = 2.5;
const LOGIT: f64 = 36.0;
/// q(1 − q) below which the logit term is the smaller: (A/B)².
const CROSSOVER: f64 = (ARCSINE / LOGIT) * (ARCSINE / LOGIT);

/// The centroids of a digest as parallel arrays, sorted by mean.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Centroids {
    pub means: Vec<f64>,
    pub weights: Vec<f64>,
    /// True for a centroid whose mass sits on a single value (one item, or equal items):
    /// its whole rank interval answers with its mean, exactly.
    pub points: Vec<bool>,
}

impl Centroids {
    pub fn len(&self) -> usize {
        self.means.len()
    }

    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }

    pub fn push(&mut self, (mean, weight, point): (f64, f64, bool)) {
        self.means.push(mean);
        self.weights.push(weight);
        self.points.push(point);
    }

    fn truncate(&mut self, len: usize) {
        self.means.truncate(len);
        self.weights.truncate(len);
        self.points.truncate(len);
    }

    /// Merges the sorted entries produced by `other(i)`, i < `count`, into these sorted
    /// centroids in place, from the back (no scratch memory). On equal means the entry
    /// already here comes first.
    pub fn merge_sorted(&mut self, count: usize, other: impl Fn(usize) -> (f64, f64, bool)) {
        if count == 0 {
            return;
        }
        let mut i = self.len();
        let total = i + count;
        self.means.resize(total, 0.0);
        self.weights.resize(total, 0.0);
        self.points.resize(total, false);
        let mut j = count;
        let mut out = total;
        while j > 0 {
            let (m, w, p) = other(j - 1);
            out -= 1;
            if i > 0 && self.means[i - 1] > m {
                i -= 1;
                self.means[out] = self.means[i];
                self.weights[out] = self.weights[i];
                self.points[out] = self.points[i];
            } else {
                j -= 1;
                self.means[out] = m;
                self.weights[out] = w;
                self.points[out] = p;
            }
        }
    }

    /// Folds the sorted entries `other(i)`, i < `count`, into these sorted centroids
    /// before a sweep: each entry joins the centroid with the nearest mean (the boundary is
    /// the midpoint of two means) when that centroid's size limit allows all that come to
    /// it; otherwise they stay separate entries, in order, for the sweep. `total` is the
    /// weight of both together.
    ///
    /// Greedy packing alone gives a new value between two centroids to whichever is open,
    /// so neighbours come to overlap in value and the rank of each mean drifts (about
    /// 2e-5 of rank error on top of the sampling noise at n = 10⁶); joining the nearest
    /// keeps each centroid's values contiguous.
    pub fn absorb(
        &mut self,
        count: usize,
        other: impl Fn(usize) -> (f64, f64, bool),
        total: f64,
        compression: f64,
    ) {
        if self.is_empty() || self.len() + count <= EXACT_POINTS {
            return self.merge_sorted(count, other);
        }
        debug_assert!(self.means.windows(2).all(|m| m[0] <= m[1]));
        // Each centroid's limit is taken where it stood before (its share of the old
        // weight; new entries spread about evenly), so all are computed up front in a loop
        // whose square roots pipeline, instead of on the branchy loop below.
        let limits = Limit::new(total, compression);
        let old_total: f64 = self.weights.iter().sum();
        let to_new = total / old_total;
        let mut old_before = 0.0;
        let limit: Vec<f64> = self
            .weights
            .iter()
            .map(|&w| {
                let l = limits.after(old_before * to_new);
                old_before += w;
                l
            })
            .collect();
        // In place: the old centroids move to the end, the result is written from the
        // front. Old centroid i sits at count + i, and after it is done at most i + 1 + j
        // entries are written (j ≤ count entries consumed), so writing never overtakes
        // reading.
        let k = self.len();
        self.means.resize(k + count, 0.0);
        self.weights.resize(k + count, 0.0);
        self.points.resize(k + count, false);
        self.means.copy_within(0..k, count);
        self.weights.copy_within(0..k, count);
        self.points.copy_within(0..k, count);
        let mut o = 0;
        let mut put = |c: &mut Centroids, (m, w, p): (f64, f64, bool)| {
            c.means[o] = m;
            c.weights[o] = w;
            c.points[o] = p;
            o += 1;
        };
        let mut j = 0;
        for (i, &limit) in limit.iter().enumerate() {
            let at = count + i;
            let (m, w, p) = (self.means[at], self.weights[at], self.points[at]);
            let bound = if i + 1 < k {
                0.5 * m + 0.5 * self.means[at + 1]
            } else {
                f64::INFINITY
            };
            let start = j;
            let (mut add, mut moment, mut same) = (0.0, 0.0, p);
            while j < count {
                let (x, xw, xp) = other(j);
                if x >= bound {
                    break;
                }
                add += xw;
                moment += x * xw;
                same &= xp && x == m;
                j += 1;
            }
            if start == j {
                put(self, (m, w, p));
            } else if same {
                put(self, (m, w + add, true));
            } else if w + add <= limit {
                // The mean of values in [lo, hi], kept there despite rounding.
                let (lo, hi) = (other(start).0.min(m), other(j - 1).0.max(m));
                // Branch-free, so nothing waits for the division.
                let mean = ((m * w + moment) / (w + add)).max(lo).min(hi);
                put(self, (mean, w + add, false));
            } else {
                let below = (start..j).take_while(|&t| other(t).0 < m).count();
                (start..start + below).for_each(|t| put(self, other(t)));
                put(self, (m, w, p));
                (start + below..j).for_each(|t| put(self, other(t)));
            }
        }
        self.truncate(o);
    }

    /// Merges neighbours under the scale function for `compression`, sweeping from the
    /// right when `reverse` (alternating the direction cancels the drift each sweep gives
    /// its own end). Means stay sorted: each new mean is clamped into the span of the
    /// values it averages.
    /// `total` is the sum of the weights (used for the size limits only).
    pub fn compress(&mut self, compression: f64, total: f64, reverse: bool) {
        let lossy = self.len() > EXACT_POINTS;
        let limits = Limit::new(total, compression);
        let kept = if reverse {
            self.sweep::<true>(&limits, lossy)
        } else {
            self.sweep::<false>(&limits, lossy)
        };
        if reverse {
            let start = self.len() - kept;
            self.means.copy_within(start.., 0);
            self.weights.copy_within(start.., 0);
            self.points.copy_within(start.., 0);
        }
        self.truncate(kept);
    }

    /// One sweep in place; returns how many centroids it kept. Reading position `i` and
    /// writing position `out` both count from the starting end, and `out ≤ i`.
    fn sweep<const REV: bool>(&mut self, limits: &Limit, lossy: bool) -> usize {
        let len = self.len();
        if len == 0 {
            return 0;
        }
        let at = |i: usize| if REV { len - 1 - i } else { i };
        // A centroid starting at entry i has exactly the weight of entries 0..i before it,
        // so every entry's limit can be computed up front, where the square roots pipeline,
        // rather than one at a time on the sweep's serial path.
        let mut before = 0.0;
        let limit_at: Vec<f64> = (0..len)
            .map(|i| {
                let l = limits.after(before);
                before += self.weights[at(i)];
                l
            })
            .collect();

        // The running centroid: Σ m·w and Σ w, its first and last input mean, and whether
        // it is still one value (then its mean is `first`, exactly).
        let mut weight = self.weights[at(0)];
        let mut moment = self.means[at(0)] * weight;
        let mut point = self.points[at(0)];
        let (mut first, mut last) = (self.means[at(0)], self.means[at(0)]);
        let mut limit = limit_at[0];
        let mut out = 0;
        for (i, &limit_here) in limit_at.iter().enumerate().skip(1) {
            let k = at(i);
            let (m, w, p) = (self.means[k], self.weights[k], self.points[k]);
            let same_point = point && p && m == first;
            if same_point || (lossy && weight + w <= limit) {
                weight += w;
                moment += m * w;
                point = same_point;
                last = m;
            } else {
                let o = at(out);
                self.means[o] = centroid_mean(point, first, last, moment, weight);
                self.weights[o] = weight;
                self.points[o] = point;
                out += 1;
                limit = limit_here;
                (weight, moment, point, first, last) = (w, m * w, p, m, m);
            }
        }
        let o = at(out);
        self.means[o] = centroid_mean(point, first, last, moment, weight);
        self.weights[o] = weight;
        self.points[o] = point;
        out + 1
    }
}

/// The mean of a finished centroid: its value if a point, else Σ m·w / Σ w clamped into
/// the span of the means it averaged (in either sweep direction), which keeps means sorted.
fn centroid_mean(point: bool, first: f64, last: f64, moment: f64, weight: f64) -> f64 {
    if point {
        first
    } else {
        (moment / weight).clamp(first.min(last), first.max(last))
    }
}

/// The size limit of a centroid starting at quantile q, as n·Δ(q), for one sweep.
///
/// In the tails (q(1 − q) below (A/B)², where the logit term is the smaller) Δ changes by
/// B/δ ≈ 18 % over one centroid, so it is evaluated at the centroid's midpoint (one step);
/// in the middle it changes by about 1 % and is evaluated at the start. No division, and
/// a square root only in the middle: a sweep evaluates it once for every entry.
struct Limit {
    inv_total: f64,
    /// n / δ and 1 / δ.
    per_unit: f64,
    inv: f64,
}

impl Limit {
    fn new(total: f64, compression: f64) -> Self {
        Self {
            inv_total: 1.0 / total,
            per_unit: total / compression,
            inv: 1.0 / compression,
        }
    }

    #[inline]
    fn after(&self, before: f64) -> f64 {
        let q = before * self.inv_total;
        let v = q * (1.0 - q);
        if v < CROSSOVER {
            let mid = q + 0.5 * self.inv * LOGIT * v;
            self.per_unit * LOGIT * (mid * (1.0 - mid)).max(0.0)
        } else {
            self.per_unit * ARCSINE * v.sqrt()
        }
    }
}
