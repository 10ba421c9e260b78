//! Pull and push progress: bars on a terminal, one line per event otherwise
//! (CI logs, pipes), nothing with `-q`.

use std::collections::HashMap;
use std::sync::Mutex;

use burrow::digest::Digest;
use burrow::image::{PullEvent, PullObserver, PushEvent, PushObserver};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Line-per-event output on stderr, in Podman's words.
pub struct Lines;

impl PullObserver for Lines {
    fn event(&self, event: PullEvent) {
        match event {
            PullEvent::Trying { reference } => eprintln!("Trying to pull {reference}..."),
            PullEvent::Resolved { .. } => eprintln!("Getting image source signatures"),
            PullEvent::LayerDone { digest } => eprintln!("Copying blob {} done", digest.short()),
            PullEvent::LayerExists { digest } => {
                eprintln!("Copying blob {} skipped: already exists", digest.short())
            }
            PullEvent::LayerRetry {
                digest,
                attempt,
                error,
            } => {
                eprintln!(
                    "Copying blob {} failed (attempt {attempt}), retrying: {error}",
                    digest.short()
                )
            }
            PullEvent::ConfigDone { digest } => eprintln!("Copying config {} done", digest.short()),
            PullEvent::Stored { .. } => eprintln!("Writing manifest to image destination"),
            PullEvent::LayerStart { .. } | PullEvent::LayerProgress { .. } => {}
        }
    }
}

impl PushObserver for Lines {
    fn event(&self, event: PushEvent) {
        if let Some(line) = push_line(&event) {
            eprintln!("{line}");
        }
    }
}

/// The line a push event prints, in Podman's words; `None` for the events
/// only bars show.
fn push_line(event: &PushEvent) -> Option<String> {
    Some(match event {
        PushEvent::Started { .. } => "Getting image source signatures".into(),
        PushEvent::BlobDone { digest } => format!("Copying blob {} done", digest.short()),
        PushEvent::BlobExists { digest } => {
            format!("Copying blob {} skipped: already exists", digest.short())
        }
        PushEvent::BlobMounted { digest, from } => {
            format!(
                "Copying blob {} skipped: mounted from {from}",
                digest.short()
            )
        }
        PushEvent::ConfigDone { digest } => format!("Copying config {} done", digest.short()),
        PushEvent::WritingManifest => "Writing manifest to image destination".into(),
        PushEvent::BlobStart { .. } | PushEvent::BlobProgress { .. } => return None,
    })
}

/// Progress bars for a terminal.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, key: &str, total: u64) -> ProgressBar {
        let mut bars = match self.bars.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        bars.entry(key.to_string())
            .or_insert_with(|| {
                let pb = self.multi.add(ProgressBar::new(total));
                pb.set_style(
                    ProgressStyle::with_template(
                        "Copying blob {prefix} [{bar:30}] {bytes}/{total_bytes} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                pb.set_prefix(key.to_string());
                pb
            })
            .clone()
    }

    fn println(&self, line: String) {
        let _ = self.multi.println(line);
    }
}

impl PullObserver for Bars {
    fn event(&self, event: PullEvent) {
        match event {
            PullEvent::Trying { reference } => {
                self.println(format!("Trying to pull {reference}..."))
            }
            PullEvent::Resolved { .. } => self.println("Getting image source signatures".into()),
            PullEvent::LayerStart { digest, total } => {
                let pb = self.bar(digest.short(), total);
                pb.set_length(total);
                pb.set_position(0);
                pb.set_message("");
            }
            PullEvent::LayerProgress {
                digest,
                done,
                total,
            } => {
                let pb = self.bar(digest.short(), total);
                pb.set_position(done);
            }
            PullEvent::LayerRetry {
                digest,
                attempt,
                error,
            } => {
                self.bar(digest.short(), 0)
                    .set_message(format!("retrying (attempt {attempt}): {error}"));
            }
            PullEvent::LayerDone { digest } => {
                self.bar(digest.short(), 0).finish_with_message("done")
            }
            PullEvent::LayerExists { digest } => self.println(format!(
                "Copying blob {} skipped: already exists",
                digest.short()
            )),
            PullEvent::ConfigDone { digest } => {
                self.println(format!("Copying config {} done", digest.short()))
            }
            PullEvent::Stored { .. } => {
                self.println("Writing manifest to image destination".into())
            }
        }
    }
}

impl PushObserver for Bars {
    fn event(&self, event: PushEvent) {
        let bar = |digest: &Digest, total: u64| self.bar(digest.short(), total);
        match &event {
            PushEvent::BlobStart { digest, total } => {
                let pb = bar(digest, *total);
                pb.set_length(*total);
                pb.set_position(0);
            }
            PushEvent::BlobProgress {
                digest,
                done,
                total,
            } => bar(digest, *total).set_position(*done),
            PushEvent::BlobDone { digest } => bar(digest, 0).finish_with_message("done"),
            _ => {
                if let Some(line) = push_line(&event) {
                    self.println(line);
                }
            }
        }
    }
}
