//! `stats`: what running containers use, as Docker shows it. A
//! [`StatsSampler`] keeps each container's previous reading, so that CPU %
//! is the CPU time used between two readings over the wall time between
//! them (times 100: above 100 on several cores, as Docker's).

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use super::Engine;
use super::error::EngineError;
use crate::runtime::usage::{self, Source, Usage};
use crate::runtime::{ContainerRecord, Status};

/// One container's line of `stats`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerStats {
    pub id: String,
    pub name: String,
    /// Whether it runs (a stopped one shows zeros, as Docker's `--all`).
    pub running: bool,
    /// CPU time over wall time since the previous reading, in percent
    /// (0 at the first reading).
    pub cpu_percent: f64,
    pub memory: u64,
    /// The cgroup's limit, else the host's memory.
    pub memory_limit: u64,
    pub memory_percent: f64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
    /// None for a stopped container.
    pub source: Option<Source>,
}

/// Readings of containers over time.
pub struct StatsSampler {
    previous: HashMap<String, (Instant, u64)>,
    host_memory: u64,
}

impl Default for StatsSampler {
    fn default() -> Self {
        StatsSampler {
            previous: HashMap::new(),
            host_memory: usage::host_memory(),
        }
    }
}

impl StatsSampler {
    /// Read container `c` now. A container not running, or whose
    /// processes ended while it was read, reads as zeros.
    pub fn read(&mut self, c: &ContainerRecord) -> ContainerStats {
        let running = matches!(c.current_status(), Status::Running | Status::Paused);
        let reading = match (running, c.pid) {
            (true, Some(pid)) => usage::read(pid).ok(),
            _ => None,
        };
        let now = Instant::now();
        let Some(u) = reading else {
            self.previous.remove(&c.id);
            return ContainerStats {
                id: c.id.clone(),
                name: c.name.clone(),
                running: false,
                cpu_percent: 0.0,
                memory: 0,
                memory_limit: 0,
                memory_percent: 0.0,
                net_rx: 0,
                net_tx: 0,
                block_read: 0,
                block_write: 0,
                pids: 0,
                source: None,
            };
        };
        let cpu_percent = self
            .previous
            .insert(c.id.clone(), (now, u.cpu_ns))
            .map_or(0.0, |(then, cpu)| cpu_percent(cpu, u.cpu_ns, then, now));
        stats_of(c, &u, cpu_percent, self.host_memory)
    }
}

fn cpu_percent(before: u64, after: u64, then: Instant, now: Instant) -> f64 {
    let wall = now.duration_since(then).as_nanos() as f64;
    if wall <= 0.0 {
        return 0.0;
    }
    after.saturating_sub(before) as f64 / wall * 100.0
}

fn stats_of(c: &ContainerRecord, u: &Usage, cpu_percent: f64, host_memory: u64) -> ContainerStats {
    // A cgroup's "max" or a limit above the host's is the host's.
    let limit = u
        .memory_limit
        .filter(|l| host_memory == 0 || *l < host_memory)
        .unwrap_or(host_memory);
    let memory_percent = if limit > 0 {
        u.memory as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    ContainerStats {
        id: c.id.clone(),
        name: c.name.clone(),
        running: true,
        cpu_percent,
        memory: u.memory,
        memory_limit: limit,
        memory_percent,
        net_rx: u.net_rx,
        net_tx: u.net_tx,
        block_read: u.block_read,
        block_write: u.block_write,
        pids: u.pids,
        source: Some(u.source),
    }
}

impl Engine {
    /// A sampler for [`StatsSampler::read`]: the first reading of each
    /// container gives its counters, the next its CPU %.
    pub fn stats_sampler(&self) -> StatsSampler {
        StatsSampler::default()
    }

    /// The containers `stats` shows: those `queries` name (an unknown one
    /// is an error), else the running ones, or all with `all`.
    pub fn stats_targets(
        &self,
        queries: &[String],
        all: bool,
    ) -> Result<Vec<ContainerRecord>, EngineError> {
        let store = self.containers()?;
        if !queries.is_empty() {
            return queries
                .iter()
                .map(|q| store.find(q).map_err(EngineError::from))
                .collect();
        }
        let mut list: Vec<ContainerRecord> = store
            .list()?
            .into_iter()
            .filter(|c| all || matches!(c.current_status(), Status::Running | Status::Paused))
            .collect();
        list.sort_by_key(|c| std::cmp::Reverse(c.created));
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cpu_percent_is_cpu_time_over_wall_time() {
        let then = Instant::now();
        let now = then + Duration::from_secs(2);
        // 3 s of CPU in 2 s: one and a half cores busy.
        assert!((cpu_percent(1_000_000_000, 4_000_000_000, then, now) - 150.0).abs() < 1e-9);
        assert_eq!(cpu_percent(5, 5, then, now), 0.0);
        // A counter that went back (a process ended) is no negative use.
        assert_eq!(cpu_percent(9, 5, then, now), 0.0);
    }
}
