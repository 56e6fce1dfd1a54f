//! Our WindowEngine image, version 1 (little-endian). Self-contained: the configuration
//! travels with the state, so a snapshot restores a working engine on its own.
//!
//! ```text
//! header  b"DN" 0x05 0x01            codec header: type WindowEngine, version 1
//! config  u8 kind (0 tumbling, 1 sliding, 2 session), i64 size|gap, i64 slide (0 for
//!         sessions), i64 max_out_of_orderness, i64 allowed_lateness,
//!         u8 idle set + i64 idle_timeout, u64 max_open_windows, str time_field,
//!         u32 n + n × str group_by, u32 n + n × (str name, str spec) measures
//! tracker u32 length + WatermarkTracker image
//! wm      u8 set + i64
//! stats   8 × u64 (in `Stats` field order)
//! series  u32 n + n × (u32 length + encoded key)
//! windows u32 n + n × (u32 series, i64 start, i64 end, u8 flags: bit 0 emitted,
//!         u32 revision, [u32 n + values of the last emission if bit 0], one state per
//!         measure; a value is u8 tag 0 null, 1 + i128, 2 + f64, 3 + u32 length + bytes)
//! queues  pending then amend: u32 n + n × u32 window, in emission order
//! ```
//! str = u32 length + UTF-8. Purge times are derived. Invariants the engine relies on
//! (geometry of each window, disjoint sessions, queue membership) are checked on the way
//! in, so an image reads back as a working engine or is refused.

use std::collections::HashMap;
use std::sync::Arc;

use super::batch::decode_key;
use super::bytes::put_value;
use super::bytes::{get_bool, get_i64, get_u64, get_value, put_i64, put_u32, put_u64};
use super::engine::{Queue, Series, Window, WindowEngine};
use super::measures::Acc;
use super::spec::{Config, Params, WindowKind};
use crate::algo::codec::{read_header, write_header, Reader, TypeId};
use crate::algo::error::{Error, Result};
use crate::algo::watermark::WatermarkTracker;

const VERSION: u8 = 1;

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

fn get_str(r: &mut Reader<'_>, what: &str) -> Result<String> {
    let len = r.u32(what)? as usize;
    let bytes = r.take(len, what)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::corrupt(format!("{what} is not UTF-8")))
}

fn put_config(out: &mut Vec<u8>, c: &Config) {
    let (kind, a, b) = match c.kind {
        WindowKind::Tumbling { size } => (0, size, size),
        WindowKind::Sliding { size, slide } => (1, size, slide),
        WindowKind::Session { gap } => (2, gap, 0),
    };
    out.push(kind);
    for v in [a, b, c.max_out_of_orderness, c.allowed_lateness] {
        put_i64(out, v);
    }
    out.push(u8::from(c.idle_timeout.is_some()));
    put_i64(out, c.idle_timeout.unwrap_or(0));
    put_u64(out, c.max_open_windows as u64);
    put_str(out, &c.time_field);
    put_u32(out, c.group_by.len() as u32);
    c.group_by.iter().for_each(|g| put_str(out, g));
    put_u32(out, c.measures.len() as u32);
    for m in &c.measures {
        put_str(out, &m.name);
        put_str(out, &m.spec);
    }
}

fn get_config(r: &mut Reader<'_>) -> Result<Config> {
    let kind = r.u8("window kind")?;
    let (a, b) = (get_i64(r, "window size")?, get_i64(r, "window slide")?);
    let kind = match kind {
        0 if a == b => WindowKind::tumbling(a)?,
        1 => WindowKind::sliding(a, b)?,
        2 if b == 0 => WindowKind::session(a)?,
        k => return Err(Error::corrupt(format!("window kind {k} with {a}, {b}"))),
    };
    let max_out_of_orderness = get_i64(r, "max_out_of_orderness")?;
    let allowed_lateness = get_i64(r, "allowed_lateness")?;
    let idle_set = get_bool(r, "idle flag")?;
    let idle = get_i64(r, "idle_timeout")?;
    let max_open_windows = usize::try_from(get_u64(r, "max_open_windows")?)
        .map_err(|_| Error::corrupt("max_open_windows beyond this platform"))?;
    let time_field = get_str(r, "time field")?;
    let group_by = (0..r.u32("group-by count")?)
        .map(|_| get_str(r, "group-by field"))
        .collect::<Result<Vec<_>>>()?;
    let measures = (0..r.u32("measure count")?)
        .map(|_| Ok((get_str(r, "measure name")?, get_str(r, "measure spec")?)))
        .collect::<Result<Vec<_>>>()?;
    let params = Params {
        kind,
        group_by,
        time_field,
        max_out_of_orderness,
        allowed_lateness,
        idle_timeout: idle_set.then_some(idle),
        max_open_windows,
    };
    // A config that no longer validates is a corrupt image, not a user error.
    Config::new(params, &measures).map_err(|e| Error::corrupt(format!("bad config: {e}")))
}

pub fn encode(e: &WindowEngine) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + e.windows.len() * 64);
    write_header(&mut out, TypeId::WindowEngine, VERSION);
    put_config(&mut out, &e.config);
    let tracker = e.tracker.to_bytes();
    put_u32(&mut out, tracker.len() as u32);
    out.extend_from_slice(&tracker);
    out.push(u8::from(e.wm.is_some()));
    put_i64(&mut out, e.wm.unwrap_or(0));
    let s = e.stats;
    for v in [
        s.events,
        s.late,
        s.late_windows,
        s.emitted,
        s.amended,
        s.retracted,
        s.early,
        s.purged,
    ] {
        put_u64(&mut out, v);
    }
    // Series by key and windows by start: the image depends on the state, not on where
    // the slabs happened to put things.
    // Idle series (no window) are not state: they are left out.
    let mut series: Vec<(u32, &Series)> = e
        .series
        .iter()
        .filter(|(_, s)| !s.windows.is_empty())
        .collect();
    series.sort_unstable_by(|a, b| a.1.key.cmp(&b.1.key));
    put_u32(&mut out, series.len() as u32);
    for (_, s) in &series {
        put_u32(&mut out, s.key.len() as u32);
        out.extend_from_slice(&s.key);
    }
    let mut window_index = HashMap::new();
    put_u32(&mut out, e.windows.len() as u32);
    for (n, &(_, s)) in series.iter().enumerate() {
        for &(_, wid) in &s.windows {
            let w = &e.windows[wid];
            window_index.insert(wid, window_index.len() as u32);
            put_u32(&mut out, n as u32);
            put_i64(&mut out, w.start);
            put_i64(&mut out, w.end);
            out.push(u8::from(w.revision.is_some()));
            put_u32(&mut out, w.revision.unwrap_or(0));
            if let Some(last) = &w.last {
                put_u32(&mut out, last.len() as u32);
                last.iter().for_each(|v| put_value(&mut out, v));
            }
            w.accs.iter().for_each(|a| a.encode(&mut out));
        }
    }
    for (map, queue) in [(&e.pending, Queue::Pending), (&e.amend, Queue::Amend)] {
        let live: Vec<u32> = map
            .iter()
            .flat_map(|(&end, entries)| entries.iter().map(move |&entry| (end, entry)))
            .filter(|&(end, entry)| e.is_live(entry, end, queue))
            .map(|(_, (wid, _))| window_index[&wid])
            .collect();
        put_u32(&mut out, live.len() as u32);
        live.iter().for_each(|&i| put_u32(&mut out, i));
    }
    out
}

pub fn decode(bytes: &[u8]) -> Result<WindowEngine> {
    let (_, mut r) = read_header(bytes, TypeId::WindowEngine, VERSION)?;
    let config = get_config(&mut r)?;
    let len = r.u32("tracker length")? as usize;
    let tracker = WatermarkTracker::from_bytes(r.take(len, "tracker")?)?;
    let mut e = WindowEngine::new(config)?;
    let same = |a: f64, b: Option<i64>| Some(a) == b.map(|b| b as f64);
    if !same(
        tracker.max_out_of_orderness(),
        Some(e.config.max_out_of_orderness),
    ) || tracker.idle_timeout().map(|t| t as i64) != e.config.idle_timeout
    {
        return Err(Error::corrupt(
            "the tracker's parameters differ from the engine's",
        ));
    }
    e.tracker = tracker;
    let wm_set = get_bool(&mut r, "watermark flag")?;
    let wm = get_i64(&mut r, "watermark")?;
    e.wm = wm_set.then_some(wm);
    let mut stats = [0u64; 8];
    for v in &mut stats {
        *v = get_u64(&mut r, "stats")?;
    }
    let [events, late, late_windows, emitted, amended, retracted, early, purged] = stats;
    e.stats = super::Stats {
        events,
        late,
        late_windows,
        emitted,
        amended,
        retracted,
        early,
        purged,
    };
    let series_count = r.u32("series count")?;
    let mut sids = Vec::with_capacity(series_count.min(1 << 20) as usize);
    for _ in 0..series_count {
        let len = r.u32("key length")? as usize;
        let key: Arc<[u8]> = Arc::from(r.take(len, "series key")?);
        let parts = decode_key(&key)?.len();
        if parts != e.config.group_by.len() {
            return Err(Error::corrupt(format!(
                "a series key of {parts} values for {} group-by fields",
                e.config.group_by.len()
            )));
        }
        if e.index.contains_key(&key) {
            return Err(Error::corrupt("a series key appears twice"));
        }
        let sid = e.series.insert(Series {
            key: key.clone(),
            windows: Vec::new(),
        });
        e.index.insert(key, sid);
        sids.push(sid);
    }
    let window_count = r.u32("window count")?;
    let mut wids = Vec::with_capacity(window_count.min(1 << 20) as usize);
    for _ in 0..window_count {
        let wid = read_window(&mut r, &mut e, &sids)?;
        wids.push(wid);
    }
    for queue in [Queue::Pending, Queue::Amend] {
        for _ in 0..r.u32("queue length")? {
            let n = r.u32("queued window")? as usize;
            let &wid = wids
                .get(n)
                .ok_or_else(|| Error::corrupt("a queued window that does not exist"))?;
            let w = &mut e.windows[wid];
            if w.queue != Queue::None || (queue == Queue::Pending) != w.revision.is_none() {
                return Err(Error::corrupt(
                    "a window queued twice or in the wrong queue",
                ));
            }
            w.queue = queue;
            w.ticket = 1;
            let map = match queue {
                Queue::Pending => &mut e.pending,
                _ => &mut e.amend,
            };
            map.entry(w.end).or_default().push_back((wid, 1));
            e.open += usize::from(queue == Queue::Pending);
        }
    }
    r.finish("WindowEngine")?;
    check_series(&mut e)?;
    e.recompute_due();
    Ok(e)
}

fn read_window(r: &mut Reader<'_>, e: &mut WindowEngine, sids: &[u32]) -> Result<u32> {
    let n = r.u32("window series")? as usize;
    let &sid = sids
        .get(n)
        .ok_or_else(|| Error::corrupt("a window of a series that does not exist"))?;
    let (start, end) = (get_i64(r, "window start")?, get_i64(r, "window end")?);
    let geometry_ok = match e.config.kind.grid() {
        Some((size, slide)) => end.checked_sub(start) == Some(size) && start.rem_euclid(slide) == 0,
        None => {
            let gap = match e.config.kind {
                WindowKind::Session { gap } => gap,
                _ => unreachable!(),
            };
            end.checked_sub(start).is_some_and(|d| d >= gap)
        }
    };
    let limit = super::MAX_TIME * 3;
    if !geometry_ok || start.abs() > limit || end.abs() > limit {
        return Err(Error::corrupt(format!(
            "a window [{start}, {end}) that is not a {} window of this engine",
            e.config.kind.name()
        )));
    }
    let emitted = get_bool(r, "window flags")?;
    let revision = r.u32("revision")?;
    let measures = e.config.measures.len();
    let last = if emitted {
        let count = r.u32("value count")? as usize;
        if count != measures {
            return Err(Error::corrupt("emitted values do not match the measures"));
        }
        Some(
            (0..count)
                .map(|_| get_value(r))
                .collect::<Result<Arc<[_]>>>()?,
        )
    } else {
        None
    };
    let accs = e
        .config
        .measures
        .iter()
        .map(|m| Acc::decode(m, r))
        .collect::<Result<_>>()?;
    let wid = e.new_window(sid, start, end);
    let w: &mut Window = &mut e.windows[wid];
    w.accs = accs;
    w.revision = emitted.then_some(revision);
    w.last = last;
    e.series[sid].windows.push((start, wid));
    Ok(wid)
}

/// Sorts each series' windows and checks them: distinct starts, and for sessions
/// disjoint, non-touching intervals; no series without windows.
fn check_series(e: &mut WindowEngine) -> Result<()> {
    let sids: Vec<u32> = e.series.iter().map(|(sid, _)| sid).collect();
    let session = matches!(e.config.kind, WindowKind::Session { .. });
    for sid in sids {
        let mut windows = std::mem::take(&mut e.series[sid].windows);
        if windows.is_empty() {
            return Err(Error::corrupt("a series without windows"));
        }
        windows.sort_unstable();
        for pair in windows.windows(2) {
            let (a, b) = (&e.windows[pair[0].1], &e.windows[pair[1].1]);
            if a.start == b.start || (session && a.end >= b.start) {
                return Err(Error::corrupt("overlapping windows in one series"));
            }
        }
        e.series[sid].windows = windows;
    }
    Ok(())
}
