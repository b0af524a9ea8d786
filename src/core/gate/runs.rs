//! Facts about the dispatches gatebot made: which run a dispatch started,
//! how it ended, a dispatch GitHub refused or the gates withdrew, and the
//! approvers a dispatch's re-check found without their role.

use chrono::{DateTime, Utc};

use super::actions::Action;
use super::occupancy::EnvChange;
use super::state::{Deploy, DeployKind, DeployStatus};
use super::transition::Machine;
use crate::core::domain::{DispatchId, Environment, UserId};

/// What a dispatch of `kind` is, in words.
pub(super) fn kind_word(kind: DeployKind) -> &'static str {
    match kind {
        DeployKind::Promote => "deploy",
        DeployKind::Verify => "verification",
        DeployKind::Rollback => "rollback",
    }
}

/// How a deploy's run, now linked or finished, changes its environment's
/// record (a verify run occupies nothing).
fn progress(d: &Deploy) -> Option<EnvChange> {
    (d.kind != DeployKind::Verify).then(|| EnvChange::Progress {
        environment: d.environment.clone(),
        dispatch_id: d.dispatch_id.clone(),
        status: d.status,
        finished_at: d.finished_at,
        run_url: d.run_url.clone(),
    })
}

/// A dispatch GitHub never acted on leaves its environment's record.
fn withdraw(d: &Deploy) -> Option<EnvChange> {
    (d.kind != DeployKind::Verify).then(|| EnvChange::Withdraw {
        environment: d.environment.clone(),
        dispatch_id: d.dispatch_id.clone(),
    })
}

impl Machine<'_, '_> {
    pub(super) fn run_linked(&mut self, id: &DispatchId, run_id: u64, url: Option<&str>) -> String {
        match self.s.deploy_mut(id) {
            // A finished dispatch keeps what it finished with.
            Some(d) if d.run_id.is_none() && d.status == DeployStatus::Pending => {
                d.run_id = Some(run_id);
                d.run_url = url.map(str::to_string).or(d.run_url.take());
                if let Some(c) = progress(d) {
                    self.env_change(c);
                }
                format!("dispatch {id} is run {run_id}")
            }
            _ => "run already linked or unknown".into(),
        }
    }

    pub(super) fn run_completed(
        &mut self,
        id: &DispatchId,
        run_id: u64,
        success: bool,
        url: Option<&str>,
        completed_at: Option<DateTime<Utc>>,
    ) -> String {
        let now = completed_at.unwrap_or(self.cx.now);
        let Some(d) = self.s.deploy_mut(id) else {
            return format!("run {run_id} for unknown dispatch {id} ignored");
        };
        if d.status != DeployStatus::Pending {
            return format!("run {run_id} for finished dispatch {id} ignored");
        }
        if d.run_id.is_some_and(|known| known != run_id) {
            return format!("run {run_id} does not belong to dispatch {id}");
        }
        d.run_id = Some(run_id);
        d.status = if success {
            DeployStatus::Succeeded
        } else {
            DeployStatus::Failed
        };
        d.finished_at = Some(now);
        if let Some(u) = url {
            d.run_url = Some(u.to_string());
        }
        let deploy = d.clone();
        if let Some(c) = progress(&deploy) {
            self.env_change(c);
        }
        if success && deploy.kind != DeployKind::Verify {
            self.actions.push(Action::RecordDeploy {
                deploy: deploy.clone(),
            });
        }
        self.s
            .detached
            .retain(|d| d.status == DeployStatus::Pending);
        let verdict = if success { "succeeded" } else { "failed" };
        let dispatched = self.advance(None);
        format!(
            "{} {} of {} {verdict} (run {run_id}){dispatched}",
            deploy.environment,
            kind_word(deploy.kind),
            deploy.sha.short()
        )
    }

    /// GitHub refused the dispatch before acting: the deploy failed
    /// without a run, and displaced nothing.
    pub(super) fn dispatch_failed(&mut self, id: &DispatchId, reason: &str) -> String {
        let now = self.cx.now;
        let Some(d) = self.s.deploy_mut(id) else {
            return format!("dispatch failure for {id} ignored");
        };
        if d.status != DeployStatus::Pending || d.run_id.is_some() {
            return format!("dispatch failure for {id} ignored");
        }
        d.status = DeployStatus::Failed;
        d.finished_at = Some(now);
        let body = format!(
            "gatebot could not dispatch the {} {} of `{}`: {reason}",
            d.environment,
            kind_word(d.kind),
            d.sha.short()
        );
        if let Some(c) = withdraw(d) {
            self.env_change(c);
        }
        self.undo_displacement(id);
        self.s
            .detached
            .retain(|d| d.status == DeployStatus::Pending);
        self.actions.push(Action::Reply { body });
        format!("dispatch {id} failed: {reason}")
    }

    /// Takes back a dispatch the gates no longer allow. It was never sent
    /// (or its deployment is being rejected), so nothing of it remains but
    /// the record; the gate dispatches anew once allowed.
    pub(super) fn cancel_dispatch(&mut self, id: &DispatchId, reason: &str) -> String {
        let Some(d) = self.s.deploy(id) else {
            return format!("cancel of unknown dispatch {id} ignored");
        };
        if d.status != DeployStatus::Pending {
            return format!("cancel of finished dispatch {id} ignored");
        }
        let d = d.clone();
        let is = |x: &Option<Deploy>| x.as_ref().is_some_and(|x| x.dispatch_id == *id);
        let mut found = false;
        for gates in &mut self.s.stages {
            if is(&gates.deploy) {
                gates.deploy = None;
                found = true;
            } else if gates.verification.as_ref().is_some_and(|v| is(&v.run)) {
                // The verification rested on that run: it must be given again.
                gates.verification = None;
                found = true;
            }
        }
        if !found {
            self.s.detached.retain(|x| x.dispatch_id != *id);
        }
        if let Some(c) = withdraw(&d) {
            self.env_change(c);
        }
        self.undo_displacement(id);
        self.actions.push(Action::Reply {
            body: format!(
                "gatebot cancelled the {} {} of `{}` (`{id}`): {reason}.",
                d.environment,
                kind_word(d.kind),
                d.sha.short()
            ),
        });
        format!("dispatch {id} cancelled: {reason}")
    }

    /// A rollback `id` that was never sent displaced nothing.
    fn undo_displacement(&mut self, id: &DispatchId) {
        for g in &mut self.s.stages {
            if let Some(own) = g.deploy.as_mut()
                && own.displaced_by.as_ref() == Some(id)
            {
                own.displaced_by = None;
            }
        }
    }

    /// Drops the entry commands of `givers` for the stage deploying to
    /// `environment`: they no longer hold its role.
    pub(super) fn roles_lost(&mut self, environment: &Environment, givers: &[UserId]) -> String {
        let Some(gates) = self
            .s
            .stages
            .iter_mut()
            .find(|g| g.environment == *environment)
        else {
            return "roles lost on a stage without gates: nothing to drop".into();
        };
        let mut dropped: Vec<String> = Vec::new();
        gates.approvals.retain(|a| {
            let lost = a.id.is_some_and(|id| givers.contains(&id));
            if lost {
                dropped.push(format!(
                    "@{} (id {})",
                    a.login,
                    a.id.map(|i| i.0).unwrap_or(0)
                ));
            }
            !lost
        });
        if dropped.is_empty() {
            "roles lost by no one who gave a gate".into()
        } else {
            format!(
                "{environment} entry of {} no longer counts: the role is no longer theirs",
                dropped.join(", ")
            )
        }
    }
}
