//! Appends events to an events log through the library, as the engine and
//! the monitors do, and prints what one append costs: the measurement of
//! `benches/events.sh`.
//!
//! usage: events_append RUNROOT [COUNT]

use std::time::Instant;

use burrow::events::{ContainerActor, Event, Log};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(runroot) = args.next() else {
        eprintln!("usage: events_append RUNROOT [COUNT]");
        std::process::exit(2);
    };
    let count: usize = args.next().and_then(|c| c.parse().ok()).unwrap_or(10_000);
    let log = Log::at(std::path::Path::new(&runroot));
    // A container with a few labels: a typical die event, ~400 bytes.
    let actor = ContainerActor {
        id: "0123456789abcdef".repeat(4),
        name: "web".into(),
        image: "docker.io/library/busybox:latest".into(),
        labels: (0..4)
            .map(|n| (format!("com.example.label{n}"), format!("value-{n}")))
            .collect(),
    };
    let mut times = Vec::with_capacity(count);
    let all = Instant::now();
    for n in 0..count {
        let event = Event::container_died(&actor, (n % 256) as i32);
        let t = Instant::now();
        if let Err(e) = log.append(&event) {
            eprintln!("append failed: {e}");
            std::process::exit(1);
        }
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let total = all.elapsed().as_secs_f64() * 1e6;
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    println!(
        "{count} appends: mean {:.1} us, median {:.1} us, p99 {:.1} us, max {:.1} us",
        total / count as f64,
        pct(0.5),
        pct(0.99),
        times[times.len() - 1]
    );
}
