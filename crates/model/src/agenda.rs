//! Gathering templates (the biweekly circle flow and a two-gathering short
//! series), fitting members' time requests into the time left, and the turn
//! timer's warning.

use std::collections::BTreeMap;

/// What a step of the agenda is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StepKind {
    /// Restate confidentiality and ground rules.
    Open,
    /// Each member briefly.
    CheckIn,
    /// Report back on last gathering's contracts.
    ReportBack,
    /// Each member says how many minutes they need.
    TimeRequests,
    /// Members' turns: issue, feedback wanted, challenge and support, contract.
    Turns,
    /// Appreciations.
    Appreciations,
    /// Next date and roles confirmed.
    Close,
    /// Anything the circle adds.
    #[default]
    Custom,
}

impl StepKind {
    /// Every kind.
    pub const ALL: [StepKind; 8] = [
        StepKind::Open,
        StepKind::CheckIn,
        StepKind::ReportBack,
        StepKind::TimeRequests,
        StepKind::Turns,
        StepKind::Appreciations,
        StepKind::Close,
        StepKind::Custom,
    ];

    /// The kind's name in documents and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Open => "open",
            StepKind::CheckIn => "check-in",
            StepKind::ReportBack => "report-back",
            StepKind::TimeRequests => "time-requests",
            StepKind::Turns => "turns",
            StepKind::Appreciations => "appreciations",
            StepKind::Close => "close",
            StepKind::Custom => "custom",
        }
    }

    /// Whether a member's time started during this step is a turn (an
    /// issue brought, feedback, a contract at the end) rather than speaking
    /// time: at *Turns*, and at *Time requests*, where the first turn
    /// usually starts. Everywhere else (check-in, report back,
    /// appreciations, a discussion the circle added) it is speaking time,
    /// which counts as airtime all the same.
    pub fn holds_turns(self) -> bool {
        matches!(self, StepKind::Turns | StepKind::TimeRequests)
    }

    /// The kind named `text` (unknown names are custom steps).
    pub fn parse(text: &str) -> StepKind {
        StepKind::ALL
            .into_iter()
            .find(|k| k.name() == text.trim())
            .unwrap_or(StepKind::Custom)
    }
}

/// One step of an agenda.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// What it is for.
    pub kind: StepKind,
    /// What the facilitator reads out.
    pub title: String,
    /// Planned length in minutes.
    pub minutes: u32,
}

/// The gathering templates (the biweekly flow unless told otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Template {
    /// The biweekly circle flow.
    #[default]
    Biweekly,
    /// Short series, first gathering: set small actions.
    SeriesStart,
    /// Short series, second gathering: report back.
    SeriesReport,
}

impl Template {
    /// Every template.
    pub const ALL: [Template; 3] = [
        Template::Biweekly,
        Template::SeriesStart,
        Template::SeriesReport,
    ];

    /// The template's name in the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Template::Biweekly => "biweekly",
            Template::SeriesStart => "series-start",
            Template::SeriesReport => "series-report",
        }
    }

    /// The template named `text`.
    pub fn parse(text: &str) -> Option<Template> {
        crate::error_code::named(Template::ALL, Template::name, text)
    }

    /// The agenda for `members` present and `minutes` in all: fixed steps
    /// scaled to the circle's size, turns get the rest.
    pub fn agenda(self, members: usize, minutes: u32) -> Vec<Step> {
        let n = members.max(1) as u32;
        let step = |kind, title: &str, minutes| Step {
            kind,
            title: title.to_owned(),
            minutes,
        };
        let mut steps = match self {
            Template::Biweekly => vec![
                step(StepKind::Open, "Open: confidentiality and ground rules", 3),
                step(StepKind::CheckIn, "Check-in, each briefly", n.div_ceil(2)),
                step(
                    StepKind::ReportBack,
                    "Report back on last gathering's contracts",
                    n,
                ),
                step(StepKind::TimeRequests, "Time requests", 2),
                step(StepKind::Turns, "Turns", 0),
                step(StepKind::Appreciations, "Appreciations", n.div_ceil(3)),
                step(
                    StepKind::Close,
                    "Close: next date, facilitator, timekeeper, host",
                    5,
                ),
            ],
            Template::SeriesStart => vec![
                step(StepKind::Open, "Open: confidentiality and ground rules", 3),
                step(StepKind::CheckIn, "Check-in, each briefly", n.div_ceil(2)),
                step(
                    StepKind::Turns,
                    "Turns: each names a small action to try before next time",
                    0,
                ),
                step(StepKind::Close, "Close: the date to report back", 3),
            ],
            Template::SeriesReport => vec![
                step(StepKind::Open, "Open: confidentiality and ground rules", 3),
                step(
                    StepKind::ReportBack,
                    "Report back: what happened, what was learnt",
                    2 * n,
                ),
                step(StepKind::Turns, "Turns: what next", 0),
                step(StepKind::Appreciations, "Appreciations", n.div_ceil(3)),
                step(StepKind::Close, "Close", 3),
            ],
        };
        let fixed: u32 = steps.iter().map(|s| s.minutes).sum();
        for s in &mut steps {
            if s.kind == StepKind::Turns {
                s.minutes = minutes.saturating_sub(fixed);
            }
        }
        steps
    }
}

impl std::str::FromStr for StepKind {
    type Err = crate::BadInput;

    /// A kind typed by a user: unlike [`StepKind::parse`] (for stored
    /// documents), an unknown name is refused.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        crate::error_code::named(StepKind::ALL, StepKind::name, text).ok_or(crate::BadInput {
            code: crate::ErrorCode::BadStepKind,
            expected: "a step kind is open, check-in, report-back, time-requests, turns, appreciations, close or custom",
        })
    }
}

impl std::str::FromStr for Template {
    type Err = crate::BadInput;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Template::parse(text).ok_or(crate::BadInput {
            code: crate::ErrorCode::BadTemplate,
            expected: "a gathering template is biweekly, series-start or series-report",
        })
    }
}

/// Fits time requests (member → minutes wanted) into `minutes_left` among
/// `present` members: requests that fit are granted; too many are scaled
/// down in proportion (largest remainders get the spare minutes); with no
/// requests at all, everyone present gets an equal share.
pub fn fit_requests(
    present: &[String],
    requests: &BTreeMap<String, u32>,
    minutes_left: u32,
) -> BTreeMap<String, u32> {
    let asked: Vec<(&String, u32)> = present
        .iter()
        .filter_map(|m| requests.get(m).map(|r| (m, *r)))
        .filter(|(_, r)| *r > 0)
        .collect();
    if asked.is_empty() {
        let share = if present.is_empty() {
            0
        } else {
            minutes_left / present.len() as u32
        };
        return present.iter().map(|m| (m.clone(), share)).collect();
    }
    let wanted: u64 = asked.iter().map(|(_, r)| *r as u64).sum();
    let left = minutes_left as u64;
    if wanted <= left {
        return asked.into_iter().map(|(m, r)| (m.clone(), r)).collect();
    }
    let mut granted: Vec<(&String, u64, u64)> = asked
        .iter()
        .map(|(m, r)| {
            let exact = *r as u64 * left;
            (*m, exact / wanted, exact % wanted)
        })
        .collect();
    let mut spare = left - granted.iter().map(|(_, g, _)| g).sum::<u64>();
    let mut order: Vec<usize> = (0..granted.len()).collect();
    order.sort_by(|a, b| granted[*b].2.cmp(&granted[*a].2).then(a.cmp(b)));
    for i in order {
        if spare == 0 {
            break;
        }
        granted[i].1 += 1;
        spare -= 1;
    }
    granted
        .into_iter()
        .map(|(m, g, _)| (m.clone(), g as u32))
        .collect()
}

/// Seconds before the end of an allotment at which the turn timer warns:
/// two minutes, or a fifth of a short turn.
pub fn warn_before_end(allotted_secs: u64) -> u64 {
    (allotted_secs / 5).min(120)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn biweekly_for_six_in_two_hours_follows_the_practice() {
        let steps = Template::Biweekly.agenda(6, 120);
        let total: u32 = steps.iter().map(|s| s.minutes).sum();
        assert_eq!(total, 120);
        let turns = steps
            .iter()
            .find(|s| s.kind == StepKind::Turns)
            .expect("turns");
        assert_eq!(turns.minutes, 120 - (3 + 3 + 6 + 2 + 2 + 5));
        assert_eq!(steps[0].kind, StepKind::Open);
        assert_eq!(steps.last().map(|s| s.kind), Some(StepKind::Close));
    }

    #[test]
    fn no_requests_means_equal_shares() {
        let present: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let fit = fit_requests(&present, &BTreeMap::new(), 80);
        assert_eq!(fit.values().copied().collect::<Vec<_>>(), [26, 26, 26]);
    }

    proptest! {
        #[test]
        fn fitted_time_never_exceeds_what_is_left_or_asked(
            asks in prop::collection::btree_map("[a-h]", 0u32..60, 0..8),
            left in 0u32..200,
        ) {
            let present: Vec<String> = asks.keys().cloned().collect();
            let fit = fit_requests(&present, &asks, left);
            let total: u32 = fit.values().sum();
            prop_assert!(total <= left);
            let wanted: u32 = asks.values().sum();
            if wanted > 0 {
                for (m, g) in &fit {
                    prop_assert!(*g <= asks[m]);
                }
                if wanted <= left {
                    prop_assert_eq!(total, wanted);
                } else {
                    prop_assert_eq!(total, left, "all the time is used");
                }
            }
        }
    }
}
