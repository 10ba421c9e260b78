//! The times `events --since/--until` take, as Docker reads them: RFC 3339
//! (the zone optional: local time without one; the time or its seconds
//! optional), Unix seconds with an optional fraction, or a Go duration
//! (`10m`, `1h30m`, `1.5s`) meaning that long before now.

use chrono::{FixedOffset, Local, NaiveDate, NaiveTime, TimeZone};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid time {0:?}: use RFC 3339 (2026-12-04T18:00:00Z; without a zone, local time), Unix seconds (1796407200.5) or a duration before now (10m, 1h30m)"
)]
pub struct BadTime(pub String);

const NANOS: i64 = 1_000_000_000;

/// `value` as nanoseconds since the epoch; durations count back from
/// `now` (nanoseconds since the epoch).
pub fn parse_time(value: &str, now: i64) -> Result<i64, BadTime> {
    let bad = || BadTime(value.to_string());
    let v = value.trim();
    if v.is_empty() {
        return Err(bad());
    }
    // "0" is the epoch, not a zero duration (Docker's rule).
    if v != "0"
        && let Some(d) = go_duration(v)
    {
        return Ok(now.saturating_sub(d));
    }
    if v.contains('-') {
        return rfc3339(v).ok_or_else(bad);
    }
    unix(v).ok_or_else(bad)
}

/// `SECONDS[.FRACTION]`.
fn unix(v: &str) -> Option<i64> {
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let nanos: i64 = format!("{frac:0<9}").parse().ok()?;
    secs.checked_mul(NANOS)?.checked_add(nanos)
}

/// A Go duration: one or more DECIMAL UNIT with units ns, us (µs), ms,
/// s, m, h; a sign in front. None if `v` is not one.
fn go_duration(v: &str) -> Option<i64> {
    let (negative, mut rest) = match v.as_bytes()[0] {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..num_len];
        if number.is_empty() || number == "." {
            return None;
        }
        let n: f64 = number.parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * scale;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let total = total as i64;
    Some(if negative { -total } else { total })
}

/// `YYYY-MM-DD[THH[:MM[:SS[.FRACTION]]]][Z|±HH:MM]`.
fn rfc3339(v: &str) -> Option<i64> {
    let date = NaiveDate::parse_from_str(v.get(..10)?, "%Y-%m-%d").ok()?;
    let rest = &v[10..];
    let (clock, zone) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, Some(FixedOffset::east_opt(0)?))
    } else if rest.len() >= 6
        && matches!(rest.as_bytes()[rest.len() - 6], b'+' | b'-')
        && rest.as_bytes()[rest.len() - 3] == b':'
    {
        let (c, z) = rest.split_at(rest.len() - 6);
        let hours: i32 = z[1..3].parse().ok()?;
        let minutes: i32 = z[4..6].parse().ok()?;
        let secs = (hours * 3600 + minutes * 60) * if z.starts_with('-') { -1 } else { 1 };
        (c, Some(FixedOffset::east_opt(secs)?))
    } else {
        (rest, None)
    };
    let time = match clock {
        "" => NaiveTime::MIN,
        c => {
            let c = c.strip_prefix(['T', 't'])?;
            let (hms, frac) = c.split_once('.').unwrap_or((c, ""));
            let parts: Vec<&str> = hms.split(':').collect();
            if parts.len() > 3
                || parts.iter().any(|p| p.len() != 2)
                || frac.len() > 9
                || !frac.bytes().all(|b| b.is_ascii_digit())
                || (!frac.is_empty() && parts.len() != 3)
            {
                return None;
            }
            let num =
                |i: usize| -> Option<u32> { parts.get(i).map_or(Some(0), |p| p.parse().ok()) };
            let nanos: u32 = format!("{frac:0<9}").parse().ok()?;
            NaiveTime::from_hms_nano_opt(num(0)?, num(1)?, num(2)?, nanos)?
        }
    };
    let naive = date.and_time(time);
    let at = match zone {
        Some(z) => z
            .from_local_datetime(&naive)
            .single()?
            .timestamp_nanos_opt()?,
        None => Local
            .from_local_datetime(&naive)
            .earliest()?
            .timestamp_nanos_opt()?,
    };
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_407_200 * NANOS;

    #[test]
    fn durations_count_back_from_now() {
        assert_eq!(parse_time("10m", NOW), Ok(NOW - 600 * NANOS));
        assert_eq!(parse_time("1h30m", NOW), Ok(NOW - 5400 * NANOS));
        assert_eq!(parse_time("1.5s", NOW), Ok(NOW - 1_500_000_000));
        assert_eq!(parse_time("-5s", NOW), Ok(NOW + 5 * NANOS));
    }

    #[test]
    fn unix_seconds_with_fractions() {
        assert_eq!(parse_time("0", NOW), Ok(0));
        assert_eq!(parse_time("1796407200", NOW), Ok(NOW));
        assert_eq!(parse_time("1796407200.25", NOW), Ok(NOW + 250_000_000));
    }

    #[test]
    fn rfc3339_with_and_without_zone() {
        assert_eq!(parse_time("2026-12-04T18:00:00Z", NOW), Ok(NOW));
        assert_eq!(parse_time("2026-12-04T19:00:00+01:00", NOW), Ok(NOW));
        assert_eq!(
            parse_time("2026-12-04T18:00:00.5Z", NOW),
            Ok(NOW + NANOS / 2)
        );
        assert_eq!(parse_time("2026-12-04T18Z", NOW), Ok(NOW));
        assert_eq!(parse_time("2026-12-04T18:00Z", NOW), Ok(NOW));
        assert_eq!(parse_time("2026-12-04Z", NOW), Ok(NOW - 18 * 3600 * NANOS));
        let local = Local
            .with_ymd_and_hms(2026, 12, 4, 18, 0, 0)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        assert_eq!(parse_time("2026-12-04T18:00:00", NOW), Ok(local));
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in [
            "",
            "yesterday",
            "10x",
            "2026-13-01",
            "2026-12-04T25:00",
            "1.2.3",
            "m",
            "2026-12-04T1",
        ] {
            assert_eq!(parse_time(bad, NOW), Err(BadTime(bad.to_string())), "{bad}");
        }
    }
}
