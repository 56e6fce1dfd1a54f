//! Quantiles and ranks from the centroids: one piecewise-linear map between rank and value.
//!
//! Centroid `i` owns the rank interval (W_i, W_i + w_i], W_i being the weight before it.
//! The map runs through these knots, in rank order:
//!
//! * a point (one value, however heavy) is flat: its whole interval answers with its value;
//! * any other centroid is one knot, its mean at the middle of its interval;
//! * the exact minimum owns rank (0, 1] and the exact maximum rank (n − 1, n], as single
//!   items do, when the end centroid is not a point (a point there *is* the extreme).
//!
//! Between knots it is linear. The knots rise in both rank and value (means are kept
//! sorted and within [min, max]), and every step of the evaluation is a correctly rounded
//! operation clamped to its segment, so `quantile` is monotone in q and `cdf` in x, also
//! in floating point. With single points only it is nearest rank, sorted[⌈q·n⌉ − 1].

use super::compress::Centroids;

/// Where the rank `t` lies between two knots (t0, v0) and (t1, v1), v0 ≤ v1, as a value.
fn value_between(t: f64, (t0, v0): (f64, f64), (t1, v1): (f64, f64)) -> f64 {
    if t <= t0 {
        return v0;
    }
    if t >= t1 {
        return v1;
    }
    (v0 + (v1 - v0) * ((t - t0) / (t1 - t0))).clamp(v0, v1)
}

/// Where the value `x` lies between two knots, v0 ≤ x < v1, as a rank.
fn rank_between(x: f64, (t0, v0): (f64, f64), (t1, v1): (f64, f64)) -> f64 {
    if v1 <= v0 || t1 <= t0 {
        return t0;
    }
    (t0 + (t1 - t0) * ((x - v0) / (v1 - v0))).clamp(t0, t1)
}

/// `q·n`, snapped to an integer when it is one up to the rounding of q's binary
/// representation: p90 of 20 values is rank 18 as in decimal, not 18 + 4e-15.
fn rank_of(q: f64, n: f64) -> f64 {
    let t = q * n;
    let r = t.round();
    if (t - r).abs() <= 4.0 * f64::EPSILON * t {
        r
    } else {
        t
    }
}

/// The sorted centroids with their cumulative weights and the exact extremes.
pub struct View<'a> {
    pub c: &'a Centroids,
    /// `cum[i]` = total weight of centroids 0..=i.
    pub cum: &'a [f64],
    pub min: f64,
    pub max: f64,
}

impl View<'_> {
    fn start(&self, i: usize) -> f64 {
        if i == 0 {
            0.0
        } else {
            self.cum[i - 1]
        }
    }

    fn center(&self, i: usize) -> f64 {
        self.start(i) + 0.5 * self.c.weights[i]
    }

    /// The knot through which the map enters centroid `i` from the left.
    fn left_knot(&self, i: usize) -> (f64, f64) {
        let t = if self.c.points[i] {
            self.start(i)
        } else {
            self.center(i)
        };
        (t, self.c.means[i])
    }

    /// The knot through which the map leaves centroid `i` to the right.
    fn right_knot(&self, i: usize) -> (f64, f64) {
        let t = if self.c.points[i] {
            self.cum[i]
        } else {
            self.center(i)
        };
        (t, self.c.means[i])
    }

    /// The knot of the exact minimum, left of a first centroid that is not a point.
    fn min_knot(&self) -> (f64, f64) {
        (self.center(0).min(1.0), self.min)
    }

    /// The knot of the exact maximum, right of a last centroid that is not a point.
    fn max_knot(&self) -> (f64, f64) {
        let last = self.cum.len() - 1;
        ((self.cum[last] - 1.0).max(self.center(last)), self.max)
    }

    /// The value at quantile q ∈ [0, 1]; NaN when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        let k = self.cum.len();
        if k == 0 {
            return f64::NAN;
        }
        if q <= 0.0 {
            return self.min;
        }
        if q >= 1.0 {
            return self.max;
        }
        let t = rank_of(q, self.cum[k - 1]);
        let i = self.cum.partition_point(|&e| e < t).min(k - 1);
        if self.c.points[i] {
            return self.c.means[i];
        }
        let here = (self.center(i), self.c.means[i]);
        if t <= here.0 {
            let before = if i == 0 {
                self.min_knot()
            } else {
                self.right_knot(i - 1)
            };
            value_between(t, before, here)
        } else {
            let after = if i + 1 == k {
                self.max_knot()
            } else {
                self.left_knot(i + 1)
            };
            value_between(t, here, after)
        }
    }

    /// The fraction of the weight at or below x; NaN when empty.
    pub fn cdf(&self, x: f64) -> f64 {
        let k = self.cum.len();
        if k == 0 {
            return f64::NAN;
        }
        if x < self.min {
            return 0.0;
        }
        if x >= self.max {
            return 1.0;
        }
        let n = self.cum[k - 1];
        // The first centroid whose mean exceeds x; x ≥ min, so a point at the minimum is
        // always passed and j = 0 means a first centroid that is not a point.
        let j = self.c.means.partition_point(|&m| m <= x);
        let t = if j == 0 {
            rank_between(x, self.min_knot(), self.left_knot(0))
        } else if j == k {
            rank_between(x, self.right_knot(k - 1), self.max_knot())
        } else {
            rank_between(x, self.right_knot(j - 1), self.left_knot(j))
        };
        (t / n).clamp(0.0, 1.0)
    }
}
