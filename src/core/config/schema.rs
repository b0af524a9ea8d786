//! The JSON Schema of `.github/gatebot.yml`, generated from the very types
//! the file is read into (schemars), so that it cannot drift from the
//! parser. `schema/gatebot.schema.json` is this, committed; a test fails
//! when the two differ (`GATEBOT_WRITE_SCHEMA=1 cargo test --lib schema`
//! rewrites the file). Editors use it through the
//! `# yaml-language-server: $schema=` line.

use super::RawConfig;

/// The schema, as JSON.
pub(crate) fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(RawConfig);
    schema.insert(
        "title".into(),
        "gatebot configuration (.github/gatebot.yml)".into(),
    );
    schema.insert(
        "description".into(),
        "Read from the repository's default branch. Every key is optional; a missing file means every default. `gatebot check-config` checks what a schema cannot (role names, durations' range, the chain's rules).".into(),
    );
    schema.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/gatebot.schema.json");

    #[test]
    fn the_committed_schema_is_the_generated_one() {
        let generated = serde_json::to_string_pretty(&json_schema()).expect("json") + "\n";
        if std::env::var_os("GATEBOT_WRITE_SCHEMA").is_some() {
            std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/schema")).expect("dir");
            std::fs::write(FILE, &generated).expect("write the schema");
        }
        let committed = std::fs::read_to_string(FILE).unwrap_or_default();
        assert!(
            committed == generated,
            "schema/gatebot.schema.json is not the schema of today's config types: \
             run `GATEBOT_WRITE_SCHEMA=1 cargo test --lib schema` and commit it"
        );
    }
}
