//! What a command is, what it needs and who gave it: the [`Command`]
//! enum, each command's [`Spec`], the [`Role`] it needs in a chain, and
//! the [`Actor`] who gave it with the shell's [`Grant`].

use crate::core::config::{Entry, Pipeline, StageConfig};
use crate::core::domain::{Environment, UserId};

/// A command gatebot acts on, resolved against the repository's chain: a
/// gate command knows the stage it is for.
///
/// Adding a command means, and only means: a variant here, its row in
/// [`Command::spec`] and [`Command::name`], its file with a parse function
/// (listed in `parse.rs`) and a handler (called from
/// `run.rs`), a row in `help.rs`, its built-in word in
/// `config/builtin.rs` if it has one, its tests (the machine's in
/// `machine_tests/`, the parser's in `parse_tests.rs`), and its case in
/// the property ledger's model (which does not compile until it is there)
/// and in the property steps (`properties/steps.rs`), which generate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A stage's entry command (`/lgtm`, `/approve`, …) or its cancel.
    Entry {
        word: String,
        env: Environment,
        cancel: bool,
    },
    /// A stage's verification (`/verify-stage`, `/verify <env>`) or its
    /// cancel; `word` is the stage's verify command.
    Verify {
        word: String,
        env: Environment,
        cancel: bool,
    },
    /// `/rollback [env]`: the last stage when no environment is named.
    Rollback(Environment),
    /// `/retry <env>`: dispatch the stage's failed (or rolled back) deploy
    /// of the head again.
    Retry(Environment),
    /// `/hold [reason]`: the trimmed rest of the line, at most 200 characters.
    Hold {
        reason: Option<String>,
    },
    Unhold,
    /// `/lock <env> [reason]`: hold a locked environment for this PR.
    Lock {
        env: Environment,
        reason: Option<String>,
    },
    /// `/unlock <env>`: end anyone's hold on it.
    Unlock(Environment),
    Gates,
    /// `/envs`: what runs in each environment, its holder and its queue.
    Envs,
    Help,
}

/// Who may give a command, before it is resolved against the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone.
    Anyone,
    /// Whoever gave what it withdraws (checked by its handler).
    Giver,
    /// The role of the stage's entry command.
    EntryRole,
    /// The role of the stage's verify command.
    VerifyRole,
    /// The stage's entry role, or `release` for an `auto` stage.
    StageRole,
    /// The stage's entry role, or `release`.
    StageRoleOrRelease,
    /// Any role that opens a gate of the chain.
    AnyGateRole,
    /// Read access to the repository.
    Read,
}

/// What a command needs, and what it reads, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub need: Need,
    /// It works while the repository's config is invalid.
    pub under_invalid_config: bool,
    /// It is refused on a closed PR.
    pub needs_open_pr: bool,
    /// It gives a gate for the head: refused when written before gatebot
    /// learned of the head, on a PR into an ungated base, and to any
    /// author of the head.
    pub gives_gate: bool,
    /// The shell reads CI's verdict for it (it may dispatch a promotion).
    pub reads_ci: bool,
    /// The shell reads the environment's deploy history for it.
    pub reads_history: bool,
    /// The shell reads what runs in every environment for it.
    pub reads_environments: bool,
}

/// The role a command needs, resolved against the chain by the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A role of the config's `roles:` (`qa`, `release` or one declared).
    Named(String),
    /// Any role that opens a gate of the chain (who may `/hold`).
    AnyGate,
    /// Any of these roles (who may `/unlock`: the stage's entry role or
    /// `release`).
    AnyOf(Vec<String>),
    /// Read access to the repository.
    Read,
}

impl Role {
    /// In words, for a refusal: `qa`, `qa or release`, `read`.
    pub fn describe(&self, chain: &Pipeline) -> String {
        match self {
            Role::Named(name) => name.clone(),
            Role::AnyGate => chain.gate_roles().join(" or "),
            Role::AnyOf(names) => names.join(" or "),
            Role::Read => "read".into(),
        }
    }
}

impl Command {
    /// The command's rules.
    pub fn spec(&self) -> Spec {
        let base = Spec {
            need: Need::Anyone,
            under_invalid_config: false,
            needs_open_pr: true,
            gives_gate: false,
            reads_ci: false,
            reads_history: false,
            reads_environments: false,
        };
        match self {
            Command::Entry { cancel: false, .. } => Spec {
                need: Need::EntryRole,
                gives_gate: true,
                reads_ci: true,
                ..base
            },
            Command::Verify { cancel: false, .. } => Spec {
                need: Need::VerifyRole,
                gives_gate: true,
                reads_ci: true,
                ..base
            },
            Command::Entry { cancel: true, .. } | Command::Verify { cancel: true, .. } => Spec {
                need: Need::Giver,
                ..base
            },
            // About an environment, not the head: what people need after
            // a merge, so it works on closed PRs.
            Command::Rollback(_) => Spec {
                need: Need::StageRole,
                needs_open_pr: false,
                reads_history: true,
                ..base
            },
            Command::Retry(_) => Spec {
                need: Need::StageRole,
                reads_ci: true,
                ..base
            },
            Command::Lock { .. } => Spec {
                need: Need::EntryRole,
                ..base
            },
            // On any PR, open or not: whoever holds it may have merged.
            Command::Unlock(_) => Spec {
                need: Need::StageRoleOrRelease,
                needs_open_pr: false,
                ..base
            },
            Command::Hold { .. } | Command::Unhold => Spec {
                need: Need::AnyGateRole,
                under_invalid_config: true,
                ..base
            },
            Command::Gates => Spec {
                need: Need::Read,
                under_invalid_config: true,
                needs_open_pr: false,
                ..base
            },
            Command::Envs => Spec {
                need: Need::Read,
                needs_open_pr: false,
                reads_environments: true,
                ..base
            },
            Command::Help => Spec {
                under_invalid_config: true,
                needs_open_pr: false,
                ..base
            },
        }
    }

    /// The role the command needs in `chain`; `None` for commands anyone
    /// may use or whose permission is ownership (the cancel forms). A
    /// stage the chain does not have needs `release`.
    pub fn required_role(&self, chain: &Pipeline) -> Option<Role> {
        let stage = |env: &Environment| chain.find(env).map(|(_, s)| s);
        let env = match self {
            Command::Entry { env, .. } | Command::Verify { env, .. } => Some(env),
            Command::Rollback(env) | Command::Retry(env) | Command::Unlock(env) => Some(env),
            Command::Lock { env, .. } => Some(env),
            _ => None,
        };
        let stage = env.and_then(stage);
        let named = |role: Option<&str>| Some(Role::Named(role.unwrap_or("release").to_string()));
        match self.spec().need {
            Need::Anyone | Need::Giver => None,
            Need::EntryRole => named(stage.and_then(|s| match &s.entry {
                Entry::Command(g) => Some(g.role.as_str()),
                Entry::Auto => None,
            })),
            Need::VerifyRole => named(
                stage
                    .and_then(|s| s.verify.as_ref())
                    .map(|v| v.role.as_str()),
            ),
            Need::StageRole => named(stage.map(StageConfig::rollback_role)),
            Need::StageRoleOrRelease => {
                let own = stage.map(StageConfig::rollback_role).unwrap_or("release");
                Some(if own == "release" {
                    Role::Named("release".into())
                } else {
                    Role::AnyOf(vec![own.to_string(), "release".into()])
                })
            }
            Need::AnyGateRole => Some(Role::AnyGate),
            Need::Read => Some(Role::Read),
        }
    }

    /// The command as people type it, without the slash (`"lgtm cancel"`).
    pub fn name(&self) -> String {
        match self {
            Command::Entry { word, cancel, .. } | Command::Verify { word, cancel, .. } => {
                if *cancel {
                    format!("{word} cancel")
                } else {
                    word.clone()
                }
            }
            Command::Rollback(_) => "rollback".into(),
            Command::Retry(_) => "retry".into(),
            Command::Hold { .. } => "hold".into(),
            Command::Unhold => "unhold".into(),
            Command::Lock { .. } => "lock".into(),
            Command::Unlock(_) => "unlock".into(),
            Command::Gates => "gates".into(),
            Command::Envs => "envs".into(),
            Command::Help => "help".into(),
        }
    }

    /// Whether it gives a gate (not a cancel): bound to the head SHA, and
    /// acting on CI's current verdict.
    pub fn gives_gate(&self) -> bool {
        self.spec().gives_gate
    }
}

/// Who issued a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Who they are (`comment.user.id`).
    pub id: UserId,
    /// Lowercase login, for display.
    pub login: String,
    /// Whether they hold the role the command needs, as the shell resolved
    /// it from the API once, from the command's spec.
    pub grant: Grant,
}

/// The answer to "does the actor hold the role this command needs?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// They do (or the command needs no role).
    Holds,
    /// They do not hold `Role`; the refusal names it.
    Lacks(Role),
}
