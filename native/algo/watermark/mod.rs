//! Event-time watermarks over partitioned input, with idleness.
//!
//! A watermark is the tracker's promise that no more events older than it are expected;
//! a window engine closes windows once the watermark passes their end. The model is the
//! bounded-out-of-orderness generator of Flink and Beam (Akidau et al., "The Dataflow
//! Model", VLDB 2015), kept per source partition:
//!
//! * **Partition watermark** = the largest timestamp the partition has produced minus
//!   `max_out_of_orderness`. It never goes backwards; processing time never enters it.
//! * **Tracker watermark** = the minimum over *active* partitions: the slowest live
//!   partition holds everybody back.
//! * **Idleness.** A partition silent for longer than `idle_timeout` on the caller's clock
//!   (the `now` readings passed to `observe` and `tick`; the tracker never reads a clock
//!   itself) becomes idle at the next `tick` and stops holding the watermark back. If every
//!   partition is idle the watermark is the maximum over them, so a quiet source does not
//!   freeze its windows. A partition that speaks again is active again.
//!
//! **Monotonicity.** Beyond the partition watermarks, the tracker watermark never goes
//! backwards either, with one deliberate exception:
//!
//! * When an idle partition resumes, its contribution is floored at the tracker watermark
//!   of that moment, so the watermark holds instead of falling back; its events behind the
//!   watermark are late. This is what Flink does (its output watermark is monotone): windows
//!   already emitted stay emitted.
//! * A partition seen for the first time joins the minimum with its own watermark and may
//!   lower the tracker watermark (REQUIREMENTS STREAM-7: p1 at 8000, then p2's first event
//!   at 6000 gives 6000). The tracker cannot know of a partition before it speaks, and at
//!   start-up partitions appear one by one; a window engine must therefore emit a window
//!   at most once even if the watermark dips below its end again.
//!
//! Timestamps are any consistent unit (epoch ms, µs, seconds as floats), kept as `f64`.
//! Integers must lie within ±(2^53 − 1), where `f64` is exact (epoch µs fits; epoch ns
//! does not and is refused rather than rounded); arithmetic on them (ts − out-of-orderness,
//! watermark − lateness) is exact while results stay within ±2^53. The tracker remembers
//! whether it was only given integers, so that callers can answer in the caller's type.
//!
//! Cost: `observe` is O(1) except when it advances the partition that holds the
//! watermark, which rescans the partitions (O(P)); `tick` is O(P). A batch of timestamps
//! from one partition costs one pass to find its maximum, then one `observe`.
//!
//! Choose something else for watermarks driven by processing time (ingestion-time
//! windows need no tracker) or by punctuation events in the stream.

mod format;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::algo::error::{Error, Result};

/// The largest integer magnitude an `f64` holds exactly.
pub const MAX_EXACT_INT: i64 = (1 << 53) - 1;

/// A partition's name, as the caller gave it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PartitionKey {
    Int(i64),
    Str(String),
}

/// A borrowed [`PartitionKey`], for lookups that should not allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionRef<'a> {
    Int(i64),
    Str(&'a str),
}

impl PartitionKey {
    pub fn as_ref(&self) -> PartitionRef<'_> {
        match self {
            PartitionKey::Int(v) => PartitionRef::Int(*v),
            PartitionKey::Str(s) => PartitionRef::Str(s),
        }
    }
}

impl PartitionRef<'_> {
    pub fn to_owned(self) -> PartitionKey {
        match self {
            PartitionRef::Int(v) => PartitionKey::Int(v),
            PartitionRef::Str(s) => PartitionKey::Str(s.to_owned()),
        }
    }
}

/// The error for an integer that `f64` cannot hold exactly.
pub fn too_wide(what: &str, value: impl std::fmt::Display) -> Error {
    Error::invalid_argument(format!(
        "{what} {value} is beyond ±(2^53 − 1), where float64 timestamps stop being exact; \
         use a coarser unit (milliseconds or microseconds)"
    ))
}

/// A timestamp, duration or clock reading as the caller gave it. Integers keep the
/// tracker's answers integral (see [`WatermarkTracker::integral_times`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Time {
    Int(i64),
    Float(f64),
}

impl Time {
    /// The value as `f64`, refusing what `f64` cannot hold exactly or at all.
    fn checked(self, what: &str) -> Result<f64> {
        match self {
            Time::Int(v) if v.unsigned_abs() <= MAX_EXACT_INT as u64 => Ok(v as f64),
            Time::Int(v) => Err(too_wide(what, v)),
            Time::Float(v) if v.is_finite() => Ok(v),
            Time::Float(v) => Err(Error::invalid_argument(format!(
                "{what} must be finite, got {v}"
            ))),
        }
    }

    fn checked_non_negative(self, what: &str) -> Result<f64> {
        let v = self.checked(what)?;
        if v < 0.0 {
            return Err(Error::invalid_argument(format!(
                "{what} must be ≥ 0, got {v}"
            )));
        }
        Ok(v)
    }

    fn is_int(self) -> bool {
        matches!(self, Time::Int(_))
    }
}

/// What a metrics exporter needs to know about one partition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartitionStatus {
    /// Its own watermark: max timestamp − `max_out_of_orderness`.
    pub watermark: f64,
    pub idle: bool,
    /// The clock reading of its latest event (None until the tracker has seen a clock).
    pub last_seen: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
struct Partition {
    key: PartitionKey,
    max_ts: f64,
    /// The tracker watermark when the partition last resumed from idleness, while its own
    /// watermark is still below it; `-inf` otherwise (so equal histories give equal state).
    floor: f64,
    last_seen: Option<f64>,
    idle: bool,
}

impl Partition {
    fn watermark(&self, out_of_orderness: f64) -> f64 {
        self.max_ts - out_of_orderness
    }

    /// What the partition contributes to the tracker watermark.
    fn effective(&self, out_of_orderness: f64) -> f64 {
        self.watermark(out_of_orderness).max(self.floor)
    }
}

/// Per-partition watermarks combined into one. See the module documentation.
#[derive(Clone, Debug)]
pub struct WatermarkTracker {
    out_of_orderness: f64,
    idle_timeout: Option<f64>,
    /// In order of first appearance: a partition's index is its id.
    partitions: Vec<Partition>,
    by_int: HashMap<i64, u32>,
    by_str: HashMap<String, u32>,
    /// The latest clock reading received (readings that go back are ignored).
    clock: Option<f64>,
    integral_times: bool,
    integral_clock: bool,
    /// Derived from the partitions (see `recompute`), cached because `observe` is hot.
    watermark: Option<f64>,
    active: usize,
}

impl PartialEq for WatermarkTracker {
    /// Equal configuration, clock and partitions (the lookup maps and cache follow).
    fn eq(&self, other: &Self) -> bool {
        self.out_of_orderness.to_bits() == other.out_of_orderness.to_bits()
            && self.idle_timeout == other.idle_timeout
            && self.clock == other.clock
            && self.integral_times == other.integral_times
            && self.integral_clock == other.integral_clock
            && self.partitions == other.partitions
    }
}

impl WatermarkTracker {
    /// A tracker with no partitions. Both arguments must be finite and ≥ 0; no
    /// `idle_timeout` means partitions never become idle.
    pub fn new(max_out_of_orderness: Time, idle_timeout: Option<Time>) -> Result<Self> {
        let out_of_orderness = max_out_of_orderness.checked_non_negative("max_out_of_orderness")?;
        let idle_timeout_given = idle_timeout;
        let idle_timeout = idle_timeout
            .map(|t| t.checked_non_negative("idle_timeout"))
            .transpose()?;
        Ok(Self {
            out_of_orderness,
            idle_timeout,
            partitions: Vec::new(),
            by_int: HashMap::new(),
            by_str: HashMap::new(),
            clock: None,
            integral_times: max_out_of_orderness.is_int(),
            integral_clock: idle_timeout_given.is_none_or(Time::is_int),
            watermark: None,
            active: 0,
        })
    }

    pub fn max_out_of_orderness(&self) -> f64 {
        self.out_of_orderness
    }

    pub fn idle_timeout(&self) -> Option<f64> {
        self.idle_timeout
    }

    /// True while `max_out_of_orderness` and every timestamp were given as integers:
    /// then every watermark, and every lag, is an integer too.
    pub fn integral_times(&self) -> bool {
        self.integral_times
    }

    /// True while `idle_timeout` (if any) and every clock reading were given as integers.
    pub fn integral_clock(&self) -> bool {
        self.integral_clock
    }

    /// The latest clock reading, if any.
    pub fn clock(&self) -> Option<f64> {
        self.clock
    }

    /// The tracker watermark: None until the first event.
    pub fn watermark(&self) -> Option<f64> {
        self.watermark
    }

    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    fn find(&self, key: PartitionRef<'_>) -> Option<usize> {
        let id = match key {
            PartitionRef::Int(v) => self.by_int.get(&v),
            PartitionRef::Str(s) => self.by_str.get(s),
        };
        id.map(|&id| id as usize)
    }

    /// The partition's own watermark; None for a partition that never produced an event.
    pub fn partition_watermark(&self, key: PartitionRef<'_>) -> Option<f64> {
        self.find(key)
            .map(|i| self.partitions[i].watermark(self.out_of_orderness))
    }

    /// Records that `partition` produced an event at `ts` (at clock reading `now`, when
    /// given) and returns the tracker watermark. A bad `ts` or `now` changes nothing.
    pub fn observe(&mut self, key: PartitionRef<'_>, ts: Time, now: Option<Time>) -> Result<f64> {
        let value = ts.checked("timestamp")?;
        let now = check_now(now)?;
        self.integral_times &= ts.is_int();
        Ok(self.apply(key, value, now))
    }

    /// Observes a batch of one partition's timestamps; the same as observing them one by
    /// one with the same `now`, except that a bad item (reported with its index) leaves the
    /// tracker untouched. Returns the watermark (None for an empty first batch).
    pub fn observe_many_f64(
        &mut self,
        key: PartitionRef<'_>,
        ts: &[f64],
        now: Option<Time>,
    ) -> Result<Option<f64>> {
        let now = check_now(now)?;
        let Some(max) = max_f64(ts)? else {
            return Ok(self.watermark);
        };
        self.integral_times = false;
        Ok(Some(self.apply(key, max, now)))
    }

    /// [`Self::observe_many_f64`] for timestamps of either kind (the integral flag then
    /// survives only if they are all integers).
    pub fn observe_many(
        &mut self,
        key: PartitionRef<'_>,
        ts: &[Time],
        now: Option<Time>,
    ) -> Result<Option<f64>> {
        if let Some(ints) = ts
            .iter()
            .map(|t| match t {
                Time::Int(v) => Some(*v),
                Time::Float(_) => None,
            })
            .collect::<Option<Vec<i64>>>()
        {
            return self.observe_many_i64(key, &ints, now);
        }
        let floats = ts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.checked("timestamp")
                    .map_err(|e| Error::invalid_argument(format!("{} (at index {i})", e.message)))
            })
            .collect::<Result<Vec<f64>>>()?;
        self.observe_many_f64(key, &floats, now)
    }

    /// [`Self::observe_many_f64`] for integer timestamps.
    pub fn observe_many_i64(
        &mut self,
        key: PartitionRef<'_>,
        ts: &[i64],
        now: Option<Time>,
    ) -> Result<Option<f64>> {
        let now = check_now(now)?;
        let Some(max) = max_i64(ts)? else {
            return Ok(self.watermark);
        };
        Ok(Some(self.apply(key, max as f64, now)))
    }

    /// The state change of one valid observation.
    fn apply(&mut self, key: PartitionRef<'_>, ts: f64, now: Option<(f64, bool)>) -> f64 {
        self.advance_clock(now);
        let ooo = self.out_of_orderness;
        let Some(i) = self.find(key) else {
            let wm = ts - ooo;
            // A new partition joins the minimum with its own watermark (STREAM-7).
            let combined = match self.watermark {
                Some(w) if self.active > 0 => w.min(wm),
                _ => wm,
            };
            self.insert(Partition {
                key: key.to_owned(),
                max_ts: ts,
                floor: f64::NEG_INFINITY,
                last_seen: self.clock,
                idle: false,
            });
            self.active += 1;
            self.watermark = Some(combined);
            return combined;
        };
        let current = self
            .watermark
            .expect("a known partition implies a watermark");
        let p = &mut self.partitions[i];
        let before = p.effective(ooo);
        let resumed = p.idle;
        if resumed {
            // Hold the watermark where it is rather than let it fall back.
            p.idle = false;
            p.floor = p.floor.max(current);
            self.active += 1;
        }
        p.max_ts = p.max_ts.max(ts);
        p.last_seen = self.clock;
        if p.watermark(ooo) >= p.floor {
            p.floor = f64::NEG_INFINITY;
        }
        let after = p.effective(ooo);
        if resumed {
            // It contributes at least `current`; it decides alone if nobody else is active.
            if self.active == 1 {
                self.watermark = Some(after);
            }
        } else if after > before && before == current {
            // It may have been the partition holding the watermark back.
            self.recompute();
        }
        self.watermark.expect("just observed")
    }

    fn insert(&mut self, partition: Partition) {
        let id = u32::try_from(self.partitions.len()).expect("fewer than 2^32 partitions");
        match &partition.key {
            PartitionKey::Int(v) => self.by_int.insert(*v, id),
            PartitionKey::Str(s) => self.by_str.insert(s.clone(), id),
        };
        self.partitions.push(partition);
    }

    fn advance_clock(&mut self, now: Option<(f64, bool)>) {
        let Some((now, is_int)) = now else { return };
        self.integral_clock &= is_int;
        match self.clock {
            Some(clock) => self.clock = Some(clock.max(now)),
            None => {
                // Partitions heard before the clock existed count as heard when it starts,
                // so that they too can time out.
                for p in &mut self.partitions {
                    p.last_seen = Some(now);
                }
                self.clock = Some(now);
            }
        }
    }

    /// Advances the clock to `now` and marks idle every partition silent for longer than
    /// `idle_timeout`. Returns the watermark.
    pub fn tick(&mut self, now: Time) -> Result<Option<f64>> {
        let now = check_now(Some(now))?;
        self.advance_clock(now);
        if let (Some(timeout), Some(clock)) = (self.idle_timeout, self.clock) {
            let mut changed = false;
            for p in &mut self.partitions {
                let silent = p.last_seen.is_some_and(|seen| clock - seen > timeout);
                if silent && !p.idle {
                    p.idle = true;
                    changed = true;
                }
            }
            if changed {
                self.recompute();
            }
        }
        Ok(self.watermark)
    }

    /// True iff `ts` < watermark − `allowed_lateness`; nothing is late before the first
    /// event.
    pub fn is_late(&self, ts: Time, allowed_lateness: Time) -> Result<bool> {
        let ts = ts.checked("timestamp")?;
        let lateness = allowed_lateness.checked_non_negative("allowed_lateness")?;
        Ok(self.watermark.is_some_and(|w| ts < w - lateness))
    }

    /// The active partition holding the watermark back (the first seen among equals) and
    /// how far the watermark trails the most advanced active partition. None before the
    /// first event and while every partition is idle.
    pub fn holdback(&self) -> Option<(&PartitionKey, f64)> {
        let ooo = self.out_of_orderness;
        let mut active = self.partitions.iter().filter(|p| !p.idle);
        let first = active.next()?;
        let (mut holder, mut low, mut high) = (first, first.effective(ooo), first.effective(ooo));
        for p in active {
            let e = p.effective(ooo);
            if e < low {
                (holder, low) = (p, e);
            }
            high = high.max(e);
        }
        Some((&holder.key, high - low))
    }

    /// Every partition in order of first appearance.
    pub fn partitions(&self) -> impl Iterator<Item = (&PartitionKey, PartitionStatus)> + '_ {
        self.partitions.iter().map(|p| {
            let status = PartitionStatus {
                watermark: p.watermark(self.out_of_orderness),
                idle: p.idle,
                last_seen: p.last_seen,
            };
            (&p.key, status)
        })
    }

    /// The watermark from scratch: the minimum over active partitions, or the maximum over
    /// all when every partition is idle.
    fn recompute(&mut self) {
        let ooo = self.out_of_orderness;
        let (mut low, mut high, mut active) = (f64::INFINITY, f64::NEG_INFINITY, 0);
        for p in &self.partitions {
            let e = p.effective(ooo);
            high = high.max(e);
            if !p.idle {
                low = low.min(e);
                active += 1;
            }
        }
        self.active = active;
        self.watermark = match (self.partitions.is_empty(), active) {
            (true, _) => None,
            (false, 0) => Some(high),
            _ => Some(low),
        };
    }

    /// Our versioned image; see `format.rs`.
    pub fn to_bytes(&self) -> Vec<u8> {
        format::encode(self)
    }

    /// Reads [`Self::to_bytes`]; anything else is a `Corrupt` error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        format::decode(bytes)
    }
}

fn check_now(now: Option<Time>) -> Result<Option<(f64, bool)>> {
    now.map(|t| Ok((t.checked("now")?, t.is_int()))).transpose()
}

/// Independent accumulators for the batch scans: they break the dependency chain of a
/// running maximum, so the loops vectorise (or at least pipeline).
const LANES: usize = 8;

/// The largest of `ts`, or an error naming the first value that is not finite.
fn max_f64(ts: &[f64]) -> Result<Option<f64>> {
    let mut max = [f64::NEG_INFINITY; LANES];
    // `v * 0.0` is NaN exactly when v is NaN or ±inf, and NaN sticks in a sum.
    let mut poison = [0.0f64; LANES];
    let chunks = ts.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for i in 0..LANES {
            max[i] = if chunk[i] > max[i] { chunk[i] } else { max[i] };
            poison[i] += chunk[i] * 0.0;
        }
    }
    for (i, &v) in rest.iter().enumerate() {
        max[i] = if v > max[i] { v } else { max[i] };
        poison[i] += v * 0.0;
    }
    if poison.iter().any(|p| p.is_nan()) {
        let (i, v) = ts
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite())
            .expect("found");
        return Err(Error::invalid_argument(format!(
            "timestamps must be finite, got {v} at index {i}"
        )));
    }
    let max = max.into_iter().fold(f64::NEG_INFINITY, f64::max);
    Ok((!ts.is_empty()).then_some(max))
}

/// The largest of `ts`, or an error naming the first value beyond ±(2^53 − 1).
fn max_i64(ts: &[i64]) -> Result<Option<i64>> {
    let (mut min, mut max) = ([i64::MAX; LANES], [i64::MIN; LANES]);
    let chunks = ts.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for i in 0..LANES {
            min[i] = min[i].min(chunk[i]);
            max[i] = max[i].max(chunk[i]);
        }
    }
    for (i, &v) in rest.iter().enumerate() {
        min[i] = min[i].min(v);
        max[i] = max[i].max(v);
    }
    let min = min.into_iter().fold(i64::MAX, i64::min);
    let max = max.into_iter().fold(i64::MIN, i64::max);
    if min < -MAX_EXACT_INT || max > MAX_EXACT_INT {
        let (i, &v) = ts
            .iter()
            .enumerate()
            .find(|(_, v)| v.unsigned_abs() > MAX_EXACT_INT as u64)
            .expect("found");
        Time::Int(v).checked(&format!("timestamp at index {i}"))?;
    }
    Ok((!ts.is_empty()).then_some(max))
}
