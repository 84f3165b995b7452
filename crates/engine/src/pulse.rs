//! The pulse after a gathering: each member may answer three questions (was
//! I heard, was it useful, was the time fair), each 1 to 5. The circle sees
//! only the averages, and only once at least [`PULSE_MIN_ANSWERS`] members
//! answered; each member sees their own answers. This is a rule of what the
//! app shows, not a cryptographic one: the answers are in the gathering's
//! document, which every member's device holds (`docs/limitations.md`).

use crate::views::{PulseAnswers, PulseView};
use crate::{circle, CircleId, DocId, Engine, EngineError, Store};
use circlekeep_model::docs;
use std::collections::HashMap;

/// Answers needed before the circle sees the averages.
pub const PULSE_MIN_ANSWERS: usize = 3;

impl<S: Store> Engine<S> {
    /// Records this member's answers to the pulse of `gathering` (answering
    /// again replaces them); returns the pulse as it now stands.
    pub fn answer_pulse(
        &self,
        id: CircleId,
        gathering: DocId,
        answers: PulseAnswers,
    ) -> Result<PulseView, EngineError> {
        let scores = [answers.heard, answers.useful, answers.time_fair];
        if !scores.iter().all(|s| (1..=5).contains(s)) {
            return Err(EngineError::BadText(
                "answer each question from 1 (not at all) to 5 (fully)",
            ));
        }
        let pulse = docs::Pulse {
            heard: answers.heard.into(),
            useful: answers.useful.into(),
            time_fair: answers.time_fair.into(),
            at: circle::now(),
        };
        let me = self.me.member_id().to_hex();
        self.write_gathering(id, gathering, |doc| {
            Ok(docs::put_at(doc, &["pulse"], &me, &pulse)?)
        })?;
        self.pulse(id, gathering)
    }

    /// The pulse of `gathering`: how many answered, the averages once
    /// enough did, and this member's own answers.
    pub fn pulse(&self, id: CircleId, gathering: DocId) -> Result<PulseView, EngineError> {
        let doc = self.gathering_doc(id, gathering)?;
        let me = self.me.member_id().to_hex();
        Ok(summarize(gathering, &doc.pulse, &me))
    }
}

/// The answers of `pulse` as the circle may see them.
pub(crate) fn summarize(
    gathering: DocId,
    pulse: &HashMap<String, docs::Pulse>,
    me: &str,
) -> PulseView {
    // Out-of-range scores (only a modified app writes them) are not counted.
    let valid: Vec<(&String, PulseAnswers)> = pulse
        .iter()
        .filter_map(|(member, p)| {
            let score = |n: u64| u8::try_from(n).ok().filter(|n| (1..=5).contains(n));
            Some((
                member,
                PulseAnswers {
                    heard: score(p.heard)?,
                    useful: score(p.useful)?,
                    time_fair: score(p.time_fair)?,
                },
            ))
        })
        .collect();
    let shown = valid.len() >= PULSE_MIN_ANSWERS;
    let mean = |pick: fn(&PulseAnswers) -> u8| {
        let sum: u32 = valid.iter().map(|(_, a)| u32::from(pick(a))).sum();
        shown.then(|| (f64::from(sum) * 10.0 / valid.len() as f64).round() / 10.0)
    };
    PulseView {
        gathering: gathering.to_hex(),
        answered: valid.len(),
        needed: PULSE_MIN_ANSWERS,
        heard: mean(|a| a.heard),
        useful: mean(|a| a.useful),
        time_fair: mean(|a| a.time_fair),
        mine: valid
            .iter()
            .find(|(m, _)| m.as_str() == me)
            .map(|(_, a)| *a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(scores: &[(&str, u64)]) -> HashMap<String, docs::Pulse> {
        scores
            .iter()
            .map(|(m, s)| {
                let p = docs::Pulse {
                    heard: *s,
                    useful: 3,
                    time_fair: 6 - (*s).min(5),
                    at: String::new(),
                };
                ((*m).to_owned(), p)
            })
            .collect()
    }

    #[test]
    fn averages_show_only_from_the_third_answer() {
        let g = DocId::CIRCLE;
        let two = summarize(g, &answered(&[("ada", 5), ("bo", 4)]), "ada");
        assert_eq!((two.answered, two.heard, two.useful), (2, None, None));
        assert_eq!(two.mine.map(|a| a.heard), Some(5), "my own answer I see");
        let three = summarize(g, &answered(&[("ada", 5), ("bo", 4), ("cy", 4)]), "di");
        assert_eq!(three.heard, Some(4.3));
        assert_eq!(three.useful, Some(3.0));
        assert_eq!(three.mine, None);
    }

    #[test]
    fn scores_out_of_range_are_not_counted() {
        let pulse = answered(&[("ada", 5), ("bo", 0), ("cy", 9), ("di", u64::MAX)]);
        let view = summarize(DocId::CIRCLE, &pulse, "ada");
        assert_eq!((view.answered, view.heard), (1, None));
    }

    proptest::proptest! {
        /// Whatever members (or a modified app) wrote: the averages show
        /// exactly when three in-range answers exist, lie within 1..=5, and
        /// no out-of-range score moves them.
        #[test]
        fn averages_need_three_answers_and_stay_in_range(
            scores in proptest::collection::vec((0u64..8, 0u64..8, 0u64..8), 0..8),
        ) {
            let pulse: HashMap<String, docs::Pulse> = scores
                .iter()
                .enumerate()
                .map(|(i, (h, u, t))| {
                    let p = docs::Pulse { heard: *h, useful: *u, time_fair: *t, at: String::new() };
                    (format!("m{i}"), p)
                })
                .collect();
            let valid = scores
                .iter()
                .filter(|(h, u, t)| [h, u, t].iter().all(|s| (1..=5).contains(*s)))
                .count();
            let view = summarize(DocId::CIRCLE, &pulse, "m0");
            proptest::prop_assert_eq!(view.answered, valid);
            proptest::prop_assert_eq!(view.heard.is_some(), valid >= PULSE_MIN_ANSWERS);
            for avg in [view.heard, view.useful, view.time_fair].into_iter().flatten() {
                proptest::prop_assert!((1.0..=5.0).contains(&avg), "{avg}");
            }
        }
    }
}
