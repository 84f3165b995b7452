//! Where a goal stands and how a contract went: the closed choices a
//! member makes about their goals and contracts, parsed once from what a
//! person typed and stored in the circle document by name.

use crate::error_code::named;

/// Where a goal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoalStatus {
    /// Being worked on.
    Open,
    /// Reached.
    Achieved,
    /// Let go.
    Dropped,
}

impl GoalStatus {
    /// Every status.
    pub const ALL: [GoalStatus; 3] = [GoalStatus::Open, GoalStatus::Achieved, GoalStatus::Dropped];

    /// The status as documents, the CLI and the app name it.
    pub fn name(self) -> &'static str {
        match self {
            GoalStatus::Open => "open",
            GoalStatus::Achieved => "achieved",
            GoalStatus::Dropped => "dropped",
        }
    }
}

impl std::str::FromStr for GoalStatus {
    type Err = crate::BadInput;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        named(GoalStatus::ALL, GoalStatus::name, text).ok_or(crate::BadInput {
            code: crate::ErrorCode::BadText,
            expected: "a goal is open, achieved or dropped",
        })
    }
}

/// How a contract went, said at the report back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done as contracted.
    Kept,
    /// Partly done.
    Partly,
    /// Not done.
    Not,
    /// Changed by agreement.
    Renegotiated,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 4] = [
        Outcome::Kept,
        Outcome::Partly,
        Outcome::Not,
        Outcome::Renegotiated,
    ];

    /// The outcome as documents, the CLI and the app name it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Kept => "kept",
            Outcome::Partly => "partly",
            Outcome::Not => "not",
            Outcome::Renegotiated => "renegotiated",
        }
    }
}

impl std::str::FromStr for Outcome {
    type Err = crate::BadInput;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        named(Outcome::ALL, Outcome::name, text).ok_or(crate::BadInput {
            code: crate::ErrorCode::BadText,
            expected: "an outcome is kept, partly, not or renegotiated",
        })
    }
}
