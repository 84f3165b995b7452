//! The generated circle the catch-up and scaling benchmarks run on: every
//! member on their own device, a gathering every two weeks with notes typed
//! and corrected, contracts made and reported back, goals with progress,
//! exchanged among the members after each gathering as they would sync.

use crate::Result;
use circlekeep_engine::Outcome;
use circlekeep_engine::{CircleId, DocId, HistoryPolicy, NaiveDate, TextEdit};
use circlekeep_tests::Peer;

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct CircleSpec {
    /// Members, founder included.
    pub members: usize,
    /// Gatherings (26 a year).
    pub gatherings: usize,
    /// Notes each member writes per gathering.
    pub notes_per_member: usize,
}

impl CircleSpec {
    /// DESIGN §4's circle: 8 members, two years (52 gatherings).
    pub const TWO_YEARS: CircleSpec = CircleSpec {
        members: 8,
        gatherings: 52,
        notes_per_member: 3,
    };
}

/// A generated circle and the devices of its members.
pub struct GeneratedCircle {
    /// The circle.
    pub circle: CircleId,
    /// Members' devices; the founder first.
    pub devices: Vec<Peer>,
    /// Gatherings, oldest first.
    pub gatherings: Vec<DocId>,
    /// Writes made (each one sealed entry).
    pub writes: usize,
}

/// A small deterministic word source (no need for statistical quality).
struct Words(u64);

const WORDS: &[&str] = &[
    "I",
    "want",
    "to",
    "practise",
    "saying",
    "no",
    "to",
    "extra",
    "work",
    "my",
    "manager",
    "asked",
    "again",
    "and",
    "felt",
    "the",
    "old",
    "pull",
    "feedback",
    "helped",
    "last",
    "time",
    "team",
    "conflict",
    "about",
    "deadlines",
    "clearer",
    "boundaries",
    "coaching",
    "conversation",
    "went",
    "better",
    "than",
    "expected",
    "still",
    "avoiding",
    "the",
    "hard",
    "talk",
    "with",
    "my",
    "colleague",
    "next",
    "step",
    "is",
    "to",
    "write",
    "it",
    "down",
    "before",
    "Friday",
    "energy",
    "was",
    "low",
    "this",
    "week",
    "but",
    "we",
    "shipped",
    "the",
    "proposal",
    "mentor",
    "suggested",
    "asking",
    "for",
    "a",
    "stretch",
    "role",
    "promotion",
    "review",
    "in",
    "March",
    "sleep",
    "exercise",
    "reading",
    "group",
];

impl Words {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn sentence(&mut self, words: usize) -> String {
        let mut out = String::new();
        for i in 0..words {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(WORDS[(self.next() % WORDS.len() as u64) as usize]);
        }
        out.push('.');
        out
    }

    fn between(&mut self, low: usize, high: usize) -> usize {
        low + (self.next() % (high - low + 1) as u64) as usize
    }
}

/// Builds the circle: each gathering, the facilitator plans it, everyone
/// writes notes (and corrects one by typing), reports back on the last
/// contract and makes a new one; twice a year each member sets a goal and
/// notes progress on it. After each gathering every member syncs with the
/// founder by bundle, and the founder with every member.
pub fn generate(spec: CircleSpec) -> Result<GeneratedCircle> {
    let mut generator = Generator::new(spec)?;
    let everyone: Vec<usize> = (0..spec.members).collect();
    for _ in 0..spec.gatherings {
        generator.gathering(&everyone)?;
    }
    Ok(generator.done())
}

/// A circle being generated one gathering at a time, with whoever is
/// present (members absent neither write nor sync).
pub struct Generator {
    spec: CircleSpec,
    circle: GeneratedCircle,
    words: Words,
    contracts: Vec<Option<String>>,
    goals: Vec<Option<String>>,
}

impl Generator {
    /// The members' devices and the circle, every member in it.
    pub fn new(spec: CircleSpec) -> Result<Self> {
        let mut devices = Vec::with_capacity(spec.members);
        for i in 0..spec.members {
            devices.push(Peer::new(&format!("Member {}", i + 1), i as u8 + 1));
        }
        let founder = devices[0].engine().clone();
        let circle =
            founder.create_circle("Generated circle", HistoryPolicy::NewcomersSeeHistory)?;
        for d in &devices[1..] {
            founder.add_member(circle, &d.card())?;
        }
        for d in &devices[1..] {
            d.engine()
                .import_bundle(&founder.export_bundle(circle, None)?)?;
            d.engine().accept_circle(circle)?;
        }
        Ok(Generator {
            spec,
            circle: GeneratedCircle {
                circle,
                devices,
                gatherings: Vec::with_capacity(spec.gatherings),
                writes: 0,
            },
            words: Words(0x9E37_79B9_7F4A_7C15 ^ spec.gatherings as u64),
            contracts: vec![None; spec.members],
            goals: vec![None; spec.members],
        })
    }

    /// The circle so far.
    pub fn circle(&self) -> &GeneratedCircle {
        &self.circle
    }

    /// The next gathering, with the members at `present` (indexes; the
    /// founder, who relays between members, must be among them).
    pub fn gathering(&mut self, present: &[usize]) -> Result<()> {
        let g = self.circle.gatherings.len();
        let circle = self.circle.circle;
        let devices: Vec<&Peer> = present.iter().map(|&m| &self.circle.devices[m]).collect();
        let facilitator = devices[g % devices.len()];
        let first = NaiveDate::from_ymd_opt(2024, 1, 4).unwrap_or_default();
        let date = first + chrono::Duration::days(14 * g as i64);
        let gathering = facilitator.engine().new_gathering(circle, date)?;
        self.circle.writes += 1;
        self.circle.gatherings.push(gathering);
        // Everyone needs the gathering before writing into it.
        exchange(&devices, circle)?;
        let engines: Vec<_> = devices.iter().map(|d| d.engine().clone()).collect();
        for (&m, engine) in present.iter().zip(&engines) {
            self.circle.writes += self.member_writes(g, m, engine, gathering)?;
        }
        let devices: Vec<&Peer> = present.iter().map(|&m| &self.circle.devices[m]).collect();
        exchange(&devices, circle)
    }

    /// What member `m` writes at gathering `g`; returns how many writes.
    fn member_writes(
        &mut self,
        g: usize,
        m: usize,
        engine: &circlekeep_tests::TestEngine,
        gathering: DocId,
    ) -> Result<usize> {
        let (circle, words) = (self.circle.circle, &mut self.words);
        let mut writes = 0;
        if g.is_multiple_of(13) {
            let goal_words = words.between(6, 12);
            self.goals[m] = Some(engine.add_goal(circle, &words.sentence(goal_words))?);
            writes += 1;
        } else if g.is_multiple_of(4) {
            if let Some(goal) = &self.goals[m] {
                let progress = words.between(10, 30);
                engine.goal_progress(circle, goal, &words.sentence(progress))?;
                writes += 1;
            }
        }
        if let Some(contract) = self.contracts[m].take() {
            let outcome =
                [Outcome::Kept, Outcome::Partly, Outcome::Not][(words.next() % 3) as usize];
            let reflection = words.between(8, 25);
            engine.report_contract(
                circle,
                &contract,
                Some(outcome),
                Some(&words.sentence(reflection)),
            )?;
            writes += 1;
        }
        for n in 0..self.spec.notes_per_member {
            let length = words.between(30, 90);
            let text = words.sentence(length);
            let note = engine.add_note(circle, gathering, &text)?;
            writes += 1;
            if n == 0 {
                // A correction typed into the note: a few keystrokes.
                let at = text.encode_utf16().count() / 2;
                let edits: Vec<TextEdit> = "really "
                    .chars()
                    .enumerate()
                    .map(|(i, c)| TextEdit {
                        position: at + i,
                        delete: 0,
                        insert: c.to_string(),
                    })
                    .collect();
                engine.edit_note(circle, gathering, &note, &edits)?;
                writes += 1;
            }
        }
        let length = words.between(8, 20);
        self.contracts[m] = Some(engine.add_contract(
            circle,
            &words.sentence(length),
            self.goals[m].as_deref(),
            Some(gathering),
        )?);
        Ok(writes + 1)
    }

    /// The circle as generated.
    pub fn done(self) -> GeneratedCircle {
        self.circle
    }
}

/// Everyone sends the founder what it lacks; the founder sends everyone
/// what they lack.
fn exchange(devices: &[&Peer], circle: CircleId) -> Result<()> {
    let (founder, others) = match devices.split_first() {
        Some(split) => split,
        None => return Ok(()),
    };
    let founder_id = founder.engine().identity().member_id();
    for d in others {
        founder
            .engine()
            .import_bundle(&d.engine().export_bundle(circle, Some(founder_id))?)?;
    }
    for d in others {
        let id = d.engine().identity().member_id();
        d.engine()
            .import_bundle(&founder.engine().export_bundle(circle, Some(id))?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_circle_is_generated_and_converges() {
        let spec = CircleSpec {
            members: 3,
            gatherings: 3,
            notes_per_member: 2,
        };
        let generated = generate(spec).expect("generate");
        let heads: Vec<_> = generated
            .devices
            .iter()
            .map(|d| d.engine().heads(generated.circle).expect("heads"))
            .collect();
        assert!(heads.windows(2).all(|w| w[0] == w[1]), "members converge");
        let notes = generated.devices[2]
            .engine()
            .notes(generated.circle, None)
            .expect("notes");
        assert_eq!(notes.len(), 3);
        assert!(notes.iter().all(|g| g.notes.len() == 6));
        assert!(notes[0].notes.iter().any(|n| n.text.contains("really")));
        let history = generated.devices[1]
            .engine()
            .contract_history(generated.circle, None)
            .expect("contracts");
        assert_eq!(history.iter().map(|h| h.contracts.len()).sum::<usize>(), 9);
    }
}
