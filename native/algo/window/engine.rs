//! The engine's state and its event loop: watermark, assignment, updates, emission,
//! lateness, purge and the open-window bound. Sessions live in `session.rs`, bytes in
//! `format.rs`; the semantics are described in `mod.rs`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::{Index, IndexMut};
use std::sync::Arc;

use super::assign::sliding_starts;
use super::batch::Batch;
use super::measures::{values, Acc, Accs, Input, MeasureKind, Num, Value};
use super::spec::{Config, WindowKind};
use super::MAX_TIME;
use crate::algo::error::{Error, Result};
use crate::algo::watermark::{PartitionRef, Time, WatermarkTracker};

/// A result: a window's values at one emission.
#[derive(Clone, Debug)]
pub struct Emission {
    /// The encoded group-by values (see `batch::decode_key`).
    pub key: Arc<[u8]>,
    pub start: i64,
    pub end: i64,
    /// One value per measure, in the config's order; empty for a retraction. Shared
    /// with the window, which keeps it as the `previous` of its next emission.
    pub values: Arc<[Value]>,
    /// 0 for the first emission of the window `(key, start)`, then +1 per amendment.
    pub revision: u32,
    /// The values of the emission this one replaces.
    pub previous: Option<Arc<[Value]>>,
    /// The window no longer exists: a session merged into another or moved its start.
    pub retracted: bool,
    /// The engine's id of the series: a caller's index for what it keeps per series
    /// (ids are reused once a series is dropped; `key`, shared, tells them apart). Not
    /// part of the result: equality ignores it.
    pub series: u32,
}

impl PartialEq for Emission {
    fn eq(&self, o: &Self) -> bool {
        (self.start, self.end, self.revision, self.retracted)
            == (o.start, o.end, o.revision, o.retracted)
            && self.key == o.key
            && self.values == o.values
            && self.previous == o.previous
    }
}

/// What a call produced: results in order, and the batch indices of too-late events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    pub results: Vec<Emission>,
    pub late: Vec<usize>,
    /// Per event of a processed batch: how many of `results` came out before the event
    /// was applied (results `marks[i]..` include it). Lets a caller that keeps more state
    /// per window (Python folds) see each emission exactly as of its point in the stream.
    pub marks: Vec<u32>,
}

/// Counters for metrics; they survive snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events that updated at least one window.
    pub events: u64,
    /// Events too late for every window they belong to (sent to the late output).
    pub late: u64,
    /// Updates of an accepted event skipped because that one window was past its
    /// lateness (a sliding window older than the event's others).
    pub late_windows: u64,
    /// First emissions (revision 0), amendments, retractions.
    pub emitted: u64,
    pub amended: u64,
    pub retracted: u64,
    /// First emissions forced before the watermark by the open-window bound.
    pub early: u64,
    /// Windows whose state was dropped once no event could reach them any more.
    pub purged: u64,
}

/// Which emission queue holds a window's live entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Queue {
    None,
    /// Never emitted, waiting for the watermark to reach its end: an open window.
    Pending,
    /// Emitted, changed since, waiting for the watermark to reach its (new) end.
    Amend,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Window {
    pub series: u32,
    pub start: i64,
    pub end: i64,
    pub accs: Accs,
    /// The revision of the latest emission; None before the first.
    pub revision: Option<u32>,
    pub last: Option<Arc<[Value]>>,
    pub queue: Queue,
    /// Bumped at every enqueue: only the entry carrying the current ticket is live.
    pub ticket: u32,
}

/// A queue entry: a window id and the ticket it was queued with.
pub(super) type Entry = (u32, u32);

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Series {
    pub key: Arc<[u8]>,
    /// `(start, window)`, sorted by start.
    pub windows: Vec<(i64, u32)>,
}

/// A vector of slots with a free list: stable ids, O(1) insert and remove.
#[derive(Clone, Debug)]
pub(super) struct Slab<T> {
    items: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    pub fn insert(&mut self, item: T) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.items[id as usize] = Some(item);
                id
            }
            None => {
                self.items.push(Some(item));
                u32::try_from(self.items.len() - 1).expect("fewer than 2^32 items")
            }
        }
    }

    pub fn remove(&mut self, id: u32) -> T {
        let item = self.items[id as usize].take().expect("a live slab id");
        self.free.push(id);
        item
    }

    pub fn get(&self, id: u32) -> Option<&T> {
        self.items.get(id as usize).and_then(Option::as_ref)
    }

    pub fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (i as u32, t)))
    }
}

impl<T> Index<u32> for Slab<T> {
    type Output = T;
    fn index(&self, id: u32) -> &T {
        self.items[id as usize].as_ref().expect("a live slab id")
    }
}

impl<T> IndexMut<u32> for Slab<T> {
    fn index_mut(&mut self, id: u32) -> &mut T {
        self.items[id as usize].as_mut().expect("a live slab id")
    }
}

/// A window's current state, for inspection (REQUIREMENTS DEC-7: state stays readable
/// after emission until it is purged).
#[derive(Clone, Debug, PartialEq)]
pub struct WindowState {
    pub key: Arc<[u8]>,
    pub start: i64,
    pub end: i64,
    pub values: Vec<Value>,
    /// The revision of the latest emission, None while never emitted.
    pub revision: Option<u32>,
}

/// The event-time window engine. See the module documentation.
#[derive(Clone, Debug)]
pub struct WindowEngine {
    pub(super) config: Config,
    pub(super) tracker: WatermarkTracker,
    /// The engine's watermark: the tracker's, never going back.
    pub(super) wm: Option<i64>,
    pub(super) windows: Slab<Window>,
    pub(super) series: Slab<Series>,
    pub(super) index: HashMap<Arc<[u8]>, u32, foldhash::fast::RandomState>,
    /// Window ids by end (or purge time); entries go stale when a window moves or dies,
    /// and are checked against the window when popped.
    pub(super) pending: BTreeMap<i64, VecDeque<Entry>>,
    pub(super) amend: BTreeMap<i64, VecDeque<Entry>>,
    pub(super) expiry: BTreeMap<i64, Vec<u32>>,
    pub(super) open: usize,
    /// The least watermark at which anything is due: a queued end or a purge time + 1
    /// (never above the truth; derived from the maps, so not serialised).
    pub(super) due: i64,
    pub(super) stats: Stats,
    /// Series that hold no window: kept (with their index entry) for the key's next
    /// window, swept once they outnumber the others by `IDLE_SERIES_SLACK`.
    pub(super) idle: usize,
}

/// How many more idle series than live ones an engine keeps. A series going empty and
/// coming back next window (a key with one event per window) then costs no key
/// allocation, index insert or removal; memory stays bounded by the live series.
pub(super) const IDLE_SERIES_SLACK: usize = 16_384;

/// A partition's progress during one `process` call.
struct Progress<'a> {
    partition: PartitionRef<'a>,
    now: Option<Time>,
    /// The largest time seen in the call; the largest the tracker was told.
    max: i64,
    told: i64,
    /// Tell the tracker once the partition's own watermark reaches this.
    gate: i64,
}

/// A time below every event time: the watermark of a partition announced but not heard.
const UNHEARD: f64 = -(MAX_TIME as f64) - 2.0;

impl WindowEngine {
    pub fn new(config: Config) -> Result<Self> {
        let tracker = WatermarkTracker::new(
            Time::Int(config.max_out_of_orderness),
            config.idle_timeout.map(Time::Int),
        )?;
        Ok(Self {
            config,
            tracker,
            wm: None,
            windows: Slab::default(),
            series: Slab::default(),
            index: HashMap::default(),
            pending: BTreeMap::new(),
            amend: BTreeMap::new(),
            expiry: BTreeMap::new(),
            open: 0,
            due: i64::MAX,
            stats: Stats::default(),
            idle: 0,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn tracker(&self) -> &WatermarkTracker {
        &self.tracker
    }

    /// The engine's watermark in epoch ms: None until every announced partition has
    /// produced an event (or gone idle). It never goes back.
    pub fn watermark(&self) -> Option<i64> {
        self.wm
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Windows not yet emitted.
    pub fn open_windows(&self) -> usize {
        self.open
    }

    /// Windows whose state is held (open, or emitted and still within lateness).
    pub fn window_count(&self) -> usize {
        self.windows.len()
    }

    /// Series holding at least one window.
    pub fn series_count(&self) -> usize {
        self.series.len() - self.idle
    }

    /// Every held window, by series then start. (Mutable because a digest merges its
    /// buffer before it answers.)
    pub fn window_states(&mut self) -> Vec<WindowState> {
        let mut out = Vec::with_capacity(self.windows.len());
        for (_, s) in self.series.iter() {
            for &(_, wid) in &s.windows {
                let w = &mut self.windows[wid];
                out.push(WindowState {
                    key: s.key.clone(),
                    start: w.start,
                    end: w.end,
                    values: values(&mut w.accs, &self.config.measures),
                    revision: w.revision,
                });
            }
        }
        out
    }

    /// Announces partitions before they speak: each holds the watermark back (at None)
    /// until its first event or until it goes idle, so a partition that starts late
    /// does not find its windows already emitted.
    pub fn expect_partitions(&mut self, partitions: &[PartitionRef<'_>]) -> Result<()> {
        for &p in partitions {
            if self.tracker.partition_watermark(p).is_none() {
                self.tracker.observe(p, Time::Float(UNHEARD), None)?;
            }
        }
        Ok(())
    }

    /// Processes a batch from one source partition, event by event in order: each event
    /// is judged against the watermark before it, then advances the watermark, so the
    /// output never depends on how a stream is cut into batches.
    ///
    /// `max_before[i]`, when given, is the partition's largest event time before event
    /// `i` among events not in this batch (a router that sent them to other engines) and
    /// `batch_max` that of the whole routed batch: the watermark then follows the whole
    /// partition. `now` is the caller's clock for idleness.
    pub fn process(
        &mut self,
        partition: PartitionRef<'_>,
        batch: &Batch,
        max_before: Option<&[i64]>,
        batch_max: Option<i64>,
        now: Option<i64>,
        out: &mut Output,
    ) -> Result<()> {
        if max_before.is_some_and(|m| m.len() != batch.len()) {
            return Err(Error::invalid_argument(
                "max_before must hold one time per event",
            ));
        }
        let mut seen = Progress {
            partition,
            now: now.map(Time::Int),
            max: i64::MIN,
            told: i64::MIN,
            gate: i64::MIN,
        };
        for i in 0..batch.len() {
            if let Some(m) = max_before {
                self.see(&mut seen, m[i], out)?;
            }
            out.marks.push(out.results.len() as u32);
            match self.config.kind {
                WindowKind::Session { gap } => self.session_event(i, batch, gap, out),
                kind => {
                    let (size, slide) = kind.grid().expect("a grid window");
                    self.grid_event(i, batch, size, slide, out);
                }
            }
            self.see(&mut seen, batch.ts[i], out)?;
            if self.open > self.config.max_open_windows {
                // Only windows the true watermark has not closed may be pushed out.
                self.tell(&mut seen, out)?;
                self.enforce_bound(out);
            }
        }
        if let Some(m) = batch_max {
            self.see(&mut seen, m, out)?;
        }
        // The tracker learns the partition's true maximum (and the clock) by the end.
        self.tell(&mut seen, out)
    }

    /// Notes that the partition reached `t`. The tracker is told only when the
    /// partition's own watermark reaches `gate`, the least watermark at which any
    /// decision could change (a window end, a lateness bound, a purge time): below it the
    /// combined watermark, which is at most the partition's, changes nothing, and the
    /// maximum is told at the end of the batch anyway.
    fn see(&mut self, p: &mut Progress<'_>, t: i64, out: &mut Output) -> Result<()> {
        if t <= p.max {
            return Ok(());
        }
        p.max = t;
        if t - self.config.max_out_of_orderness >= p.gate {
            self.tell(p, out)?;
        }
        Ok(())
    }

    fn tell(&mut self, p: &mut Progress<'_>, out: &mut Output) -> Result<()> {
        if p.max > p.told {
            self.observe(p.partition, p.max, p.now, out)?;
            p.told = p.max;
            p.gate = self.gate();
        }
        Ok(())
    }

    /// See [`Self::see`]: the least watermark at which something could happen.
    fn gate(&self) -> i64 {
        let Some(w) = self.wm else {
            return i64::MIN; // Until the first watermark, every event counts.
        };
        match self.config.kind.grid() {
            // Window ends lie on k·slide + size (a new window may be complete at once),
            // lateness bounds on those + lateness.
            Some((size, slide)) => {
                let next = |offset: i64| ((w - offset).div_euclid(slide) + 1) * slide + offset;
                self.due
                    .min(next(size))
                    .min(next(size + self.config.allowed_lateness))
            }
            // Session events are judged on their own windows, anywhere.
            None => i64::MIN,
        }
    }

    /// Processes one shard's part of a routed batch (see `route.rs`).
    pub fn process_routed(
        &mut self,
        part: &super::Routed,
        now: Option<i64>,
        out: &mut Output,
    ) -> Result<()> {
        let announce: Vec<PartitionRef<'_>> = part.announce.iter().map(|p| p.as_ref()).collect();
        self.expect_partitions(&announce)?;
        self.process(
            part.partition.as_ref(),
            &part.batch,
            Some(&part.max_before),
            part.batch_max,
            now,
            out,
        )
    }

    /// Advances the clock for idleness; emits what an idle partition was holding back.
    pub fn tick(&mut self, now: i64, out: &mut Output) -> Result<()> {
        if let Some(w) = self.tracker.tick(Time::Int(now))? {
            self.advance_to(w, out);
        }
        Ok(())
    }

    /// End of input: emits every window still waiting, in end order. The watermark and
    /// the state stay, so input that resumes later amends these windows.
    pub fn flush(&mut self, out: &mut Output) {
        self.release_until(i64::MAX, out);
        self.recompute_due();
    }

    fn observe(
        &mut self,
        partition: PartitionRef<'_>,
        t: i64,
        now: Option<Time>,
        out: &mut Output,
    ) -> Result<()> {
        let w = self.tracker.observe(partition, Time::Int(t), now)?;
        self.advance_to(w, out);
        Ok(())
    }

    fn advance_to(&mut self, w: f64, out: &mut Output) {
        if w < -(MAX_TIME as f64) {
            return; // An announced partition has not spoken yet.
        }
        let w = w as i64;
        if self.wm.is_some_and(|current| w <= current) {
            return;
        }
        self.wm = Some(w);
        if w < self.due {
            return; // The common case: no window ends and nothing expires yet.
        }
        self.release_until(w, out);
        self.purge(w);
        self.recompute_due();
    }

    pub(super) fn recompute_due(&mut self) {
        let first = |m: Option<i64>| m.unwrap_or(i64::MAX);
        self.due = first(self.pending.keys().next().copied())
            .min(first(self.amend.keys().next().copied()))
            .min(first(
                self.expiry.keys().next().map(|at| at.saturating_add(1)),
            ));
    }

    /// Assigns grid event `i` and updates each of its windows still within lateness.
    fn grid_event(&mut self, i: usize, batch: &Batch, size: i64, slide: i64, out: &mut Output) {
        let t = batch.ts[i];
        let lateness = self.config.allowed_lateness;
        let (mut series, mut skipped, mut updated) = (None, 0, false);
        for start in sliding_starts(t, size, slide) {
            let end = start + size;
            if self.wm.is_some_and(|w| end + lateness <= w) {
                skipped += 1;
                continue;
            }
            let sid = *series.get_or_insert_with(|| self.series_id(batch.key(i)));
            let wid = self.window_at(sid, start, end);
            self.update(wid, batch, i);
            self.touched(wid, out);
            updated = true;
        }
        self.accepted(i, updated, skipped, out);
    }

    pub(super) fn accepted(&mut self, i: usize, updated: bool, skipped: u64, out: &mut Output) {
        if updated {
            self.stats.events += 1;
            self.stats.late_windows += skipped;
        } else {
            self.stats.late += 1;
            out.late.push(i);
        }
    }

    /// The series of `key`, created idle if new: the caller lists a window in it.
    pub(super) fn series_id(&mut self, key: &[u8]) -> u32 {
        if let Some(&sid) = self.index.get(key) {
            return sid;
        }
        let key: Arc<[u8]> = Arc::from(key);
        let sid = self.series.insert(Series {
            key: key.clone(),
            windows: Vec::new(),
        });
        self.index.insert(key, sid);
        self.idle += 1;
        sid
    }

    /// The window `[start, end)` of series `sid`, created if needed.
    pub(super) fn window_at(&mut self, sid: u32, start: i64, end: i64) -> u32 {
        let windows = &self.series[sid].windows;
        match windows.binary_search_by_key(&start, |&(s, _)| s) {
            Ok(pos) => windows[pos].1,
            Err(pos) => {
                let wid = self.new_window(sid, start, end);
                self.list_window(sid, pos, start, wid);
                wid
            }
        }
    }

    /// Lists window `wid` at `pos` of its series, which may have been idle.
    pub(super) fn list_window(&mut self, sid: u32, pos: usize, start: i64, wid: u32) {
        let windows = &mut self.series[sid].windows;
        if windows.is_empty() {
            self.idle -= 1;
        }
        windows.insert(pos, (start, wid));
    }

    /// Series `sid` lost its last window: it stays idle, and idle series are dropped
    /// together once there are too many (amortised O(1) per series).
    pub(super) fn went_idle(&mut self) {
        self.idle += 1;
        if self.idle <= self.series.len() - self.idle + IDLE_SERIES_SLACK {
            return;
        }
        let idle: Vec<u32> = self
            .series
            .iter()
            .filter(|(_, s)| s.windows.is_empty())
            .map(|(sid, _)| sid)
            .collect();
        for sid in idle {
            let s = self.series.remove(sid);
            self.index.remove(&s.key);
        }
        self.idle = 0;
    }

    /// A fresh window, registered for purging but in no series list yet.
    pub(super) fn new_window(&mut self, sid: u32, start: i64, end: i64) -> u32 {
        let accs = self.config.measures.iter().map(Acc::new).collect();
        let wid = self.windows.insert(Window {
            series: sid,
            start,
            end,
            accs,
            revision: None,
            last: None,
            queue: Queue::None,
            ticket: 0,
        });
        let at = end + self.config.retention();
        self.expiry.entry(at).or_default().push(wid);
        self.due = self.due.min(at + 1);
        wid
    }

    pub(super) fn update(&mut self, wid: u32, batch: &Batch, i: usize) {
        let ts = batch.ts[i];
        let w = &mut self.windows[wid];
        for (acc, m) in w.accs.iter_mut().zip(&self.config.measures) {
            let input = match m.kind {
                MeasureKind::Count => Input {
                    num: Num::Null,
                    coupon: 0,
                    ts,
                },
                _ if m.coupons => Input {
                    num: Num::Null,
                    coupon: batch.coupons[m.slot][i],
                    ts,
                },
                _ => Input {
                    num: batch.nums[m.slot][i],
                    coupon: 0,
                    ts,
                },
            };
            acc.update(input);
        }
    }
}

impl WindowEngine {
    /// Our versioned image; see `format.rs`.
    pub fn to_bytes(&self) -> Vec<u8> {
        super::format::encode(self)
    }

    /// Reads [`Self::to_bytes`]; anything else is a `Corrupt` error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        super::format::decode(bytes)
    }
}
