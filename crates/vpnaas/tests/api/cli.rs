//! The command line of the real binary: help, refused flags, and errors naming their source.

use std::process::{Command, Output};

use vpnaas_server::config::SETTINGS;

/// The real binary run with `args` and only `envs` of the settings' variables.
pub(crate) fn vpnaas(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vpnaas"));
    cmd.args(args);
    // Settings from the test's own environment would change what is reported.
    for s in SETTINGS {
        cmd.env_remove(s.env);
    }
    cmd.env_remove("VPNAAS_CONFIG").envs(envs.iter().copied()).output().expect("run vpnaas")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_exits_0_and_lists_the_commands_and_every_settings_variable() {
    let top = vpnaas(&["--help"], &[]);
    assert_eq!(top.status.code(), Some(0));
    let said = text(&top.stdout);
    for command in ["serve", "migrate", "rotate-key", "agent"] {
        assert!(said.contains(command), "{said}");
    }
    let serve = vpnaas(&["serve", "--help"], &[("VPNAAS_DATABASE_URL", "postgres://u:hidden-pw@db/v")]);
    assert_eq!(serve.status.code(), Some(0));
    let said = text(&serve.stdout);
    for s in SETTINGS {
        assert!(said.contains(s.env), "{} missing:\n{said}", s.env);
    }
    assert!(said.contains("[env: VPNAAS_CONFIG]") && said.contains("--listen <ADDR:PORT>"), "{said}");
    // Variables' values are not shown.
    assert!(!said.contains("hidden-pw"), "{said}");
    let agent = vpnaas(&["agent", "--help"], &[]);
    assert_eq!(agent.status.code(), Some(0));
    assert!(text(&agent.stdout).contains("--router <ID>"));
}

/// The version names the release and the schema it expects, for an operator planning an upgrade.
#[test]
fn version_names_the_release_and_the_database_schema_it_expects() {
    let out = vpnaas(&["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let want =
        format!("vpnaas {} (database schema {})\n", env!("CARGO_PKG_VERSION"), vpnaas_server::store::schema_version());
    assert_eq!(text(&out.stdout), want);
}

/// `vpnaas backup` is for SQLite; on a shared database it names the database's own tool.
#[test]
fn backup_of_a_shared_database_names_its_own_tool() {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("b").display().to_string();
    for (url, tool) in [("postgres://u:pw@127.0.0.1:1/v", "pg_dump"), ("mysql://u:pw@127.0.0.1:1/v", "mariadb-backup")]
    {
        let out = vpnaas(&["backup", "--to", &to], &[("VPNAAS_DATABASE_URL", url)]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(tool) && !err.contains("pw"), "{err}");
    }
}

#[test]
fn unknown_flags_and_commands_exit_non_zero_with_a_message() {
    let out = vpnaas(&["serve", "--lissten", "127.0.0.1:0"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("unexpected argument '--lissten'") && err.contains("--listen"), "{err}");
    let out = vpnaas(&["launch"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unrecognized subcommand 'launch'"));
    let out = vpnaas(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Usage: vpnaas <COMMAND>"));
}

#[test]
fn a_bad_setting_is_named_with_where_it_came_from_and_stops_the_server() {
    let out = vpnaas(&["serve"], &[("VPNAAS_LISTEN", "nowhere")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("VPNAAS_LISTEN must be an address:port"), "{err}");
    // The flag wins over the variable; a bad flag is named as the flag.
    let out = vpnaas(&["serve", "--listen", "here"], &[("VPNAAS_LISTEN", "127.0.0.1:0")]);
    assert!(text(&out.stderr).contains("--listen must be an address:port"), "{}", text(&out.stderr));
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("vpnaas.toml");
    std::fs::write(&file, "database_timeout_secs = \"soon\"\n[keystone]\npassword = \"pw-in-file\"\n").unwrap();
    let out = vpnaas(&["migrate", "--config", file.to_str().unwrap()], &[("VPNAAS_KEYSTONE_PASSWORD", "pw-in-env")]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("database_timeout_secs in {} must be a number", file.display())), "{err}");
    assert!(!err.contains("pw-in"), "{err}");
}
