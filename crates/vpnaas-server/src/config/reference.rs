//! The configuration reference (`docs/configuration-reference.md`) and the example file the
//! package installs (`packaging/vpnaas.toml`), both generated from [`SETTINGS`]. The test fails
//! when either file is not what the table gives; `VPNAAS_BLESS=1 cargo test -p vpnaas-server
//! --lib config::reference` writes them.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::{Setting, SETTINGS};

/// Where the package puts its data, instead of the default beside the working directory.
const PACKAGE_VALUES: &[(&str, &str)] = &[("data_dir", "\"/var/lib/vpnaas\"")];

/// The file key as written: `url` in `[keystone]` for `keystone.url`.
fn split(key: &str) -> (Option<&str>, &str) {
    match key.split_once('.') {
        Some((table, name)) => (Some(table), name),
        None => (None, key),
    }
}

/// A credential has no flag, since other users see a process's arguments.
fn credential(s: &Setting) -> bool {
    s.flag.is_none() && s.key != "database_url"
}

/// The default as a TOML value, when it is one (not "none: ..." or a path under the data
/// directory).
fn toml_default(s: &Setting) -> Option<String> {
    let d = s.default;
    if d.starts_with("none") || d.starts_with("DATA_DIR") {
        return None;
    }
    if d.parse::<i64>().is_ok() || d == "true" || d == "false" {
        return Some(d.to_owned());
    }
    Some(format!("\"{d}\""))
}

fn markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\nPart of [vpnaas](../README.md). Generated from the settings table \
         (`SETTINGS` in `crates/vpnaas-server/src/config/settings.rs`); a test fails when this page is stale. \
         [Configuration](configuration.md) says how the file, the environment and the flags combine.\n\n\
         | file key | environment | flag | value | default | what |\n|---|---|---|---|---|---|\n",
    );
    for s in SETTINGS {
        let key = match split(s.key) {
            (Some(table), name) => format!("`{name}` in `[{table}]`"),
            (None, name) => format!("`{name}`"),
        };
        let flag = s.flag.map(|f| format!("`--{f}`")).unwrap_or_else(|| "none (a credential)".to_owned());
        let flag = if s.key == "database_url" { "none (it may hold a password)".to_owned() } else { flag };
        let value = s.value_name.replace('|', "\\|");
        let _ = writeln!(out, "| {key} | `{}` | {flag} | `{value}` | {} | {} |", s.env, s.default, s.help);
    }
    out
}

/// `text` as `#` lines of at most 96 characters.
fn comment(out: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split(' ') {
        if line.len() + 1 + word.len() > 96 && line.len() > 1 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

fn example() -> String {
    let mut out = String::from(
        "# /etc/vpnaas/vpnaas.toml: the server's settings, every one listed with its default.\n\
         # Generated from the settings table (docs/configuration-reference.md says the same); the\n\
         # environment and flags override this file. Credentials do not belong here: put\n\
         # VPNAAS_AGENT_TOKEN, VPNAAS_DATABASE_URL (it may hold a password) and VPNAAS_METRICS_TOKEN\n\
         # in /etc/vpnaas/vpnaas.env, readable by root only, which the systemd unit reads.\n",
    );
    let tables: Vec<Option<&str>> = {
        let mut t: Vec<Option<&str>> = SETTINGS.iter().map(|s| split(s.key).0).collect();
        t.dedup();
        let mut seen = Vec::new();
        t.retain(|x| {
            let new = !seen.contains(x);
            seen.push(*x);
            new
        });
        // Top-level keys first: TOML puts every key after a table header into that table.
        t.sort_by_key(|x| x.is_some());
        t
    };
    for table in tables {
        if let Some(name) = table {
            let _ = write!(out, "\n[{name}]\n");
        }
        for s in SETTINGS.iter().filter(|s| split(s.key).0 == table) {
            let name = split(s.key).1;
            let mut said = format!("{}. Default: {}. Environment: {}", s.help, s.default, s.env);
            match s.flag {
                Some(flag) => said.push_str(&format!("; flag: --{flag}.")),
                None => said.push('.'),
            }
            if credential(s) {
                said.push_str(" A credential: set it in the environment file, not here.");
            }
            out.push('\n');
            comment(&mut out, &said);
            if credential(s) {
                continue;
            }
            match (PACKAGE_VALUES.iter().find(|(k, _)| *k == s.key), toml_default(s)) {
                (Some((_, value)), _) => {
                    let _ = writeln!(out, "{name} = {value}");
                }
                (None, Some(default)) => {
                    let _ = writeln!(out, "# {name} = {default}");
                }
                (None, None) => {
                    let _ = writeln!(out, "# {name} = \"{}\"", s.value_name);
                }
            }
        }
    }
    out
}

#[test]
fn the_reference_and_the_example_are_generated_from_the_settings_table() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bless = std::env::var_os("VPNAAS_BLESS").is_some();
    for (path, text) in [("docs/configuration-reference.md", markdown()), ("packaging/vpnaas.toml", example())] {
        let file = root.join(path);
        if bless {
            std::fs::write(&file, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            committed == text,
            "{path} is stale: run VPNAAS_BLESS=1 cargo test -p vpnaas-server --lib config::reference"
        );
    }
    // The example is a configuration the loader takes, whatever it leaves commented out.
    let c = super::Config::load(&super::Flags::default().with_config(&root.join("packaging/vpnaas.toml")), |_| None)
        .unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/vpnaas"));
}
