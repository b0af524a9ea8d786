//! `extends: org`: a repository's file built on its organisation's
//! defaults, `.github/gatebot.yml` on the default branch of the
//! organisation's `.github` repository. Each top-level key the
//! repository's file sets replaces the organisation's key as a whole;
//! nothing is merged deeper. The organisation's file must be valid on its
//! own and cannot extend anything itself.

use serde_yaml_ng::{Mapping, Value};

use super::{ConfigError, RepoConfig, parse};

/// The repository that holds an organisation's defaults.
pub(crate) const ORG_REPO: &str = ".github";

/// What a file builds on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extends {
    Nothing,
    Org,
}

/// The top-level mapping of `yaml` (empty for an empty file), or why it
/// is not one (left for [`parse`] to name).
fn top(yaml: &str) -> Option<Mapping> {
    match serde_yaml_ng::from_str::<Value>(yaml).ok()? {
        Value::Mapping(m) => Some(m),
        Value::Null => Some(Mapping::new()),
        _ => None,
    }
}

/// What `yaml` extends (`Nothing` for a file that is not even a mapping:
/// parsing it says why).
pub(crate) fn extends(yaml: &str) -> Result<Extends, ConfigError> {
    let Some(m) = top(yaml) else {
        return Ok(Extends::Nothing);
    };
    match m.get("extends") {
        None | Some(Value::Null) => Ok(Extends::Nothing),
        Some(Value::String(s)) if s.trim() == "org" => Ok(Extends::Org),
        Some(other) => Err(ConfigError::Invalid(format!(
            "extends: `{}` is not `org`, the only thing a file can extend",
            serde_yaml_ng::to_string(other).unwrap_or_default().trim()
        ))),
    }
}

/// The repository's file `repo_yaml` on its organisation's `org_yaml`
/// (read from `org`'s `.github` repository; `None`: not found there).
pub(crate) fn parse_extended(
    repo_yaml: &str,
    org_yaml: Option<&str>,
    org: &str,
) -> Result<RepoConfig, ConfigError> {
    let source = format!("{org}/{ORG_REPO}'s {}", super::CONFIG_PATH);
    let Some(org_yaml) = org_yaml else {
        return Err(ConfigError::Invalid(format!(
            "extends: org, but {source} was not found (it must be on that repository's default branch, and gatebot must be installed on it)"
        )));
    };
    if extends(org_yaml)? != Extends::Nothing {
        return Err(ConfigError::Invalid(format!(
            "{source} cannot itself extend anything"
        )));
    }
    // Valid on its own: an error there is named as its own.
    parse(org_yaml).map_err(|e| ConfigError::Invalid(format!("{source}: {e}")))?;
    let mut merged = top(org_yaml).unwrap_or_default();
    let Some(own) = top(repo_yaml) else {
        return parse(repo_yaml);
    };
    for (key, value) in own {
        if key.as_str() != Some("extends") {
            merged.insert(key, value);
        }
    }
    let text = serde_yaml_ng::to_string(&Value::Mapping(merged))
        .map_err(|e| ConfigError::Invalid(e.to_string()))?;
    parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "roles:\n  qa: [quinn]\n  release: [rita]\nrequired_checks: [build]\npipeline:\n  - { environment: staging, workflow: cd-stage.yml, entry: { command: lgtm, role: qa } }\n  - { environment: production, workflow: cd-prod.yml, entry: { command: approve, role: release } }\n";

    #[test]
    fn each_key_the_repository_sets_replaces_the_organisations_whole() {
        let repo = "extends: org\nroles:\n  qa: [quentin]\n";
        let c = parse_extended(repo, Some(ORG), "acme").unwrap();
        assert_eq!(c.pipeline.stages.len(), 2, "the organisation's chain");
        assert_eq!(c.required_checks, ["build"], "the organisation's checks");
        // `roles` replaced as a whole: release is no longer rita.
        assert_eq!(
            c.roles.qa,
            [super::super::Principal::User("quentin".into())]
        );
        assert!(c.roles.release.is_empty());
    }

    #[test]
    fn a_missing_or_invalid_organisation_file_is_an_error_naming_it() {
        let e = parse_extended("extends: org\n", None, "acme").unwrap_err();
        assert!(
            e.to_string()
                .contains("acme/.github's .github/gatebot.yml was not found"),
            "{e}"
        );
        let e = parse_extended("extends: org\n", Some("pipline: []\n"), "acme").unwrap_err();
        assert!(
            e.to_string()
                .contains("acme/.github's .github/gatebot.yml: "),
            "{e}"
        );
        let e = parse_extended("extends: org\n", Some("extends: org\n"), "acme").unwrap_err();
        assert!(e.to_string().contains("cannot itself extend"), "{e}");
    }

    #[test]
    fn only_org_can_be_extended() {
        assert_eq!(extends("extends: org\n").unwrap(), Extends::Org);
        assert_eq!(extends("roles: {}\n").unwrap(), Extends::Nothing);
        assert_eq!(extends("").unwrap(), Extends::Nothing);
        assert!(extends("extends: acme/base\n").is_err());
    }
}
