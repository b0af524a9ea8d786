//! The gate state machine: pure functions from recorded facts to the next
//! state and the side effects to perform. No I/O happens here.

#[cfg(test)]
mod chain_properties;
pub mod ci;
pub mod machine;
#[cfg(test)]
mod machine_tests;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod property_support;
pub mod state;
pub mod summary;
#[cfg(test)]
mod two_stage;

pub use machine::{Action, Actor, Fact, Policy, Refusal, Transition, Wrong, apply};
pub use state::{Approval, Deploy, DeployKind, DeployStatus, GateState, Hold, Stage, Verification};
