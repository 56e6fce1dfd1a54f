//! Emission queues, revisions, retractions, purging and the open-window bound: what
//! happens to a window after an event changed it or the watermark moved.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::engine::{Emission, Entry, Output, Queue, Window, WindowEngine};
use super::measures::{values, Value};

impl WindowEngine {
    /// After a window changed: emit it now if the watermark has passed its end,
    /// otherwise make sure it waits in the right queue.
    pub(super) fn touched(&mut self, wid: u32, out: &mut Output) {
        let w = &self.windows[wid];
        if self.wm.is_some_and(|current| w.end <= current) {
            self.dequeue(wid);
            self.emit(wid, out);
        } else if w.queue == Queue::None {
            self.enqueue(wid);
        }
    }

    pub(super) fn enqueue(&mut self, wid: u32) {
        let w = &mut self.windows[wid];
        let (queue, map) = match w.revision {
            None => {
                self.open += 1;
                (Queue::Pending, &mut self.pending)
            }
            Some(_) => (Queue::Amend, &mut self.amend),
        };
        w.queue = queue;
        w.ticket = w.ticket.wrapping_add(1);
        map.entry(w.end).or_default().push_back((wid, w.ticket));
        self.due = self.due.min(w.end);
    }

    /// Leaves the window's queue (its entry goes stale).
    pub(super) fn dequeue(&mut self, wid: u32) {
        let w = &mut self.windows[wid];
        if w.queue == Queue::Pending {
            self.open -= 1;
        }
        w.queue = Queue::None;
    }

    pub(super) fn emit(&mut self, wid: u32, out: &mut Output) {
        let w = &mut self.windows[wid];
        let values: Arc<[Value]> = values(&mut w.accs, &self.config.measures);
        let revision = w.revision.map_or(0, |r| r + 1);
        let previous = w.last.replace(values.clone());
        w.revision = Some(revision);
        if revision == 0 {
            self.stats.emitted += 1;
        } else {
            self.stats.amended += 1;
        }
        out.results.push(Emission {
            key: self.series[w.series].key.clone(),
            start: w.start,
            end: w.end,
            values,
            revision,
            previous,
            retracted: false,
            series: w.series,
        });
    }

    /// Emits a retraction of the window as last emitted (if it was) and forgets its
    /// emissions: what follows is a new window as far as results go.
    pub(super) fn retract(&mut self, wid: u32, out: &mut Output) {
        let w = &mut self.windows[wid];
        let Some(revision) = w.revision.take() else {
            return;
        };
        if w.queue == Queue::Amend {
            w.queue = Queue::None;
        }
        self.stats.retracted += 1;
        out.results.push(Emission {
            key: self.series[w.series].key.clone(),
            start: w.start,
            end: w.end,
            values: Arc::from([]),
            revision: revision + 1,
            previous: w.last.take(),
            retracted: true,
            series: w.series,
        });
    }

    pub(super) fn is_live(&self, (wid, ticket): Entry, end: i64, queue: Queue) -> bool {
        self.windows
            .get(wid)
            .is_some_and(|w| w.ticket == ticket && w.end == end && w.queue == queue)
    }

    /// Emits, in end order, every queued window whose end is ≤ `limit`.
    pub(super) fn release_until(&mut self, limit: i64, out: &mut Output) {
        loop {
            let first = |m: &BTreeMap<i64, VecDeque<Entry>>| m.keys().next().copied();
            let (end, queue) = match (first(&self.pending), first(&self.amend)) {
                (Some(p), Some(a)) if a < p => (a, Queue::Amend),
                (Some(p), _) => (p, Queue::Pending),
                (None, Some(a)) => (a, Queue::Amend),
                (None, None) => return,
            };
            if end > limit {
                return;
            }
            let map = match queue {
                Queue::Pending => &mut self.pending,
                _ => &mut self.amend,
            };
            let entries = map.remove(&end).expect("a present key");
            for entry in entries {
                if self.is_live(entry, end, queue) {
                    self.dequeue(entry.0);
                    self.emit(entry.0, out);
                }
            }
        }
    }

    /// Drops the windows no event can reach any more: watermark > end + retention.
    pub(super) fn purge(&mut self, wm: i64) {
        while let Some(entry) = self.expiry.first_entry() {
            let at = *entry.key();
            if at >= wm {
                return;
            }
            let retention = self.config.retention();
            for wid in entry.remove() {
                if self
                    .windows
                    .get(wid)
                    .is_some_and(|w| w.end + retention == at)
                {
                    self.remove_window(wid);
                    self.stats.purged += 1;
                }
            }
        }
    }

    /// Removes a window from its series (which may go idle).
    pub(super) fn remove_window(&mut self, wid: u32) -> Window {
        let w = self.windows.remove(wid);
        if w.queue == Queue::Pending {
            self.open -= 1;
        }
        let series = &mut self.series[w.series];
        series.windows.retain(|&(_, id)| id != wid);
        if series.windows.is_empty() {
            self.went_idle();
        }
        w
    }

    /// Emits the oldest open windows early (smallest end, then first opened) while more
    /// than `max_open_windows` are open
    /// (REQUIREMENTS STREAM-12). They stay held, so later events amend them.
    pub(super) fn enforce_bound(&mut self, out: &mut Output) {
        while self.open > self.config.max_open_windows {
            let Some(mut entry) = self.pending.first_entry() else {
                return;
            };
            let end = *entry.key();
            let popped = entry.get_mut().pop_front();
            if entry.get().is_empty() {
                entry.remove();
            }
            if let Some((wid, _)) = popped.filter(|&e| self.is_live(e, end, Queue::Pending)) {
                self.dequeue(wid);
                self.emit(wid, out);
                self.stats.early += 1;
            }
        }
    }
}
