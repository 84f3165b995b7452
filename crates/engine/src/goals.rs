//! Goals: each member's longer-term goals with progress notes, milestones
//! (celebrated when reached) and a status.

use crate::{check_text, circle, random_id, DocId, MAX_TEXT_CHARS};
use crate::{CircleId, Engine, EngineError, Store};

use crate::select::find_key;
use circlekeep_model::docs::{self, CircleMap, GoalStatus};

impl<S: Store> Engine<S> {
    /// Sets a goal for this device's member; returns the goal id.
    pub fn add_goal(&self, id: CircleId, text: &str) -> Result<String, EngineError> {
        let text = check_text(text, MAX_TEXT_CHARS)?;
        let goal_id = random_id();
        let goal = docs::Goal {
            owner: self.me.member_id().to_hex(),
            text: autosurgeon::Text::with_value(text),
            status: GoalStatus::Open.name().into(),
            created: circle::now(),
            ..Default::default()
        };
        self.with_circle(id, |c, ctx| {
            c.write(ctx, DocId::CIRCLE, |doc| {
                Ok(docs::put_record(doc, CircleMap::Goals, &goal_id, &goal)?)
            })
        })?;
        Ok(goal_id)
    }

    /// Adds a progress note to a goal.
    pub fn goal_progress(
        &self,
        id: CircleId,
        goal: &str,
        text: &str,
    ) -> Result<String, EngineError> {
        let text = check_text(text, crate::MAX_TEXT_CHARS)?;
        let goal = self.find_goal(id, goal)?;
        let note_id = random_id();
        let note = docs::ProgressNote {
            author: self.me.member_id().to_hex(),
            text,
            created: circle::now(),
        };
        self.write_circle_doc(id, |doc| {
            Ok(docs::put_at(
                doc,
                &["goals", &goal, "progress"],
                &note_id,
                &note,
            )?)
        })?;
        Ok(note_id)
    }

    /// Adds a milestone to a goal.
    pub fn goal_milestone(
        &self,
        id: CircleId,
        goal: &str,
        text: &str,
    ) -> Result<String, EngineError> {
        let text = check_text(text, 2_000)?;
        let goal = self.find_goal(id, goal)?;
        let milestone_id = random_id();
        let milestone = docs::Milestone {
            text,
            reached: None,
        };
        self.write_circle_doc(id, |doc| {
            Ok(docs::put_at(
                doc,
                &["goals", &goal, "milestones"],
                &milestone_id,
                &milestone,
            )?)
        })?;
        Ok(milestone_id)
    }

    /// Marks a goal's milestone reached (to celebrate).
    pub fn reach_milestone(
        &self,
        id: CircleId,
        goal: &str,
        milestone: &str,
    ) -> Result<(), EngineError> {
        let goal = self.find_goal(id, goal)?;
        let doc = self.circle_doc(id)?;
        let milestone = doc.goals[&goal]
            .milestones
            .keys()
            .find(|m| m.starts_with(milestone.trim()) && milestone.trim().len() >= 4)
            .cloned()
            .ok_or_else(|| EngineError::UnknownGoal(milestone.to_owned()))?;
        self.write_circle_doc(id, |doc| {
            Ok(docs::put_value(
                doc,
                &["goals", &goal, "milestones", &milestone],
                "reached",
                Some(circle::now()),
            )?)
        })
    }

    /// Sets a goal's status: `open`, `achieved` or `dropped`.
    pub fn goal_status(
        &self,
        id: CircleId,
        goal: &str,
        status: GoalStatus,
    ) -> Result<(), EngineError> {
        let goal = self.find_goal(id, goal)?;
        self.write_circle_doc(id, |doc| {
            Ok(docs::put_value(
                doc,
                &["goals", &goal],
                "status",
                Some(status.name()),
            )?)
        })
    }

    fn find_goal(&self, id: CircleId, selector: &str) -> Result<String, EngineError> {
        let doc = self.circle_doc(id)?;
        find_key(doc.goals.keys(), selector)
            .ok_or_else(|| EngineError::UnknownGoal(selector.into()))
    }
}
