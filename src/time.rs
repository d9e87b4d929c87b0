//! Virtual time. Everything is integer nanoseconds so that runs are bit-for-bit identical on every
//! machine and build profile; Nacos itself works in milliseconds, which cores derive with
//! [`Time::as_millis`] exactly where Java calls `System.currentTimeMillis()`.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An instant, in nanoseconds since the start of the simulation (global time) or since the epoch
/// of a node's local clock (local time; may be negative when a clock is behind).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub i64);

/// A signed span of time in nanoseconds. Parsed from human strings such as `"15s"` or `"250ms"`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub i64);

pub const NANOS_PER_MILLI: i64 = 1_000_000;

/// The longest span a scenario may name (3650 days, about 10 years), in any duration field, on
/// the command line, or summed over one node's clock offset and jumps; a sampled network delay
/// is clamped to it. Sums of a few such spans stay far from `i64` nanoseconds' 292 years, so no
/// valid scenario can overflow time arithmetic, and a delay clamped to it still arrives after
/// the end of any run.
pub const MAX_SPAN: Dur = Dur(3650 * 86_400 * 1_000_000_000);

impl Time {
    pub const ZERO: Time = Time(0);
    pub const MAX: Time = Time(i64::MAX);

    /// Java `currentTimeMillis()` semantics: truncation toward negative infinity.
    pub fn as_millis(self) -> i64 {
        self.0.div_euclid(NANOS_PER_MILLI)
    }
    /// Saturating: a Java `long` of milliseconds past `i64` nanoseconds is "never".
    pub fn from_millis(ms: i64) -> Time {
        Time(ms.saturating_mul(NANOS_PER_MILLI))
    }
    /// Milliseconds as a float with microsecond precision, for traces and reports.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_MILLI as f64
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}

impl Dur {
    pub const ZERO: Dur = Dur(0);
    /// Saturating, like [`Time::from_millis`]: a period of `Long.MAX_VALUE` ms never elapses.
    pub const fn from_millis(ms: i64) -> Dur {
        Dur(ms.saturating_mul(NANOS_PER_MILLI))
    }
    pub const fn from_secs(s: i64) -> Dur {
        Dur(s * 1_000_000_000)
    }
    pub fn as_millis(self) -> i64 {
        self.0.div_euclid(NANOS_PER_MILLI)
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl Add<Dur> for Time {
    type Output = Time;
    fn add(self, d: Dur) -> Time {
        Time(self.0.saturating_add(d.0))
    }
}
impl AddAssign<Dur> for Time {
    fn add_assign(&mut self, d: Dur) {
        self.0 = self.0.saturating_add(d.0);
    }
}
impl Sub<Dur> for Time {
    type Output = Time;
    fn sub(self, d: Dur) -> Time {
        Time(self.0.saturating_sub(d.0))
    }
}
impl Sub for Time {
    type Output = Dur;
    fn sub(self, o: Time) -> Dur {
        Dur(self.0.saturating_sub(o.0))
    }
}
impl Add for Dur {
    type Output = Dur;
    fn add(self, o: Dur) -> Dur {
        Dur(self.0.saturating_add(o.0))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}s", self.as_secs_f64())
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        let (abs, sign) = (n.unsigned_abs(), if n < 0 { "-" } else { "" });
        let units: [(u64, &str); 5] =
            [(3_600_000_000_000, "h"), (60_000_000_000, "m"), (1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "us")];
        for (size, unit) in units {
            if abs >= size && abs % size == 0 {
                return write!(f, "{sign}{}{unit}", abs / size);
            }
        }
        if abs >= 1_000_000 {
            return write!(f, "{sign}{}ms", abs as f64 / 1e6);
        }
        write!(f, "{sign}{abs}ns")
    }
}

/// Parses `"15s"`, `"250ms"`, `"1.5s"`, `"100us"`, `"2m"`, `"1h"`, `"-5ms"`, `"0"`.
pub fn parse_dur(s: &str) -> Result<Dur, String> {
    let t = s.trim();
    let expected = || format!("expected a duration like \"15s\", \"250ms\" or \"1.5s\", found \"{s}\"");
    if t == "0" {
        return Ok(Dur::ZERO);
    }
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let split = body.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(expected)?;
    let (num, unit) = body.split_at(split);
    let scale: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return Err(expected()),
    };
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.matches('.').count() > 1 {
        return Err(expected());
    }
    let v: f64 = num.parse().map_err(|_| expected())?;
    let nanos = (v * scale).round();
    if !nanos.is_finite() || nanos > MAX_SPAN.0 as f64 {
        return Err(format!("duration \"{s}\" is too large: at most 3650 days (\"87600h\")"));
    }
    let nanos = nanos as i64;
    Ok(Dur(if neg { -nanos } else { nanos }))
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string like \"15s\" or \"250ms\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_dur(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl schemars::JsonSchema for Dur {
    fn schema_name() -> String {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut s = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        };
        s.string().pattern = Some(r"^(0|-?[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|min|h))$".into());
        s.metadata().description = Some("A duration: \"15s\", \"250ms\", \"1.5s\", \"2m\".".into());
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations() {
        assert_eq!(parse_dur("15s"), Ok(Dur::from_secs(15)));
        assert_eq!(parse_dur("250ms"), Ok(Dur::from_millis(250)));
        assert_eq!(parse_dur("1.5s"), Ok(Dur::from_millis(1500)));
        assert_eq!(parse_dur("-5ms"), Ok(Dur::from_millis(-5)));
        assert_eq!(parse_dur("2m"), Ok(Dur::from_secs(120)));
        assert_eq!(parse_dur("100us"), Ok(Dur(100_000)));
        assert_eq!(parse_dur("0"), Ok(Dur::ZERO));
        for bad in ["15", "s", "1.s", "1..5s", "15 parsecs", "", "-", "1e3s"] {
            assert!(parse_dur(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn displays_round_trip() {
        for s in ["15s", "250ms", "2m", "1h", "100us", "-5ms", "1500ms", "7ns"] {
            assert_eq!(parse_dur(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn millis_truncate_like_java_for_negative_clocks() {
        assert_eq!(Time(-1).as_millis(), -1);
        assert_eq!(Time(1_999_999).as_millis(), 1);
    }
}
