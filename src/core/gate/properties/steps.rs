//! The generated steps of a case and their strategies: what the world may
//! do to a PR, whatever the chain. A step names stages and dispatches by
//! index (taken modulo what exists), so every step applies to any chain.

use proptest::prelude::*;

use super::people::Who;
use crate::core::config::{Entry, StageConfig};
use crate::core::gate::ci::CiStatus;
use crate::core::gate::commands::Command;

/// Which SHA a step is about.
#[derive(Debug, Clone, Copy)]
pub(super) enum ShaSel {
    Head,
    /// The SHA after the head (a push).
    Next,
    Any(u8),
}

/// Which command of a stage.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    Entry,
    EntryCancel,
    Verify,
    VerifyCancel,
    Retry,
    Rollback,
    Hold(Option<String>),
    Unhold,
    Lock(Option<String>),
    Unlock,
    Gates,
    Envs,
    Help,
}

/// When a comment says it was written.
#[derive(Debug, Clone, Copy)]
pub(super) enum Written {
    /// Seconds before now.
    Ago(u32),
    /// GitHub sent no time.
    Unknown,
    /// A little after the head became the head, as people do.
    AfterHead,
}

/// What the deploy history says a `/rollback` goes back to.
#[derive(Debug, Clone, Copy)]
pub(super) enum RollbackTo {
    /// Nothing was deployed before.
    Nothing,
    /// A SHA deployed before the PR.
    BeforePr,
    /// One of the PR's own SHAs.
    PrSha,
}

/// One generated step. Indices into the dispatches made so far are taken
/// modulo their number (counted from the latest), so every step applies.
#[derive(Debug, Clone)]
pub(super) enum Step {
    /// The clock moves on; with `reevaluate`, the reconciler looks again.
    Tick {
        secs: u32,
        reevaluate: bool,
    },
    /// What GitHub says about the PR: open or closed (`None`: as it is),
    /// its head, and whether its base is the default branch (`None`: as
    /// it is) or another, ungated one.
    Observe {
        open: Option<bool>,
        head: ShaSel,
        ungated_base: Option<bool>,
    },
    /// The `synchronize` delivery of a SHA, naming who pushed it.
    Pushed {
        sha: ShaSel,
        by: Who,
    },
    Ci {
        sha: ShaSel,
        status: CiStatus,
    },
    /// GitHub's compare API: the SHA lacks `behind_by` commits of its base.
    BaseCompared {
        sha: ShaSel,
        behind_by: u64,
    },
    Command {
        who: Who,
        kind: Kind,
        /// Among the stages that have such a command.
        stage: u8,
        written: Written,
        rollback_to: RollbackTo,
    },
    /// Right before a dispatch, `who` was found not to hold the stage's
    /// role any more.
    RolesLost {
        stage: u8,
        who: Who,
    },
    Link {
        back: u8,
    },
    /// A run's result; `in_flight` picks among the dispatches still
    /// running, else among all that were sent (a late or repeated result).
    Complete {
        back: u8,
        success: bool,
        in_flight: bool,
    },
    /// Another run claiming a dispatch whose run is known.
    ForgedComplete {
        back: u8,
        success: bool,
    },
    UnknownRun {
        success: bool,
    },
    DispatchFailed {
        back: u8,
    },
    DispatchCancelled {
        back: u8,
    },
    Config {
        broken: bool,
    },
    Reevaluate,
    /// Any earlier fact again.
    Replay {
        back: u8,
    },
    /// The next fact of the happy path from where the PR stands, by one of
    /// the people holding the role: random facts alone rarely get far.
    Progress {
        pick: u8,
    },
}

/// The command `kind` for the `n`th stage that has one (modulo their
/// number), as the parser would resolve it; `None` where no stage has it.
pub(super) fn command_for(kind: &Kind, chain: &[StageConfig], n: u8) -> Option<Command> {
    let nth = |has: &dyn Fn(&StageConfig) -> bool| {
        let with: Vec<&StageConfig> = chain.iter().filter(|s| has(s)).collect();
        (!with.is_empty()).then(|| with[usize::from(n) % with.len()])
    };
    let entry = |cancel| {
        let stage = nth(&|s| matches!(s.entry, Entry::Command(_)))?;
        let Entry::Command(g) = &stage.entry else {
            return None;
        };
        Some(Command::Entry {
            word: g.word.clone(),
            env: stage.environment.clone(),
            cancel,
        })
    };
    let verify = |cancel| {
        let stage = nth(&|s| s.verify.is_some())?;
        let v = stage.verify.as_ref()?;
        Some(Command::Verify {
            word: v.word.clone(),
            env: stage.environment.clone(),
            cancel,
        })
    };
    let any_stage = || nth(&|_| true).map(|s| s.environment.clone());
    match kind {
        Kind::Entry => entry(false),
        Kind::EntryCancel => entry(true),
        Kind::Verify => verify(false),
        Kind::VerifyCancel => verify(true),
        Kind::Retry => any_stage().map(Command::Retry),
        Kind::Rollback => any_stage().map(Command::Rollback),
        Kind::Hold(reason) => Some(Command::Hold {
            reason: reason.clone(),
        }),
        Kind::Unhold => Some(Command::Unhold),
        Kind::Lock(reason) => any_stage().map(|env| Command::Lock {
            env,
            reason: reason.clone(),
        }),
        Kind::Unlock => any_stage().map(Command::Unlock),
        Kind::Gates => Some(Command::Gates),
        Kind::Envs => Some(Command::Envs),
        Kind::Help => Some(Command::Help),
    }
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        2 => Just(Who::Qa),
        1 => Just(Who::Qa2),
        2 => Just(Who::Release),
        2 => Just(Who::Release2),
        1 => Just(Who::Team),
        1 => Just(Who::Author),
        1 => Just(Who::Reader),
        1 => Just(Who::Outsider),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        10 => Just(Kind::Entry),
        2 => Just(Kind::EntryCancel),
        4 => Just(Kind::Verify),
        1 => Just(Kind::VerifyCancel),
        2 => Just(Kind::Retry),
        2 => Just(Kind::Rollback),
        1 => prop::option::of("[a-z ]{0,8}").prop_map(Kind::Hold),
        1 => Just(Kind::Unhold),
        1 => prop::option::of("[a-z ]{0,8}").prop_map(Kind::Lock),
        1 => Just(Kind::Unlock),
        1 => Just(Kind::Gates),
        1 => Just(Kind::Envs),
        1 => Just(Kind::Help),
    ]
}

fn sha_sel() -> impl Strategy<Value = ShaSel> {
    prop_oneof![
        4 => Just(ShaSel::Head),
        1 => Just(ShaSel::Next),
        1 => (0u8..4).prop_map(ShaSel::Any),
    ]
}

fn written() -> impl Strategy<Value = Written> {
    prop_oneof![
        8 => (0u32..3).prop_map(Written::Ago),
        1 => (0u32..3600).prop_map(Written::Ago),
        1 => Just(Written::Unknown),
    ]
}

fn rollback_to() -> impl Strategy<Value = RollbackTo> {
    prop_oneof![
        7 => Just(RollbackTo::BeforePr),
        1 => Just(RollbackTo::PrSha),
        2 => Just(RollbackTo::Nothing),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let ci = prop_oneof![
        4 => Just(CiStatus::Green),
        1 => Just(CiStatus::Failed),
        1 => Just(CiStatus::Pending),
    ];
    let open = prop_oneof![7 => Just(Some(true)), 1 => Just(None), 2 => Just(Some(false))];
    prop_oneof![
        3 => (prop_oneof![0u32..60, 0u32..7200], any::<bool>())
            .prop_map(|(secs, reevaluate)| Step::Tick { secs, reevaluate }),
        3 => (open, sha_sel(), prop::bool::weighted(0.1))
            .prop_map(|(open, head, other)| Step::Observe { open, head, ungated_base: Some(other) }),
        3 => (sha_sel(), ci).prop_map(|(sha, status)| Step::Ci { sha, status }),
        1 => (sha_sel(), prop_oneof![3 => Just(0u64), 1 => 1u64..5])
            .prop_map(|(sha, behind_by)| Step::BaseCompared { sha, behind_by }),
        2 => (sha_sel(), who()).prop_map(|(sha, by)| Step::Pushed { sha, by }),
        14 => (who(), kind(), any::<u8>(), written(), rollback_to())
            .prop_map(|(who, kind, stage, written, rollback_to)| Step::Command {
                who,
                kind,
                stage,
                written,
                rollback_to,
            }),
        1 => (any::<u8>(), who()).prop_map(|(stage, who)| Step::RolesLost { stage, who }),
        2 => any::<u8>().prop_map(|back| Step::Link { back: back % 3 }),
        6 => (any::<u8>(), prop::bool::weighted(0.8), any::<bool>())
            .prop_map(|(back, success, in_flight)| Step::Complete { back: back % 3, success, in_flight }),
        1 => (any::<u8>(), any::<bool>())
            .prop_map(|(back, success)| Step::ForgedComplete { back: back % 3, success }),
        1 => any::<bool>().prop_map(|success| Step::UnknownRun { success }),
        1 => any::<u8>().prop_map(|back| Step::DispatchFailed { back: back % 3 }),
        1 => any::<u8>().prop_map(|back| Step::DispatchCancelled { back: back % 3 }),
        1 => prop::bool::weighted(0.3).prop_map(|broken| Step::Config { broken }),
        1 => Just(Step::Reevaluate),
        2 => any::<u8>().prop_map(|back| Step::Replay { back }),
        14 => any::<u8>().prop_map(|pick| Step::Progress { pick }),
    ]
}

/// A case: the config (an index into [`super::CONFIGS`]), whether the
/// clock-skew margin is on, and the steps.
pub(super) fn case() -> impl Strategy<Value = Case> {
    (
        0..super::CONFIGS.len(),
        any::<bool>(),
        prop_oneof![2 => Just(1usize), 2 => Just(2usize), 1 => Just(3usize)],
        prop::collection::vec((any::<u8>(), step()), 1..160),
    )
        .prop_map(|(config, skew, prs, steps)| Case {
            config,
            skew,
            prs,
            steps: steps
                .into_iter()
                .map(|(pr, step)| (usize::from(pr) % prs, step))
                .collect(),
        })
}

/// One generated case: several PRs of one repository, sharing its
/// environments, each step given to one of them.
#[derive(Debug, Clone)]
pub(super) struct Case {
    /// An index into [`super::CONFIGS`].
    pub config: usize,
    /// Whether the clock-skew margin is on.
    pub skew: bool,
    /// How many PRs (1 to 3).
    pub prs: usize,
    /// Each step, with the PR (an index below `prs`) it happens to.
    pub steps: Vec<(usize, Step)>,
}
