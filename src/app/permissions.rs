//! Resolves whether a user holds a gatebot role, from the GitHub API only
//! (collaborator permission, team membership), never from
//! `author_association`. Anything that cannot be resolved is a no.
//!
//! A login listed under `roles:` is only a name: whoever holds that login
//! now (it may have been renamed away, and taken by someone else) gets the
//! role only if they also have at least write access to the repository,
//! which only an admin grants, to an account. A team grants it to its
//! active members, as GitHub resolves them.
//!
//! [`Roles`] resolves one commenter's roles for one delivery: the
//! permission and each team membership are read at most once, however many
//! commands the comment holds. A user without write access refused in the
//! last minute is refused again without a read ([`super::refusals`]).

use super::refusals::Refusals;
use crate::adapters::github::{GitHub, Permission, RepoRef};
use crate::core::config::{Principal, RepoConfig};
use crate::core::gate::commands::Role;

/// One commenter's roles in one repository, for one delivery.
pub(crate) struct Roles<'a> {
    gh: &'a dyn GitHub,
    refusals: &'a Refusals,
    repo: &'a RepoRef,
    config: &'a RepoConfig,
    login: &'a str,
    /// The collaborator permission, once read (`None` inside: unresolved).
    permission: Option<Option<Permission>>,
    /// Team memberships read so far: (org, slug, active member).
    teams: Vec<(String, String, bool)>,
    /// Whether some read failed (its answer taken as no).
    unresolved: bool,
}

impl<'a> Roles<'a> {
    pub(crate) fn new(
        gh: &'a dyn GitHub,
        refusals: &'a Refusals,
        repo: &'a RepoRef,
        config: &'a RepoConfig,
        login: &'a str,
    ) -> Self {
        Roles {
            gh,
            refusals,
            repo,
            config,
            login,
            permission: None,
            teams: Vec::new(),
            unresolved: false,
        }
    }

    /// Whether every answer so far came from GitHub (none was a read that
    /// failed and was taken as no).
    pub(crate) fn resolved(&self) -> bool {
        !self.unresolved
    }

    /// Whether the commenter holds `role` (no answer is a no).
    pub(crate) async fn has(&mut self, role: Role) -> bool {
        match role {
            Role::Named(name) => self.holds(&name).await,
            Role::AnyGate => {
                for name in self.config.pipeline.gate_roles() {
                    if self.holds(name).await {
                        return true;
                    }
                }
                false
            }
            Role::AnyOf(names) => {
                for name in &names {
                    if self.holds(name).await {
                        return true;
                    }
                }
                false
            }
            Role::Read => self.permission_at_least(Permission::Read).await,
        }
    }

    /// Whether the commenter holds the role `name`: is listed in it (by
    /// login, with write access at least; or through a team), or, when its
    /// list is empty, has the repository permission it falls back to
    /// (maintain for `release`, write for any other). A role the config
    /// does not declare is held by no one.
    async fn holds(&mut self, name: &str) -> bool {
        let config: &'a RepoConfig = self.config;
        match config.role_members(name) {
            None => false,
            Some([]) if name == "release" => self.permission_at_least(Permission::Maintain).await,
            Some([]) => self.permission_at_least(Permission::Write).await,
            Some(list) => self.in_list(list).await,
        }
    }

    async fn permission_at_least(&mut self, min: Permission) -> bool {
        if self.permission.is_none() {
            if self.refusals.refuses(&self.repo.name, self.login, min) {
                metrics::counter!("gatebot_permission_reads_saved_total").increment(1);
                return false;
            }
            let read = match self.gh.permission(self.repo, self.login).await {
                Ok(p) => {
                    self.refusals.note(&self.repo.name, self.login, p);
                    Some(p)
                }
                Err(e) => {
                    tracing::warn!(login = %self.login, error = %e, "permission unresolved: refused");
                    self.unresolved = true;
                    None
                }
            };
            self.permission = Some(read);
        }
        self.permission.flatten().is_some_and(|p| p >= min)
    }

    async fn in_list(&mut self, list: &'a [Principal]) -> bool {
        for p in list {
            match p {
                Principal::User(u) if u.eq_ignore_ascii_case(self.login) => {
                    if self.permission_at_least(Permission::Write).await {
                        return true;
                    }
                }
                Principal::User(_) => {}
                Principal::Team { org, slug } => {
                    if self.is_member(org, slug).await {
                        return true;
                    }
                }
            }
        }
        false
    }

    async fn is_member(&mut self, org: &str, slug: &str) -> bool {
        if let Some((_, _, yes)) = self.teams.iter().find(|(o, s, _)| o == org && s == slug) {
            return *yes;
        }
        let yes = match self
            .gh
            .is_team_member(self.repo, org, slug, self.login)
            .await
        {
            Ok(yes) => yes,
            Err(e) => {
                tracing::warn!(login = %self.login, team = %format!("{org}/{slug}"), error = %e, "team membership unresolved: treated as not a member");
                self.unresolved = true;
                false
            }
        };
        self.teams.push((org.to_string(), slug.to_string(), yes));
        yes
    }
}
