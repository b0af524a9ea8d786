//! How gatebot reads CI for a head: the whole listing of its check runs
//! when it must (no `required_checks`, or gatebot's own check run on the
//! head is not known yet), else one listing per required check, asked for
//! by name (`check_name`). A named listing changes only when that check
//! does, so asked again it is a `304`, which GitHub's rate limit does not
//! count; the whole listing changes whenever any check run on the commit is
//! updated, gatebot's own included.

use crate::adapters::github::{GhResult, RepoRef};
use crate::app::App;
use crate::core::config::RepoConfig;
use crate::core::domain::Sha;
use crate::core::gate::ci::{self, CheckRunInfo, CiStatus};

impl App {
    /// CI's verdict on `sha` under `config`. `whole`: list every check run
    /// (and keep the listing for the check-run update that follows, which
    /// looks for gatebot's own in it).
    pub(crate) async fn read_ci(
        &self,
        repo: &RepoRef,
        sha: &Sha,
        config: &RepoConfig,
        whole: bool,
    ) -> GhResult<CiStatus> {
        let own = self.github.app_id();
        let required = &config.required_checks;
        let whole = whole || required.is_empty();
        let runs: Vec<CheckRunInfo> = if whole {
            let runs = self.github.check_runs(repo, sha).await?;
            self.check_runs.listed(&repo.name, sha, &runs, own);
            runs
        } else {
            let mut names: Vec<&String> = required.iter().collect();
            names.sort();
            names.dedup();
            let reads = names
                .into_iter()
                .map(|name| self.github.check_runs_named(repo, sha, name));
            futures_util::future::try_join_all(reads)
                .await?
                .into_iter()
                .flatten()
                .collect()
        };
        Ok(ci::evaluate(&runs, required, own))
    }
}
