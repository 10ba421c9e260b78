//! A container's healthcheck as configured: the image's `Healthcheck`
//! (Docker's image config field, written by `burrow build` and by other
//! builders), the `--health-*` options over it, and Go durations as
//! Docker and Podman take them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Docker's defaults for a zero (unset) value.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: u32 = 3;
/// Docker refuses shorter non-zero durations.
const MINIMUM: Duration = Duration::from_millis(1);

/// `--health-on-failure` (Podman): what happens to a container that turns
/// unhealthy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    #[default]
    None,
    Kill,
    Restart,
    Stop,
}

impl OnFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::None => "none",
            OnFailure::Kill => "kill",
            OnFailure::Restart => "restart",
            OnFailure::Stop => "stop",
        }
    }
}

impl std::str::FromStr for OnFailure {
    type Err = String;

    fn from_str(s: &str) -> Result<OnFailure, String> {
        Ok(match s {
            "none" => OnFailure::None,
            "kill" => OnFailure::Kill,
            "restart" => OnFailure::Restart,
            "stop" => OnFailure::Stop,
            _ => {
                return Err(format!(
                    "invalid --health-on-failure {s:?}: use none, kill, restart or stop"
                ));
            }
        })
    }
}

/// The check a container runs, in the shape of Docker's `Healthcheck`
/// (durations in nanoseconds, 0 for "the default"), plus Podman's action
/// on failure. Only a config with a command to run exists: `NONE`
/// disables the image's, and leaves no config at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `["CMD", prog, args...]` or `["CMD-SHELL", script]`.
    #[serde(rename = "Test")]
    pub test: Vec<String>,
    #[serde(rename = "Interval", default)]
    pub interval: u64,
    #[serde(rename = "Timeout", default)]
    pub timeout: u64,
    #[serde(rename = "StartPeriod", default)]
    pub start_period: u64,
    #[serde(rename = "StartInterval", default)]
    pub start_interval: u64,
    #[serde(rename = "Retries", default)]
    pub retries: u32,
    /// `--health-interval=disable` (Podman): no scheduled checks, only
    /// `burrow healthcheck run`.
    #[serde(default)]
    pub no_schedule: bool,
    #[serde(default)]
    pub on_failure: OnFailure,
}

fn or_default(ns: u64, default: Duration) -> Duration {
    if ns == 0 {
        default
    } else {
        Duration::from_nanos(ns)
    }
}

impl HealthConfig {
    /// The command line the check executes in the container.
    pub fn argv(&self) -> Vec<String> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD-SHELL" => {
                vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
            }
            Some((_, rest)) => rest.to_vec(),
            None => Vec::new(),
        }
    }
    pub fn interval(&self) -> Duration {
        or_default(self.interval, DEFAULT_INTERVAL)
    }
    pub fn timeout(&self) -> Duration {
        or_default(self.timeout, DEFAULT_TIMEOUT)
    }
    pub fn start_period(&self) -> Duration {
        Duration::from_nanos(self.start_period)
    }
    pub fn start_interval(&self) -> Duration {
        or_default(self.start_interval, DEFAULT_START_INTERVAL)
    }
    pub fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }

    /// `Config.Healthcheck` as `docker inspect` shows it (zero values
    /// left out, as Go's omitempty does).
    pub fn docker_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("Test".into(), self.test.clone().into());
        for (k, v) in [
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
        ] {
            if v != 0 {
                m.insert(k.into(), v.into());
            }
        }
        if self.retries != 0 {
            m.insert("Retries".into(), self.retries.into());
        }
        serde_json::Value::Object(m)
    }
}

/// What the image config says: None without a `Healthcheck`, or with one
/// whose test is empty (inherit) — `Some(None)` for `NONE` (disabled).
pub fn from_image_config(blob: &[u8]) -> Result<Option<Option<HealthConfig>>, String> {
    let v: serde_json::Value = serde_json::from_slice(blob).map_err(|e| e.to_string())?;
    let Some(hc) = v.get("config").and_then(|c| c.get("Healthcheck")) else {
        return Ok(None);
    };
    if hc.is_null() {
        return Ok(None);
    }
    let cfg: HealthConfig = serde_json::from_value(hc.clone())
        .map_err(|e| format!("the image's Healthcheck is malformed: {e}"))?;
    Ok(match cfg.test.first().map(String::as_str) {
        None => None,
        Some("NONE") => Some(None),
        Some(_) => Some(Some(cfg)),
    })
}

/// The `--health-*` options as given; None where not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthOptions {
    /// `--health-cmd`, already as a Test array.
    pub test: Option<Vec<String>>,
    pub interval: Option<u64>,
    pub no_schedule: bool,
    pub timeout: Option<u64>,
    pub start_period: Option<u64>,
    pub start_interval: Option<u64>,
    pub retries: Option<u32>,
    /// `--no-healthcheck`, or `--health-cmd none`.
    pub disabled: bool,
    pub on_failure: OnFailure,
}

impl HealthOptions {
    /// Whether any option other than `--no-healthcheck` was given.
    pub fn any_given(&self) -> bool {
        self.test.is_some()
            || self.interval.is_some()
            || self.no_schedule
            || self.timeout.is_some()
            || self.start_period.is_some()
            || self.start_interval.is_some()
            || self.retries.is_some()
            || self.on_failure != OnFailure::None
    }

    /// The container's check: the options over the image's (Docker's
    /// merge: each option given replaces the image's value). Err when
    /// options are given but no command exists to run.
    pub fn resolve(
        &self,
        image: Option<Option<HealthConfig>>,
    ) -> Result<Option<HealthConfig>, String> {
        if self.disabled {
            return Ok(None);
        }
        let base = match (image.flatten(), &self.test) {
            (img, Some(test)) => HealthConfig {
                test: test.clone(),
                ..img.unwrap_or_default()
            },
            (Some(img), None) => img,
            (None, None) if self.any_given() => {
                return Err(
                    "--health-* options need a check to run: give --health-cmd (the image has no HEALTHCHECK)"
                        .into(),
                );
            }
            (None, None) => return Ok(None),
        };
        // A new command keeps the image's timings unless given, as
        // Docker's merge does.
        let mut cfg = base;
        cfg.interval = self.interval.unwrap_or(cfg.interval);
        cfg.no_schedule |= self.no_schedule;
        cfg.timeout = self.timeout.unwrap_or(cfg.timeout);
        cfg.start_period = self.start_period.unwrap_or(cfg.start_period);
        cfg.start_interval = self.start_interval.unwrap_or(cfg.start_interval);
        cfg.retries = self.retries.unwrap_or(cfg.retries);
        cfg.on_failure = self.on_failure;
        Ok(Some(cfg))
    }
}

/// `--health-cmd`: a JSON array (`["CMD", "curl", "-f", "x"]`, or without
/// the leading CMD) or a command for `/bin/sh -c`; `none` disables (None).
pub fn parse_health_cmd(s: &str) -> Result<Option<Vec<String>>, String> {
    let trimmed = s.trim();
    if trimmed.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    if trimmed.is_empty() {
        return Err(
            "--health-cmd is empty: give a command (e.g. --health-cmd 'curl -f http://localhost/'), or none to disable".into(),
        );
    }
    if trimmed.starts_with('[') {
        let arr: Vec<String> = serde_json::from_str(trimmed).map_err(|e| {
            format!("--health-cmd {s:?} is not a JSON array of strings ({e}): give [\"CMD\", \"prog\", \"arg\"] or a shell command")
        })?;
        let Some(first) = arr.first() else {
            return Err("--health-cmd []: give a command in the array".into());
        };
        return match first.to_ascii_uppercase().as_str() {
            "NONE" => Ok(None),
            "CMD" | "CMD-SHELL" if arr.len() < 2 => {
                Err(format!("--health-cmd {s:?}: give a command after {first}"))
            }
            "CMD" => Ok(Some(arr)),
            "CMD-SHELL" => Ok(Some(vec!["CMD-SHELL".into(), arr[1..].join(" ")])),
            _ => Ok(Some(
                std::iter::once("CMD".to_string()).chain(arr).collect(),
            )),
        };
    }
    Ok(Some(vec!["CMD-SHELL".into(), trimmed.to_string()]))
}

/// A `--health-*` duration: Go's syntax (`30s`, `1m30s`, `500ms`, `1.5h`,
/// `0`), not negative, and (unless zero, Docker's "default") at least
/// 1 ms. Nanoseconds.
pub fn parse_duration_flag(flag: &str, s: &str) -> Result<u64, String> {
    let bad = |why: &str| {
        format!("invalid {flag} {s:?}: {why}; give a duration such as 30s, 1m30s or 500ms")
    };
    let ns = parse_go_duration(s).map_err(|why| bad(&why))?;
    if ns != 0 && Duration::from_nanos(ns) < MINIMUM {
        return Err(bad("it is shorter than 1ms"));
    }
    Ok(ns)
}

/// Go's `time.ParseDuration`, for durations that are not negative.
pub fn parse_go_duration(s: &str) -> Result<u64, String> {
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if let Some(abs) = rest.strip_prefix('-') {
        // "-0s" is zero in Go; anything else below zero is refused.
        return match parse_go_duration(abs) {
            Ok(0) => Ok(0),
            Ok(_) => Err("it is negative".into()),
            Err(e) => Err(e),
        };
    }
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err("it is empty".into());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(digits);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err("expected a number".into());
        }
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 6e10,
            "h" => 3.6e12,
            "" => return Err("a number without a unit (s, m, h, ms, us or ns)".into()),
            other => return Err(format!("unknown unit {other:?}")),
        };
        let n: f64 = num.parse().map_err(|_| "expected a number".to_string())?;
        total += n * scale;
        rest = tail;
    }
    if total > u64::MAX as f64 / 2.0 {
        return Err("it is too long".into());
    }
    Ok(total.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_go_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse_go_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_go_duration("1.5h").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_go_duration("2us").unwrap(), 2_000);
        assert_eq!(parse_go_duration("0").unwrap(), 0);
        assert_eq!(parse_go_duration("0s").unwrap(), 0);
        for bad in ["", "30", "3x", "s", "-1s", "1.2.3s", "1m30"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
        let e = parse_duration_flag("--health-interval", "3x").unwrap_err();
        assert!(e.contains("--health-interval") && e.contains("30s"), "{e}");
        assert!(parse_duration_flag("--health-timeout", "10us").is_err());
    }

    #[test]
    fn health_cmd_forms() {
        assert_eq!(
            parse_health_cmd("curl -f x").unwrap(),
            Some(vec!["CMD-SHELL".into(), "curl -f x".into()])
        );
        assert_eq!(
            parse_health_cmd(r#"["CMD", "true"]"#).unwrap(),
            Some(vec!["CMD".into(), "true".into()])
        );
        assert_eq!(
            parse_health_cmd(r#"["ls", "/"]"#).unwrap(),
            Some(vec!["CMD".into(), "ls".into(), "/".into()])
        );
        assert_eq!(parse_health_cmd("none").unwrap(), None);
        assert_eq!(parse_health_cmd(r#"["NONE"]"#).unwrap(), None);
        assert!(parse_health_cmd("[\"CMD\"]").is_err());
        assert!(parse_health_cmd("[1, 2]").is_err());
        assert!(parse_health_cmd("").is_err());
    }

    #[test]
    fn options_over_the_image() {
        let image = HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            interval: 5,
            retries: 7,
            ..HealthConfig::default()
        };
        let opts = HealthOptions {
            retries: Some(2),
            ..HealthOptions::default()
        };
        let cfg = opts.resolve(Some(Some(image.clone()))).unwrap().unwrap();
        assert_eq!((cfg.interval, cfg.retries), (5, 2));
        assert_eq!(cfg.test, image.test);
        let none = HealthOptions {
            disabled: true,
            ..HealthOptions::default()
        };
        assert_eq!(none.resolve(Some(Some(image.clone()))).unwrap(), None);
        assert_eq!(HealthOptions::default().resolve(Some(None)).unwrap(), None);
        assert!(opts.resolve(None).is_err());
        assert_eq!(HealthOptions::default().resolve(None).unwrap(), None);
        assert_eq!(cfg.argv(), vec!["true".to_string()]);
        let shell = HealthConfig {
            test: vec!["CMD-SHELL".into(), "exit 1".into()],
            ..HealthConfig::default()
        };
        assert_eq!(shell.argv(), vec!["/bin/sh", "-c", "exit 1"]);
        assert_eq!(shell.interval(), DEFAULT_INTERVAL);
        assert_eq!(shell.retries(), 3);
    }

    #[test]
    fn image_config() {
        let blob = br#"{"config":{"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000,"Retries":2}}}"#;
        let cfg = from_image_config(blob).unwrap().unwrap().unwrap();
        assert_eq!(cfg.interval(), Duration::from_secs(1));
        assert_eq!(cfg.retries(), 2);
        let none = br#"{"config":{"Healthcheck":{"Test":["NONE"]}}}"#;
        assert_eq!(from_image_config(none).unwrap(), Some(None));
        assert_eq!(from_image_config(br#"{"config":{}}"#).unwrap(), None);
    }
}
