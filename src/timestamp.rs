//! Wall-clock instants as the platform writes them: ISO-8601 / RFC 3339 text in events,
//! microseconds since the Unix epoch in `.mjr` headers. One type, [`Timestamp`], for both.

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An instant, in microseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Text that is not an RFC 3339 date-time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an ISO-8601 date-time like 2020-05-25T07:42:36.277Z ({reason})")]
pub struct ParseTimestampError {
    pub text: String,
    pub reason: String,
}

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 (`2020-05-25T07:42:36.277Z`, any offset, any sub-second precision).
    pub fn parse(text: &str) -> Result<Self, ParseTimestampError> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| ParseTimestampError {
            text: text.to_owned(),
            reason: e.to_string(),
        })?;
        let micros = parsed.unix_timestamp_nanos() / 1_000;
        Ok(Timestamp(micros as i64))
    }

    /// Seconds from `earlier` to `self` (negative when `self` is earlier).
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / 1e6
    }

    /// `self` moved by `seconds` (rounded to the microsecond).
    pub fn add_seconds(self, seconds: f64) -> Timestamp {
        Timestamp(self.0 + (seconds * 1e6).round() as i64)
    }

    fn datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// `2020-05-25T07:42:36.277Z`: UTC, milliseconds, as the events carry it.
    pub fn to_iso_millis(self) -> String {
        let dt = self.datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        )
    }

    /// `YYYYMMDD` in UTC, for the `{{date}}` placeholder.
    pub fn date_compact(self) -> String {
        let dt = self.datetime();
        format!("{:04}{:02}{:02}", dt.year(), u8::from(dt.month()), dt.day())
    }

    /// `HHMMSS` in UTC, for the `{{time}}` placeholder.
    pub fn time_compact(self) -> String {
        let dt = self.datetime();
        format!("{:02}{:02}{:02}", dt.hour(), dt.minute(), dt.second())
    }

    /// The current instant.
    pub fn now() -> Timestamp {
        Timestamp((OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as i64)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_event_times_to_micros() {
        let t = Timestamp::parse("2020-05-25T07:42:36.277Z").unwrap();
        assert_eq!(t.as_micros(), 1_590_392_556_277_000);
        assert_eq!(t.to_iso_millis(), "2020-05-25T07:42:36.277Z");
    }

    #[test]
    fn parses_offsets_and_microsecond_precision() {
        let t = Timestamp::parse("2020-05-25T09:42:36.277123+02:00").unwrap();
        assert_eq!(t.as_micros(), 1_590_392_556_277_123);
    }

    #[test]
    fn rejects_non_iso_text_naming_it() {
        let e = Timestamp::parse("25/05/2020 07:42").unwrap_err();
        assert!(e.to_string().contains("25/05/2020 07:42"), "{e}");
        assert!(Timestamp::parse("").is_err());
        assert!(Timestamp::parse("2020-05-25").is_err());
    }

    #[test]
    fn compact_date_and_time_are_utc() {
        let t = Timestamp::parse("2020-05-25T23:59:58.999-01:00").unwrap();
        assert_eq!(t.date_compact(), "20200526");
        assert_eq!(t.time_compact(), "005958");
    }

    #[test]
    fn seconds_arithmetic_round_trips() {
        let t = Timestamp::from_micros(1_000_000);
        assert_eq!(t.add_seconds(1.5).as_micros(), 2_500_000);
        assert!((t.add_seconds(1.5).seconds_since(t) - 1.5).abs() < 1e-9);
    }
}
