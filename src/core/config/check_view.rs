//! The "gatebot config" check run of a pull request that changes
//! `.github/gatebot.yml`: the PR's version checked, each problem an
//! annotation on its line. It never gates anything (the default branch's
//! file still rules), and as gatebot's own check run it never counts as CI.

use std::fmt::Write as _;

use super::{Problem, RepoConfig};

/// The check run's name.
pub(crate) const CONFIG_CHECK: &str = "gatebot config";

/// GitHub takes at most 50 annotations per request.
const MAX_ANNOTATIONS: usize = 50;

/// A problem's message quotes what the file says, which may be long: each
/// is cut to this many characters (the output must stay under GitHub's
/// 65,535).
const MAX_MESSAGE_CHARS: usize = 1000;

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// One problem, on its line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// From 1; the first line when the problem has no place.
    pub line: usize,
    pub message: String,
}

/// What the check run shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigCheckView {
    /// `success` or `failure`.
    pub conclusion: &'static str,
    pub title: String,
    pub summary: String,
    pub annotations: Vec<Annotation>,
}

/// The view of the PR's version of the file, checked.
pub(crate) fn config_check_view(checked: &Result<RepoConfig, Vec<Problem>>) -> ConfigCheckView {
    let rules = "This checks the pull request's version of `.github/gatebot.yml`. \
                 It gates nothing: until the change is merged, the default branch's file rules.";
    match checked {
        Ok(config) => ConfigCheckView {
            conclusion: "success",
            title: format!("valid: {} stage(s)", config.pipeline.stages.len()),
            summary: format!("{rules}\n\n```\n{}```", super::summary(config)),
            annotations: Vec::new(),
        },
        Err(problems) => {
            // GitHub refuses an output over 65,535 characters: the summary
            // lists as many problems as there are annotations.
            let mut summary = format!("{rules}\n\n");
            for p in problems.iter().take(MAX_ANNOTATIONS) {
                let _ = writeln!(summary, "* {}", cut(&p.to_string()));
            }
            if let Some(more) = problems
                .len()
                .checked_sub(MAX_ANNOTATIONS)
                .filter(|n| *n > 0)
            {
                let _ = writeln!(summary, "* … and {more} more");
            }
            ConfigCheckView {
                conclusion: "failure",
                title: format!("{} problem(s) in {}", problems.len(), super::CONFIG_PATH),
                summary,
                annotations: problems
                    .iter()
                    .take(MAX_ANNOTATIONS)
                    .map(|p| Annotation {
                        line: p.at.map_or(1, |(line, _)| line),
                        message: cut(&p.message),
                    })
                    .collect(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_an_annotation_on_its_line() {
        let v = config_check_view(&crate::core::config::check(
            "pipeline:\n  - { environment: staging, workflow: cd-stage.yml, entry: auto, soak: 1x }\n",
        ));
        assert_eq!(v.conclusion, "failure");
        assert_eq!(v.annotations.len(), 1);
        assert_eq!(v.annotations[0].line, 2);
        assert!(v.annotations[0].message.contains("pipeline[0].soak"));
        let ok = config_check_view(&crate::core::config::check(""));
        assert_eq!((ok.conclusion, ok.annotations.len()), ("success", 0));
    }
}
