//! A circle's cadence (every N weeks on a weekday, at a local time, for a
//! length, in a time zone) and the gathering dates it generates.

pub use crate::docs::CadenceDoc;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// A cadence could not be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CadenceError {
    /// Weeks between gatherings out of 1..=8.
    #[error("a circle meets every 1 to 8 weeks, not every {0}")]
    Weeks(u64),
    /// Not a weekday name.
    #[error("unknown weekday {0:?} (use mon, tue, … sun)")]
    Weekday(String),
    /// Not a HH:MM time.
    #[error("unknown time {0:?} (use HH:MM, 24-hour)")]
    Time(String),
    /// Length out of 15..=480 minutes.
    #[error("a gathering lasts 15 to 480 minutes, not {0}")]
    Minutes(u64),
    /// Not an IANA time zone.
    #[error("unknown time zone {0:?} (use an IANA name such as Europe/Berlin)")]
    TimeZone(String),
    /// Not a YYYY-MM-DD date.
    #[error("unknown date {0:?} (use YYYY-MM-DD)")]
    Date(String),
}

/// How often and when a circle meets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cadence {
    /// Weeks between gatherings (1–8; 2 = every other week).
    pub every_weeks: u8,
    /// The weekday.
    pub weekday: Weekday,
    /// Local start time.
    pub time: NaiveTime,
    /// Length in minutes.
    pub minutes: u16,
    /// Where the time is local.
    pub time_zone: Tz,
    /// The first gathering is on the first `weekday` on or after this date.
    pub first: NaiveDate,
}

/// Parses a weekday name (`thu`, `Thursday`, …).
pub fn parse_weekday(text: &str) -> Result<Weekday, CadenceError> {
    text.trim()
        .parse::<Weekday>()
        .map_err(|_| CadenceError::Weekday(text.to_owned()))
}

/// Parses a YYYY-MM-DD date.
pub fn parse_date(text: &str) -> Result<NaiveDate, CadenceError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| CadenceError::Date(text.into()))
}

/// Parses a HH:MM time.
pub fn parse_time(text: &str) -> Result<NaiveTime, CadenceError> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").map_err(|_| CadenceError::Time(text.into()))
}

impl TryFrom<&CadenceDoc> for Cadence {
    type Error = CadenceError;

    /// The cadence a stored or typed one names, checked.
    fn try_from(c: &CadenceDoc) -> Result<Self, CadenceError> {
        Cadence::parse(
            c.every_weeks,
            &c.weekday,
            &c.time,
            c.minutes,
            &c.time_zone,
            &c.first,
        )
    }
}

impl Cadence {
    /// A cadence from its stored or typed parts, checked.
    pub fn parse(
        every_weeks: u64,
        weekday: &str,
        time: &str,
        minutes: u64,
        time_zone: &str,
        first: &str,
    ) -> Result<Self, CadenceError> {
        if !(1..=8).contains(&every_weeks) {
            return Err(CadenceError::Weeks(every_weeks));
        }
        if !(15..=480).contains(&minutes) {
            return Err(CadenceError::Minutes(minutes));
        }
        Ok(Cadence {
            every_weeks: every_weeks as u8,
            weekday: parse_weekday(weekday)?,
            time: parse_time(time)?,
            minutes: minutes as u16,
            time_zone: time_zone
                .trim()
                .parse::<Tz>()
                .map_err(|_| CadenceError::TimeZone(time_zone.to_owned()))?,
            first: parse_date(first)?,
        })
    }

    /// The cadence as stored.
    pub fn to_doc(&self) -> CadenceDoc {
        CadenceDoc {
            every_weeks: self.every_weeks.into(),
            weekday: self.weekday.to_string().to_lowercase(),
            time: self.time.format("%H:%M").to_string(),
            minutes: self.minutes.into(),
            time_zone: self.time_zone.name().to_owned(),
            first: self.first.to_string(),
        }
    }

    /// The date of the first gathering.
    pub fn first_date(&self) -> NaiveDate {
        let ahead = (7 + self.weekday.num_days_from_monday() as i64
            - self.first.weekday().num_days_from_monday() as i64)
            % 7;
        self.first + Duration::days(ahead)
    }

    /// Every gathering date from the first up to and including `until`.
    pub fn dates_until(&self, until: NaiveDate) -> Vec<NaiveDate> {
        let step = Duration::weeks(self.every_weeks as i64);
        let mut out = Vec::new();
        let mut date = self.first_date();
        while date <= until {
            out.push(date);
            date += step;
        }
        out
    }

    /// When a gathering on `date` starting at local `time` begins, in UTC
    /// (a time skipped by a clock change moves to the first valid instant).
    pub fn starts_at(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        let local = date.and_time(time);
        let resolved = self
            .time_zone
            .from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                self.time_zone
                    .from_local_datetime(&(local + Duration::hours(1)))
                    .earliest()
            });
        match resolved {
            Some(at) => at.with_timezone(&Utc),
            None => Utc.from_utc_datetime(&local),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cadence_as_the_setup_form_sends_it_round_trips_through_storage() {
        let form = r#"{"everyWeeks":2,"weekday":"Thursday","time":"18:30",
            "minutes":120,"timeZone":"Europe/Berlin","first":"2026-11-23"}"#;
        let typed: CadenceDoc = serde_json::from_str(form).expect("form");
        let c = Cadence::try_from(&typed).expect("cadence");
        assert_eq!(c.weekday, Weekday::Thu);
        assert_eq!(c.to_doc().weekday, "thu");
        assert_eq!(Cadence::try_from(&c.to_doc()), Ok(c));
        let wrong = CadenceDoc {
            minutes: 5,
            ..typed
        };
        assert_eq!(Cadence::try_from(&wrong), Err(CadenceError::Minutes(5)));
    }

    #[test]
    fn every_other_thursday_from_a_monday() {
        let c = Cadence::parse(2, "thu", "18:30", 120, "Europe/Berlin", "2026-11-23").expect("ok");
        let dates = c.dates_until(parse_date("2026-12-31").expect("date"));
        let shown: Vec<String> = dates.iter().map(|d| d.to_string()).collect();
        assert_eq!(shown, ["2026-11-26", "2026-12-10", "2026-12-24"]);
        // Winter in Berlin is UTC+1.
        let at = c.starts_at(dates[0], c.time);
        assert_eq!(at.to_rfc3339(), "2026-11-26T17:30:00+00:00");
    }

    #[test]
    fn bad_parts_are_named() {
        assert_eq!(
            Cadence::parse(0, "thu", "18:30", 90, "UTC", "2026-01-01"),
            Err(CadenceError::Weeks(0))
        );
        assert!(matches!(
            Cadence::parse(2, "someday", "18:30", 90, "UTC", "2026-01-01"),
            Err(CadenceError::Weekday(_))
        ));
        assert!(matches!(
            Cadence::parse(2, "thu", "25:00", 90, "UTC", "2026-01-01"),
            Err(CadenceError::Time(_))
        ));
        assert!(matches!(
            Cadence::parse(2, "thu", "18:00", 90, "Mars/Olympus", "2026-01-01"),
            Err(CadenceError::TimeZone(_))
        ));
    }

    #[test]
    fn a_start_inside_a_clock_change_gap_is_moved_not_lost() {
        let c = Cadence::parse(1, "sun", "02:30", 60, "Europe/Berlin", "2026-03-29").expect("ok");
        let at = c.starts_at(c.first_date(), c.time);
        assert_eq!(at.to_rfc3339(), "2026-03-29T01:30:00+00:00");
    }
}
