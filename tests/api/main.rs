//! The integration suite: every test drives the real HTTP router with
//! signed deliveries shaped like GitHub's own, against a stateful fake
//! GitHub, and asserts what GitHub received.

mod fake_github;
mod harness;
mod hooked_store;
mod metrics_text;

mod check_run_calls;
mod check_run_ownership;
mod checks_that_are_not_ci;
mod comment_flood;
mod commonmark_comments;
mod conditional_requests;
mod config_check;
mod config_source;
mod contained_panics;
mod dedupe;
mod dispatch_time_facts;
mod dry_run_cli;
mod economy;
mod first_hour;
mod forged_runs;
mod gated_bases;
mod github_faults;
mod hold_freeze;
mod ignored_commands;
mod install_day;
mod lambda;
mod latency;
mod leaks;
mod lifecycle;
mod locked_environments;
mod merge;
mod new_push;
mod not_found;
mod org_defaults;
mod out_of_order;
mod outbox_progress;
mod people_are_ids;
mod permissions;
mod pipeline;
mod protection_rule;
mod queued_dispatch;
mod quorum;
mod rate_budget;
mod reconcile;
mod reconcile_scale;
mod rollback;
mod secret_rotation;
mod shared_environments;
mod signatures;
mod soak;
mod stale_commands;
mod up_to_date;
