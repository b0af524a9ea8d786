//! Resolves whether a user holds a gatebot role, from the GitHub API only
//! (collaborator permission, team membership), never from
//! `author_association`. Anything that cannot be resolved is a no.

use crate::config::{Principal, RepoConfig};
use crate::gate::machine::Role;
use crate::github::{GitHub, Permission, RepoRef};

async fn in_list(gh: &dyn GitHub, repo: &RepoRef, list: &[Principal], login: &str) -> bool {
    for p in list {
        match p {
            Principal::User(u) if u.eq_ignore_ascii_case(login) => return true,
            Principal::User(_) => {}
            Principal::Team { org, slug } => {
                match gh.is_team_member(repo, org, slug, login).await {
                    Ok(true) => return true,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(%login, team = %format!("{org}/{slug}"), error = %e, "team membership unresolved: treated as not a member");
                    }
                }
            }
        }
    }
    false
}

async fn permission_at_least(
    gh: &dyn GitHub,
    repo: &RepoRef,
    login: &str,
    min: Permission,
) -> bool {
    match gh.permission(repo, login).await {
        Ok(p) => p >= min,
        Err(e) => {
            tracing::warn!(%login, error = %e, "permission unresolved: refused");
            false
        }
    }
}

async fn qa(gh: &dyn GitHub, repo: &RepoRef, config: &RepoConfig, login: &str) -> bool {
    if config.roles.qa.is_empty() {
        permission_at_least(gh, repo, login, Permission::Write).await
    } else {
        in_list(gh, repo, &config.roles.qa, login).await
    }
}

async fn release(gh: &dyn GitHub, repo: &RepoRef, config: &RepoConfig, login: &str) -> bool {
    if config.roles.release.is_empty() {
        permission_at_least(gh, repo, login, Permission::Maintain).await
    } else {
        in_list(gh, repo, &config.roles.release, login).await
    }
}

/// Whether `login` holds `role` in `repo` under `config`.
pub async fn has_role(
    gh: &dyn GitHub,
    repo: &RepoRef,
    config: &RepoConfig,
    role: Role,
    login: &str,
) -> bool {
    match role {
        Role::Qa => qa(gh, repo, config, login).await,
        Role::Release => release(gh, repo, config, login).await,
        Role::QaOrRelease => {
            qa(gh, repo, config, login).await || release(gh, repo, config, login).await
        }
        Role::Read => permission_at_least(gh, repo, login, Permission::Read).await,
    }
}
