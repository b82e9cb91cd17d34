//! The instants a fixture writes: microseconds since the Unix epoch in `.mjr` headers,
//! ISO-8601 text with milliseconds in the event. The fixture's own type, kept apart from
//! recproc's so that what recproc parses comes from an independent writer.

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
        Ok(Timestamp((parsed.unix_timestamp_nanos() / 1_000) as i64))
    }

    /// `self` moved by `seconds` (rounded to the microsecond).
    pub fn add_seconds(self, seconds: f64) -> Timestamp {
        Timestamp(self.0 + (seconds * 1e6).round() as i64)
    }

    /// `2020-05-25T07:42:36.277Z`: UTC, milliseconds, as the events carry it.
    pub fn to_iso_millis(self) -> String {
        let dt = OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_times_to_micros_and_writes_milliseconds() {
        let t = Timestamp::parse("2020-05-25T07:42:36.277Z").unwrap();
        assert_eq!(t.as_micros(), 1_590_392_556_277_000);
        assert_eq!(t.to_iso_millis(), "2020-05-25T07:42:36.277Z");
        let offset = Timestamp::parse("2020-05-25T09:42:36.277123+02:00").unwrap();
        assert_eq!(offset.as_micros(), 1_590_392_556_277_123);
        assert_eq!(offset.to_iso_millis(), "2020-05-25T07:42:36.277Z");
    }

    #[test]
    fn rejects_non_iso_text_naming_it() {
        let e = Timestamp::parse("25/05/2020 07:42").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("\"25/05/2020 07:42\" is not an ISO-8601 date-time"),
            "{e}"
        );
        assert!(Timestamp::parse("2020-05-25").is_err());
    }

    #[test]
    fn adds_seconds_rounded_to_the_microsecond() {
        let t = Timestamp::from_micros(1_000_000);
        assert_eq!(t.add_seconds(1.5).as_micros(), 2_500_000);
        assert_eq!(t.add_seconds(1.0 / 15.0).as_micros(), 1_066_667);
        assert_eq!(t.add_seconds(-0.5).as_micros(), 500_000);
    }
}
