//! A short series: two gatherings as one thing. Starting it sets both days
//! (the first sets small actions, the second reports back on them); the
//! second, opened as a series report, follows the first, so its report
//! back lists the actions set there, and its close brings the series in
//! review.

use crate::views::{ReminderView, RetroView};
use crate::{CircleId, DocId, Engine, EngineError, Store};
use chrono::{Duration, NaiveDate};
use circlekeep_model::agenda::Template;
use circlekeep_model::docs::CircleDoc;

/// Days a series reports back after it starts, unless told.
pub const SERIES_DAYS: i64 = 14;

/// Longest a series may run, in days.
const SERIES_MAX_DAYS: i64 = 92;

impl<S: Store> Engine<S> {
    /// Starts a short series on `date` that reports back on `report_on`
    /// (default two weeks later): opens its first gathering and returns it.
    pub fn start_series(
        &self,
        id: CircleId,
        date: NaiveDate,
        report_on: Option<NaiveDate>,
    ) -> Result<DocId, EngineError> {
        let report_on = report_on.unwrap_or(date + Duration::days(SERIES_DAYS));
        if report_on <= date || report_on - date > Duration::days(SERIES_MAX_DAYS) {
            return Err(EngineError::BadText(
                "a series reports back 1 to 92 days after it starts",
            ));
        }
        self.open_gathering_in(id, date, Template::SeriesStart, Some(report_on))
    }

    /// At a series report, the series in review: both gatherings, the
    /// actions set at the first and how they went.
    pub(crate) fn series_review(
        &self,
        id: CircleId,
        gathering: DocId,
        date: &str,
    ) -> Result<RetroView, EngineError> {
        let circle = self.circle_doc(id)?;
        let first = first_of(&circle, gathering).map(|(_, date)| date);
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
        self.retrospective(id, first.as_deref().and_then(day), day(date))
    }
}

/// The series a report on `date` follows: the latest first gathering
/// before `date` that no gathering follows yet.
pub(crate) fn awaiting_report(circle: &CircleDoc, date: NaiveDate) -> Option<String> {
    let day = date.to_string();
    circle
        .gatherings
        .iter()
        .filter(|(_, g)| g.report_on.is_some() && g.date < day)
        .filter(|(id, _)| {
            !circle
                .gatherings
                .values()
                .any(|g| g.follows.as_deref() == Some(id.as_str()))
        })
        .max_by(|a, b| (&a.1.date, a.0).cmp(&(&b.1.date, b.0)))
        .map(|(id, _)| id.clone())
}

/// The first gathering (id, date) of the series `gathering` reports on.
pub(crate) fn first_of(circle: &CircleDoc, gathering: DocId) -> Option<(String, String)> {
    let follows = circle
        .gatherings
        .get(&gathering.to_hex())?
        .follows
        .clone()?;
    let first = circle.gatherings.get(&follows)?;
    Some((follows, first.date.clone()))
}

/// Reminders of series in `circle` (id `hex`) that report back from
/// `today` up to `within` ahead and have not yet done so.
pub(crate) fn reminders(
    hex: &str,
    circle: &CircleDoc,
    today: NaiveDate,
    within: Duration,
) -> Vec<ReminderView> {
    let mut out = Vec::new();
    for (id, g) in &circle.gatherings {
        let Some(day) = g
            .report_on
            .as_deref()
            .and_then(|d| d.parse::<NaiveDate>().ok())
        else {
            continue;
        };
        let reported = circle
            .gatherings
            .values()
            .any(|f| f.follows.as_deref() == Some(id.as_str()));
        if !reported && day >= today && day - today <= within {
            out.push(ReminderView {
                circle: hex.to_owned(),
                circle_name: circle.settings.name.clone(),
                mine: Vec::new(),
                on: Some(day.to_string()),
                due: 0,
                kind: "series".into(),
                text: format!(
                    "{} reports back on its short series on {day}: open that gathering as a series report.",
                    circle.settings.name
                ),
                gathering: None,
            });
        }
    }
    out
}
