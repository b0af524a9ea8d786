//! The commands people give in pull-request comments, each with its rules
//! in one place: what it needs ([`Command::spec`]), how it is parsed, and
//! what it does to the gates — one file per command:
//!
//! | file | commands |
//! |---|---|
//! | `entry.rs` | a stage's entry command (`/lgtm`, `/approve`, …) and its `cancel` |
//! | `verify.rs` | a stage's verify command (`/verify-stage`, `/verify <env>`) and its `cancel` |
//! | `rollback.rs` | `/rollback [<env>]` |
//! | `retry.rs` | `/retry <env>` |
//! | `hold.rs` | `/hold [reason]`, `/unhold` |
//! | `lock.rs` | `/lock <env> [reason]`, `/unlock <env>` |
//! | `answers.rs` | `/gates`, `/help` (and `help.rs`, the table `/help` replies) |
//!
//! `parse.rs` finds the command lines of a comment (`lines.rs` reads it as
//! GitHub renders it) and hands each word to its command's parser;
//! `run.rs` checks the spec's guards once, then calls the command's
//! handler; `command.rs` says what each command is and needs.

mod answers;
mod args;
mod command;
mod entry;
mod help;
mod hold;
mod lines;
mod lock;
mod parse;
mod retry;
mod rollback;
mod run;
mod verify;

pub(crate) use command::Role;
pub use command::{Actor, Command, Grant};
#[cfg(test)]
pub(crate) use help::help_text;
pub use parse::parse_comment;
pub(crate) use parse::{NotUnderstood, has_command_line, parse_comment_bounded};
