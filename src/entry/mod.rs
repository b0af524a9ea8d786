//! The ways in: the HTTP router (served locally and on Lambda), the Lambda
//! handler, the command line, and the settings they read at start.

pub mod cli;
pub mod fuzzing;
pub mod http;
pub mod lambda;
pub mod settings;
