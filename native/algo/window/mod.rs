//! The batch event-time window engine.
//!
//! Aggregates a stream of events into windows of event time, per series (the tuple of
//! group-by values), and says when each window's result is final. It follows the
//! Dataflow Model (Akidau et al., VLDB 2015) as Flink and Beam implement it: windows
//! `[start, end)`, a watermark from bounded out-of-orderness per source partition,
//! allowed lateness with amended results, and session merging.
//!
//! **Semantics** (REQUIREMENTS STREAM-3..12, DEC-2, DEC-7). Times are epoch milliseconds
//! within ±(2^53 − 1). Each event, in input order:
//!
//! 1. is assigned to its windows: tumbling `[k·size, (k+1)·size)`, sliding every aligned
//!    `[k·slide, k·slide + size)` holding it, or a session (see `session.rs`);
//! 2. updates each of those windows unless the window is past its lateness,
//!    `end + allowed_lateness ≤ watermark`; an event that updates none is *too late*
//!    and reported for the late output. Nothing is late before the first event;
//! 3. if it changed a window that was already emitted and the watermark is past that
//!    window's end, the window is re-emitted at once with revision + 1, its full values
//!    and the values it replaces;
//! 4. advances its partition's watermark (max event time − `max_out_of_orderness`); the
//!    engine's watermark is the minimum over active partitions (`WatermarkTracker`),
//!    never going back. Every window whose end it reaches is emitted, in end order, once.
//!
//! State is purged once the watermark passes `end + allowed_lateness` (plus one gap for
//! sessions), so memory follows the watermark, not the stream's length. More than
//! `max_open_windows` windows awaiting their first emission makes the oldest emit early.
//!
//! **Determinism.** Processing a batch is processing its events one by one, so the
//! output is a function of the event sequence of each partition (and of the order in
//! which partitions interleave, as in any watermark system), never of batch sizes.
//! Counts, integer sums, min, max and distinct registers are exact whatever the order;
//! float sums, means and deviations are exact for a given order and agree to rounding
//! across orders. Only `idle_timeout` reads a clock, the caller's.
//!
//! Choose something else for processing-time windows (no watermark needed), for
//! count-based windows, or when every event must produce an output (a rolling aggregate).

mod accs;
mod assign;
pub mod batch;
mod bytes;
mod emit;
mod engine;
mod format;
pub mod json;
pub mod measures;
pub mod route;
mod session;
pub mod spec;
pub mod time;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_format;
#[cfg(test)]
mod tests_images;
#[cfg(test)]
mod tests_props;
#[cfg(test)]
mod tests_state;

pub use assign::{sliding_starts, tumbling_start};
pub use batch::{Batch, KeyPart};
pub use engine::{Emission, Output, Stats, WindowEngine, WindowState};
pub use measures::{MeasureKind, Num, Value};
pub use route::{Routed, Router};
pub use spec::{Config, Params, WindowKind, DEFAULT_MAX_OPEN_WINDOWS};

/// The largest event time magnitude, in ms: where float64 stops being exact.
pub const MAX_TIME: i64 = (1 << 53) - 1;
