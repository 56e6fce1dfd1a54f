//! Routing a partition's batch to shard engines, so that each engine holds many series
//! and still sees the whole partition's progress (REQUIREMENTS STREAM-6/7: a shard that
//! sees few keys is neither held back nor pushed ahead by its own data).
//!
//! Each event goes to the shard of its series key, with the partition's largest event
//! time before it (`max_before`): the shard engine first catches up with that, so it
//! judges and orders the event exactly as one engine seeing the whole partition would.
//! Shards that receive no event of a batch receive a *marker* (an empty batch with the
//! batch's largest time) when that changes what they would emit now: when the
//! partition's watermark crosses a window end (or a purge time, to free memory), and,
//! so that an active partition never looks idle, after a third of `idle_timeout` on the
//! caller's clock. Skipped markers delay nothing: between those points the engine would
//! emit nothing new.

use std::collections::HashMap;

use super::batch::{shard_of, Batch};
use super::bytes::{get_i64, put_i64, put_u32};
use super::spec::Config;
use super::MAX_TIME;
use crate::algo::codec::Reader;
use crate::algo::error::{Error, Result};
use crate::algo::watermark::{PartitionKey, PartitionRef};

/// One shard's part of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Routed {
    pub partition: PartitionKey,
    /// Partitions to announce before processing (see `WindowEngine::expect_partitions`).
    pub announce: Vec<PartitionKey>,
    pub batch: Batch,
    /// Per event: the partition's largest time before it (`i64::MIN`: none).
    pub max_before: Vec<i64>,
    pub batch_max: Option<i64>,
    /// Per event: its index in the batch that was split.
    pub origin: Vec<u32>,
}

/// Splits batches by shard; remembers, per partition, what the shards were last told.
#[derive(Clone, Debug)]
pub struct Router {
    shards: u32,
    grid: Option<(i64, i64)>,
    max_out_of_orderness: i64,
    allowed_lateness: i64,
    idle_timeout: Option<i64>,
    told: HashMap<PartitionKey, (Option<[i64; 2]>, Option<i64>)>,
}

impl Router {
    pub fn new(config: &Config, shards: u32) -> Result<Self> {
        if !(1..=65_536).contains(&shards) {
            return Err(Error::invalid_argument(format!(
                "shards must be in 1..=65536, got {shards}"
            )));
        }
        Ok(Self {
            shards,
            grid: config.kind.grid(),
            max_out_of_orderness: config.max_out_of_orderness,
            allowed_lateness: config.allowed_lateness,
            idle_timeout: config.idle_timeout,
            told: HashMap::new(),
        })
    }

    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// Which window ends and purge times the watermark of `batch_max` has passed (ends
    /// lie on `k·slide + size`). None for sessions, whose ends are anywhere.
    fn cells(&self, batch_max: i64) -> Option<[i64; 2]> {
        let (size, slide) = self.grid?;
        let w = batch_max - self.max_out_of_orderness - size;
        Some([w, w - self.allowed_lateness - 1].map(|v| v.div_euclid(slide)))
    }

    /// The shards' parts of `batch`, in shard order; `announce` goes with every part.
    pub fn split(
        &mut self,
        partition: PartitionRef<'_>,
        announce: &[PartitionKey],
        batch: &Batch,
        now: Option<i64>,
    ) -> Vec<(u32, Routed)> {
        let numeric = batch.nums.len();
        let distinct = batch.coupons.len();
        let mut parts: Vec<Option<Routed>> = vec![None; self.shards as usize];
        let mut max = i64::MIN;
        let (mut nums, mut coupons) = (vec![], vec![]);
        for i in 0..batch.len() {
            let key = batch.key(i);
            let shard = shard_of(key, self.shards) as usize;
            let part = parts[shard].get_or_insert_with(|| Routed {
                partition: partition.to_owned(),
                announce: announce.to_vec(),
                batch: Batch::new(numeric, distinct),
                max_before: Vec::new(),
                batch_max: None,
                origin: Vec::new(),
            });
            nums.clear();
            nums.extend(batch.nums.iter().map(|c| c[i]));
            coupons.clear();
            coupons.extend(batch.coupons.iter().map(|c| c[i]));
            part.batch.push(batch.ts[i], key, &nums, &coupons);
            part.max_before.push(max);
            part.origin.push(i as u32);
            max = max.max(batch.ts[i]);
        }
        let batch_max = (max != i64::MIN).then_some(max);
        let marker = batch_max.is_some_and(|m| self.marker_due(partition, m, now));
        parts
            .into_iter()
            .enumerate()
            .filter_map(|(shard, part)| {
                let mut part = match part {
                    Some(p) => p,
                    None if marker => Routed {
                        partition: partition.to_owned(),
                        announce: announce.to_vec(),
                        batch: Batch::new(numeric, distinct),
                        max_before: Vec::new(),
                        batch_max: None,
                        origin: Vec::new(),
                    },
                    None => return None,
                };
                part.batch_max = batch_max;
                Some((shard as u32, part))
            })
            .collect()
    }

    /// Whether the shards without events must hear of `batch_max` (see the module docs).
    fn marker_due(
        &mut self,
        partition: PartitionRef<'_>,
        batch_max: i64,
        now: Option<i64>,
    ) -> bool {
        let cells = self.cells(batch_max);
        let refresh = self.idle_timeout.map(|t| t / 3);
        let key = partition.to_owned();
        let due = match self.told.get(&key) {
            None => true,
            Some(&(told, at)) => {
                cells.is_none()
                    || cells
                        .zip(told)
                        .is_some_and(|(c, t)| c.iter().zip(&t).any(|(a, b)| a > b))
                    || matches!((now, at, refresh), (Some(n), Some(a), Some(r)) if n - a >= r)
            }
        };
        if due {
            let previous = self.told.get(&key).and_then(|t| t.0);
            // Cells only grow: a batch whose maximum is behind an earlier one tells nothing.
            let cells = match (cells, previous) {
                (Some(c), Some(p)) => Some([c[0].max(p[0]), c[1].max(p[1])]),
                (c, _) => c,
            };
            self.told.insert(key, (cells, now));
        }
        due
    }
}

impl Routed {
    /// A compact image, for moving a part between processes (not a stored format).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.batch.len() * 32);
        put_partition(&mut out, &self.partition);
        put_u32(&mut out, self.announce.len() as u32);
        self.announce
            .iter()
            .for_each(|p| put_partition(&mut out, p));
        self.batch.encode(&mut out);
        for i in 0..self.batch.len() {
            put_i64(&mut out, self.max_before[i]);
            put_u32(&mut out, self.origin[i]);
        }
        out.push(u8::from(self.batch_max.is_some()));
        put_i64(&mut out, self.batch_max.unwrap_or(0));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let partition = get_partition(&mut r)?;
        let announce = (0..r.u32("announced partitions")?)
            .map(|_| get_partition(&mut r))
            .collect::<Result<Vec<_>>>()?;
        let batch = Batch::decode(&mut r)?;
        let (mut max_before, mut origin) = (Vec::new(), Vec::new());
        for _ in 0..batch.len() {
            max_before.push(get_i64(&mut r, "max before")?);
            origin.push(r.u32("origin")?);
        }
        let has_max = r.u8("batch max flag")? == 1;
        let batch_max = get_i64(&mut r, "batch max")?;
        r.finish("routed batch")?;
        if batch.ts.iter().any(|t| t.unsigned_abs() > MAX_TIME as u64) {
            return Err(Error::corrupt("an event time beyond ±(2^53 − 1)"));
        }
        Ok(Self {
            partition,
            announce,
            batch,
            max_before,
            batch_max: has_max.then_some(batch_max),
            origin,
        })
    }
}

fn put_partition(out: &mut Vec<u8>, p: &PartitionKey) {
    match p {
        PartitionKey::Int(v) => {
            out.push(0);
            put_i64(out, *v);
        }
        PartitionKey::Str(s) => {
            out.push(1);
            put_u32(out, s.len() as u32);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn get_partition(r: &mut Reader<'_>) -> Result<PartitionKey> {
    Ok(match r.u8("partition tag")? {
        0 => PartitionKey::Int(get_i64(r, "partition")?),
        1 => {
            let len = r.u32("partition length")? as usize;
            let s = std::str::from_utf8(r.take(len, "partition")?)
                .map_err(|_| Error::corrupt("a partition name is not UTF-8"))?;
            PartitionKey::Str(s.to_string())
        }
        t => return Err(Error::corrupt(format!("partition tag {t}"))),
    })
}
