//! Durations as people write and read them: `10ms`, `1.5s`, `2m05s`.

use std::fmt::{self, Display, Formatter};
use std::time::Duration;

/// Parses a duration such as `10ms`, `1.5s`, `2m`, `250us` or `30` (seconds).
///
/// ```
/// use std::time::Duration;
/// use async_inspect_model::parse_duration;
///
/// assert_eq!(parse_duration("10ms"), Some(Duration::from_millis(10)));
/// assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("soon"), None);
/// ```
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds_per_unit = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(number * seconds_per_unit).ok()
}

/// Formats a duration the way the report does: `850µs`, `12ms`, `3.2s`,
/// `2m05s`, `1h02m`.
///
/// ```
/// use std::time::Duration;
/// use async_inspect_model::format_duration;
///
/// assert_eq!(format_duration(Duration::from_millis(3200)).to_string(), "3.2s");
/// assert_eq!(format_duration(Duration::from_millis(12)).to_string(), "12ms");
/// assert_eq!(format_duration(Duration::from_secs(125)).to_string(), "2m05s");
/// ```
pub fn format_duration(duration: Duration) -> impl Display {
    Human(duration)
}

pub(crate) struct Human(pub(crate) Duration);

impl Display for Human {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let secs = d.as_secs();
        if secs >= 3600 {
            write!(f, "{}h{:02}m", secs / 3600, (secs % 3600) / 60)
        } else if secs >= 60 {
            write!(f, "{}m{:02}s", secs / 60, secs % 60)
        } else if secs >= 10 {
            write!(f, "{secs}s")
        } else if d >= Duration::from_secs(1) {
            write!(f, "{:.1}s", d.as_secs_f64())
        } else if d >= Duration::from_millis(1) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{}µs", d.as_micros())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("1.2.3s"), None);
    }
}
