//! Session windows: an event joins every session it touches, and bridges two into one.
//!
//! A session of events `first ≤ … ≤ last` is the window `[first, last + gap)`. An event
//! at `t` touches a session `[s, e)` when `s − gap ≤ t ≤ e` (inclusive both ways:
//! REQUIREMENTS STREAM-5, "≤ gap after the latest joins"). Sessions of one series are
//! disjoint and not touching, and every one spans at least `gap`, so an event touches at
//! most two: the one it extends and the next, which it bridges.
//!
//! Lateness is judged on the event's own window `[t, t + gap)`: too late iff
//! `t + gap + allowed_lateness ≤ watermark`. The decision then never depends on which
//! other events happen to be held, and a session's state is needed only while
//! `watermark ≤ end + gap + allowed_lateness`: an accepted event touching it has
//! `t ≤ end`, hence `t + gap + lateness ≤ end + gap + lateness`. That is the retention
//! (`Config::retention`).
//!
//! Results are identified by `(key, start)`. A session that moves its start (an event up
//! to a gap before it) or is absorbed by the session before it (a bridging event) no
//! longer exists under its old identity: if it was emitted, a retraction says so.

use super::batch::Batch;
use super::engine::{Output, WindowEngine};

impl WindowEngine {
    pub(super) fn session_event(&mut self, i: usize, batch: &Batch, gap: i64, out: &mut Output) {
        let t = batch.ts[i];
        let lateness = self.config.allowed_lateness;
        if self.wm.is_some_and(|w| t + gap + lateness <= w) {
            self.accepted(i, false, 0, out);
            return;
        }
        let sid = self.series_id(batch.key(i));
        let wid = match self.touching(sid, t, gap) {
            (None, _) => {
                let wid = self.new_window(sid, t, t + gap);
                let pos = self.series[sid].windows.partition_point(|&(s, _)| s < t);
                self.list_window(sid, pos, t, wid);
                wid
            }
            (Some(a), b) => {
                if let Some(b) = b {
                    self.absorb(a, b, out);
                }
                self.extend(a, t, t + gap, out);
                a
            }
        };
        self.update(wid, batch, i);
        self.touched(wid, out);
        self.accepted(i, true, 0, out);
    }

    /// The sessions of `sid` that `[t, t + gap]` touches, in start order.
    fn touching(&self, sid: u32, t: i64, gap: i64) -> (Option<u32>, Option<u32>) {
        let windows = &self.series[sid].windows;
        let upto = windows.partition_point(|&(s, _)| s <= t + gap);
        let touches = |k: usize| {
            let wid = windows[k].1;
            (self.windows[wid].end >= t).then_some(wid)
        };
        match upto {
            0 => (None, None),
            1 => (touches(0), None),
            n => match (touches(n - 2), touches(n - 1)) {
                (Some(a), b) => (Some(a), b),
                (None, b) => (b, None),
            },
        }
    }

    /// Grows session `wid` to cover `[start, end)`; a new start retracts the old one.
    fn extend(&mut self, wid: u32, start: i64, end: i64, out: &mut Output) {
        let w = &self.windows[wid];
        let (old_start, old_end) = (w.start, w.end);
        let (start, end) = (old_start.min(start), old_end.max(end));
        if start != old_start {
            self.retract(wid, out);
            let sid = self.windows[wid].series;
            let windows = &mut self.series[sid].windows;
            let pos = windows
                .iter()
                .position(|&(_, id)| id == wid)
                .expect("a session is listed in its series");
            // Still in place: the session before it ends before `start` (else touched).
            windows[pos].0 = start;
            self.windows[wid].start = start;
        }
        if end != old_end {
            self.windows[wid].end = end;
            let at = end + self.config.retention();
            self.expiry.entry(at).or_default().push(wid);
            self.due = self.due.min(at + 1);
        }
        if (start, end) != (old_start, old_end) {
            self.dequeue(wid);
        }
    }

    /// Folds session `b` into the session `a` before it; `b` is retracted if emitted.
    fn absorb(&mut self, a: u32, b: u32, out: &mut Output) {
        self.retract(b, out);
        let gone = self.remove_window(b);
        let end = gone.end;
        let w = &mut self.windows[a];
        for (acc, other) in w.accs.iter_mut().zip(gone.accs.iter()) {
            acc.merge(other);
        }
        let start = w.start;
        self.extend(a, start, end, out);
    }
}
