//! `gatebot check-config [FILE]`: a `.github/gatebot.yml` checked offline,
//! before it merges. Every problem is printed with its line, column and
//! key; a valid file gets a one-screen summary of the chain it defines.
//! The exit status (0 or 1) lets a repository run it in its own CI. The
//! dry run's `--config` is checked the same way before `serve` starts.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::core::config::{self, RepoConfig};

/// Why a file was rejected: every problem, one per line.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {count} problem(s)\n{text}", count = .problems.len(), text = lines(.problems))]
pub(crate) struct Invalid {
    file: String,
    problems: Vec<config::Problem>,
}

fn lines(problems: &[config::Problem]) -> String {
    let mut t = String::new();
    for p in problems {
        let _ = writeln!(t, "  {p}");
    }
    t.trim_end().to_string()
}

/// Reads and checks `path`: the config and the file's text, or every
/// problem with it.
pub(crate) fn read(path: &Path) -> anyhow::Result<(RepoConfig, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match config::check(&text) {
        Ok(config) => Ok((config, text)),
        Err(problems) => Err(Invalid {
            file: path.display().to_string(),
            problems,
        }
        .into()),
    }
}

/// `gatebot check-config`: prints the summary, or fails with every
/// problem.
pub(crate) fn run(path: &Path) -> anyhow::Result<()> {
    let (config, text) = read(path)?;
    let note = match config::extends(&text) {
        Ok(config::Extends::Org) => format!(
            "note: `extends: org` — checked as written; the organisation's part \
             (OWNER/{}'s .github/gatebot.yml) was not read, so the chain below \
             lacks the keys it would bring\n",
            config::ORG_REPO
        ),
        _ => String::new(),
    };
    crate::entry::stdout::print(&format!(
        "{}: valid; the chain it defines ({} stage(s)):\n{note}{}",
        path.display(),
        config.pipeline.stages.len(),
        config::summary(&config)
    ));
    Ok(())
}

/// `gatebot check-config --schema`: the file's JSON Schema.
pub(crate) fn schema() -> anyhow::Result<()> {
    crate::entry::stdout::line(&serde_json::to_string_pretty(&config::json_schema())?);
    Ok(())
}
