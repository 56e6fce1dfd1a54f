//! What an engine is configured with: the window kind, the measures, the event fields it
//! reads and the time parameters. Everything is validated here, once, so that the engine
//! itself never meets a bad parameter.

use super::measures::{Measure, MeasureKind};
use super::MAX_TIME;
use crate::algo::error::{Error, Result};

/// Tumbling, sliding or session windows; durations in milliseconds. The origin of the
/// grid windows is the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// `[k·size, (k + 1)·size)`.
    Tumbling { size: i64 },
    /// `[k·slide, k·slide + size)`, every `slide`.
    Sliding { size: i64, slide: i64 },
    /// Events at most `gap` apart (inclusive) share a window `[first, last + gap)`.
    Session { gap: i64 },
}

impl WindowKind {
    pub fn tumbling(size: i64) -> Result<Self> {
        positive("tumbling window size", size)?;
        Ok(WindowKind::Tumbling { size })
    }

    /// Sliding windows: `0 < slide ≤ size` (STREAM-4); `slide == size` is tumbling.
    pub fn sliding(size: i64, slide: i64) -> Result<Self> {
        positive("sliding window size", size)?;
        positive("sliding window slide", slide)?;
        if slide > size {
            return Err(Error::invalid_argument(format!(
                "a sliding window's slide must not exceed its size, got slide {slide} ms \
                 > size {size} ms (events would fall between windows)"
            )));
        }
        Ok(WindowKind::Sliding { size, slide })
    }

    pub fn session(gap: i64) -> Result<Self> {
        positive("session gap", gap)?;
        Ok(WindowKind::Session { gap })
    }

    /// `(size, slide)` of the grid windows; None for sessions.
    pub fn grid(self) -> Option<(i64, i64)> {
        match self {
            WindowKind::Tumbling { size } => Some((size, size)),
            WindowKind::Sliding { size, slide } => Some((size, slide)),
            WindowKind::Session { .. } => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WindowKind::Tumbling { .. } => "tumbling",
            WindowKind::Sliding { .. } => "sliding",
            WindowKind::Session { .. } => "session",
        }
    }
}

fn positive(what: &str, value: i64) -> Result<()> {
    if !(1..=MAX_TIME).contains(&value) {
        return Err(Error::invalid_argument(format!(
            "{what} must be between 1 ms and 2^53 − 1 ms, got {value} ms"
        )));
    }
    Ok(())
}

fn non_negative(what: &str, value: i64) -> Result<()> {
    if !(0..=MAX_TIME).contains(&value) {
        return Err(Error::invalid_argument(format!(
            "{what} must be between 0 and 2^53 − 1 ms, got {value} ms"
        )));
    }
    Ok(())
}

/// The default bound on windows not yet emitted (REQUIREMENTS STREAM-12).
pub const DEFAULT_MAX_OPEN_WINDOWS: usize = 10_000;

/// The whole configuration of an engine. Build it with [`Config::new`], which validates
/// every part and resolves the fields the measures read.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub kind: WindowKind,
    pub measures: Vec<Measure>,
    pub group_by: Vec<String>,
    pub time_field: String,
    /// Watermark = max event time − this (ms).
    pub max_out_of_orderness: i64,
    /// An emitted window takes events while its end + this > watermark (ms).
    pub allowed_lateness: i64,
    /// A partition silent for longer than this on the caller's clock stops holding the
    /// watermark back; None: never.
    pub idle_timeout: Option<i64>,
    /// Windows not yet emitted beyond this many are emitted early, oldest end first.
    pub max_open_windows: usize,
    /// The fields read as numbers and as distinct items, in order of first use; a
    /// measure's `slot` indexes one of them.
    pub numeric_fields: Vec<String>,
    pub distinct_fields: Vec<String>,
}

/// Everything but the measures, which [`Config::new`] takes as `(name, spec)` pairs.
#[derive(Clone, Debug)]
pub struct Params {
    pub kind: WindowKind,
    pub group_by: Vec<String>,
    pub time_field: String,
    pub max_out_of_orderness: i64,
    pub allowed_lateness: i64,
    pub idle_timeout: Option<i64>,
    pub max_open_windows: usize,
}

impl Config {
    /// Validates `params` and parses each measure spec (`"count"`, `"sum(latency_ms)"`);
    /// an unknown or malformed measure is an `InvalidArgument` naming it.
    pub fn new(params: Params, measures: &[(String, String)]) -> Result<Self> {
        non_negative("max_out_of_orderness", params.max_out_of_orderness)?;
        non_negative("allowed_lateness", params.allowed_lateness)?;
        if let Some(idle) = params.idle_timeout {
            non_negative("idle_timeout", idle)?;
        }
        if params.max_open_windows == 0 {
            return Err(Error::invalid_argument(
                "max_open_windows must be at least 1",
            ));
        }
        if params.time_field.is_empty() {
            return Err(Error::invalid_argument("time_field must not be empty"));
        }
        if let Some(dup) = first_duplicate(&params.group_by) {
            return Err(Error::invalid_argument(format!(
                "group_by names the field '{dup}' twice"
            )));
        }
        if measures.is_empty() {
            return Err(Error::invalid_argument(
                "at least one measure is needed, e.g. {\"n\": \"count\"}",
            ));
        }
        let names: Vec<String> = measures.iter().map(|(n, _)| n.clone()).collect();
        if let Some(dup) = first_duplicate(&names) {
            return Err(Error::invalid_argument(format!(
                "the measure name '{dup}' is used twice"
            )));
        }
        let mut numeric_fields = Vec::new();
        let mut distinct_fields = Vec::new();
        let specs = measures
            .iter()
            .map(|(name, spec)| super::measures::parse_spec(name, spec))
            .collect::<Result<Vec<_>>>()?;
        // `count(f)` reads f as numbers when another measure does (a value another
        // measure refuses is refused once, for the event), else as distinct items, which
        // takes strings too.
        let numeric_use = |f: &String| {
            specs.iter().any(|(k, g)| {
                g.as_ref() == Some(f) && !k.reads_coupons() && *k != MeasureKind::CountField
            })
        };
        let mut parsed: Vec<Measure> = Vec::with_capacity(measures.len());
        for ((name, spec), (kind, field)) in measures.iter().zip(specs.iter().cloned()) {
            let coupons = match (&field, kind) {
                (Some(f), MeasureKind::CountField) => !numeric_use(f),
                _ => kind.reads_coupons(),
            };
            let slot = match &field {
                None => 0,
                Some(f) if coupons => slot_of(&mut distinct_fields, f),
                Some(f) => slot_of(&mut numeric_fields, f),
            };
            let owner = super::measures::owner_of(&parsed, kind, &field);
            parsed.push(Measure {
                name: name.clone(),
                spec: spec.trim().to_string(),
                kind,
                field,
                slot,
                coupons,
                owner,
            });
        }
        Ok(Self {
            kind: params.kind,
            measures: parsed,
            group_by: params.group_by,
            time_field: params.time_field,
            max_out_of_orderness: params.max_out_of_orderness,
            allowed_lateness: params.allowed_lateness,
            idle_timeout: params.idle_timeout,
            max_open_windows: params.max_open_windows,
            numeric_fields,
            distinct_fields,
        })
    }

    /// The measures as `(name, spec)` pairs, as [`Config::new`] takes them.
    pub fn measure_specs(&self) -> Vec<(String, String)> {
        self.measures
            .iter()
            .map(|m| (m.name.clone(), m.spec.clone()))
            .collect()
    }

    pub fn params(&self) -> Params {
        Params {
            kind: self.kind,
            group_by: self.group_by.clone(),
            time_field: self.time_field.clone(),
            max_out_of_orderness: self.max_out_of_orderness,
            allowed_lateness: self.allowed_lateness,
            idle_timeout: self.idle_timeout,
            max_open_windows: self.max_open_windows,
        }
    }

    /// How long past its end a window's state is kept: its lateness, and for sessions
    /// one more gap (an event up to a gap before a session's end can still extend it).
    pub fn retention(&self) -> i64 {
        match self.kind {
            WindowKind::Session { gap } => self.allowed_lateness + gap,
            _ => self.allowed_lateness,
        }
    }
}

fn slot_of(fields: &mut Vec<String>, field: &str) -> usize {
    fields.iter().position(|f| f == field).unwrap_or_else(|| {
        fields.push(field.to_string());
        fields.len() - 1
    })
}

fn first_duplicate(names: &[String]) -> Option<&String> {
    names
        .iter()
        .enumerate()
        .find(|(i, n)| names[..*i].contains(n))
        .map(|(_, n)| n)
}
