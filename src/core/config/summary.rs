//! A config in one screen: the chain of stages it defines, the roles and
//! the checks, as `gatebot check-config` prints it on success.

use std::fmt::Write as _;

use super::pipeline::soak_text;
use super::{Entry, Principal, RepoConfig};

fn principal(p: &Principal) -> String {
    match p {
        Principal::User(login) => login.clone(),
        Principal::Team { org, slug } => format!("@{org}/{slug}"),
    }
}

/// Who holds `name`, as the config says.
fn members(config: &RepoConfig, name: &str) -> String {
    let listed = config.role_members(name).unwrap_or_default();
    if listed.is_empty() {
        return match name {
            "qa" => "anyone with write access".into(),
            "release" => "anyone with maintain or admin access".into(),
            _ => "no one (list its members under roles:)".into(),
        };
    }
    listed.iter().map(principal).collect::<Vec<_>>().join(", ")
}

/// The chain `config` defines, one line per stage, then its roles, checks
/// and branches.
pub(crate) fn summary(config: &RepoConfig) -> String {
    let chain = &config.pipeline;
    let mut t = String::new();
    let width = chain
        .stages
        .iter()
        .map(|s| s.environment.as_str().len())
        .max()
        .unwrap_or(0);
    for (i, s) in chain.stages.iter().enumerate() {
        let mut parts = Vec::new();
        parts.push(match &s.entry {
            Entry::Auto => "automatic".to_string(),
            Entry::Command(g) if g.approvals > 1 => {
                format!("/{} by {} ×{}", g.word, g.role, g.approvals)
            }
            Entry::Command(g) => format!("/{} by {}", g.word, g.role),
        });
        if let Some(v) = &s.verify {
            let run = v
                .workflow
                .as_deref()
                .map(|w| format!(" + {w}"))
                .unwrap_or_default();
            parts.push(format!("verify /{} by {}{run}", v.word, v.role));
        }
        if let Some(d) = s.soak {
            parts.push(format!("soak {}", soak_text(d)));
        }
        if !s.freeze.is_empty() {
            parts.push(format!("{} freeze window(s)", s.freeze.len()));
        }
        if s.lock {
            parts.push(format!("locked ({})", soak_text(s.lock_timeout)));
        }
        if s.up_to_date {
            parts.push("up to date with its base".into());
        }
        if let Some(m) = s.merge {
            parts.push(format!("merge: {}", m.as_str()));
        }
        if s.protected {
            parts.push("protection rule".into());
        }
        let _ = writeln!(
            t,
            "  {}. {:width$}  {}  {}",
            i + 1,
            s.environment.as_str(),
            s.workflow,
            parts.join(", ")
        );
    }
    let mut roles: Vec<&str> = vec!["qa", "release"];
    roles.extend(config.roles.other.keys().map(String::as_str));
    for role in roles {
        let _ = writeln!(t, "role {role}: {}", members(config, role));
    }
    let checks = if config.required_checks.is_empty() {
        "every check run (at least one GitHub Actions run)".to_string()
    } else {
        config.required_checks.join(", ")
    };
    let _ = writeln!(t, "required checks: {checks}");
    let branches = if chain.branches.is_empty() {
        "the default branch".to_string()
    } else {
        chain.branches.join(", ")
    };
    let _ = writeln!(t, "gated base branches: {branches}");
    if let Some(r) = &config.git_ref {
        let _ = writeln!(t, "workflows run from: {r}");
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_chain_in_one_screen() {
        let text = summary(&RepoConfig::default());
        assert_eq!(
            text,
            "  1. staging     cd-stage.yml  /lgtm by qa, verify /verify-stage by qa\n  \
             2. production  cd-prod.yml  /approve by release, up to date with its base, protection rule\n\
             role qa: anyone with write access\n\
             role release: anyone with maintain or admin access\n\
             required checks: every check run (at least one GitHub Actions run)\n\
             gated base branches: the default branch\n"
        );
    }
}
