//! `vpnaas agent --config FILE`: the agent's options from a TOML file, keyed as its flags are
//! (`server = "https://vpnaas:9696"`, `vici_template = "..."`, `allow_plaintext = true`).
//! The environment overrides the file and the command line overrides both, as for the server's
//! settings. The file is read before clap parses, by turning its keys into flags placed ahead of
//! the ones given, so that every check clap makes (required, conflicts, values) applies to it.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use clap::Command;

/// The file named by `--config FILE`, `--config=FILE` or `VPNAAS_AGENT_CONFIG`.
fn named(args: &[OsString], env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let mut rest = args.iter().skip(2);
    while let Some(a) = rest.next() {
        let a = a.to_string_lossy();
        if a == "--config" {
            return rest.next().map(PathBuf::from);
        }
        if let Some(path) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    env("VPNAAS_AGENT_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `args` (the whole command line) with the agent's configuration file, if it names one, read
/// into flags. Other commands' arguments come back as they were.
pub fn expand(
    args: Vec<OsString>,
    env: impl Fn(&str) -> Option<String>,
    agent: &Command,
) -> anyhow::Result<Vec<OsString>> {
    if args.get(1).map(|a| a.as_os_str()) != Some("agent".as_ref()) {
        return Ok(args);
    }
    let Some(path) = named(&args, &env) else { return Ok(args) };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let table: toml::Table = text.parse().with_context(|| format!("{} is not TOML", path.display()))?;
    let given = |long: &str| {
        let flag = format!("--{long}");
        args.iter().skip(2).any(|a| {
            let a = a.to_string_lossy();
            a == flag || a.starts_with(&format!("{flag}="))
        })
    };
    let mut from_file: Vec<OsString> = Vec::new();
    for (key, value) in &table {
        let arg = agent
            .get_arguments()
            .find(|a| a.get_id().as_str() == key && a.get_long().is_some() && key != "config")
            .ok_or_else(|| anyhow!("{key} in {}: unknown setting (the keys are the flags, with _)", path.display()))?;
        let long = arg.get_long().unwrap_or_default();
        let from_env = arg.get_env().and_then(|v| env(&v.to_string_lossy())).is_some();
        if given(long) || from_env {
            continue;
        }
        let flag = OsString::from(format!("--{long}"));
        match value {
            toml::Value::Boolean(on) if !arg.get_action().takes_values() => {
                if *on {
                    from_file.push(flag);
                }
            }
            toml::Value::String(text) if arg.get_action().takes_values() => {
                from_file.extend([flag, text.into()]);
            }
            toml::Value::Integer(n) if arg.get_action().takes_values() => {
                from_file.extend([flag, n.to_string().into()]);
            }
            other => bail!("{key} in {}: {} is not a value for --{long}", path.display(), other.type_str()),
        }
    }
    let mut out = args;
    out.splice(2..2, from_file);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn agent() -> Command {
        crate::Cli::command().find_subcommand("agent").cloned().unwrap()
    }

    fn run(file: &str, cli: &[&str], vars: &[(&str, &str)]) -> anyhow::Result<Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, file).unwrap();
        let mut args: Vec<OsString> = ["vpnaas", "agent", "--config"].iter().map(OsString::from).collect();
        args.push(path.clone().into());
        args.extend(cli.iter().map(OsString::from));
        let env = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        let out = expand(args, env, &agent())?;
        Ok(out.iter().map(|a| a.to_string_lossy().replace(&path.display().to_string(), "FILE")).collect())
    }

    #[test]
    fn the_file_gives_flags_that_the_environment_and_the_command_line_override() {
        let file = "server = \"http://a:9696\"\nhost = \"net-1\"\nallow_plaintext = true\nca_file = \"/f.pem\"\n";
        let out = run(file, &["--host", "net-2"], &[("VPNAAS_AGENT_CA_FILE", "/e.pem")]).unwrap();
        assert_eq!(
            out,
            [
                "vpnaas",
                "agent",
                "--allow-plaintext",
                "--server",
                "http://a:9696",
                "--config",
                "FILE",
                "--host",
                "net-2"
            ]
        );
    }

    #[test]
    fn an_unknown_key_or_a_wrong_type_is_refused_naming_it() {
        let e = run("token = \"x\"\n", &[], &[]).unwrap_err().to_string();
        assert!(e.starts_with("token in ") && e.contains("unknown setting"), "{e}");
        let e = run("allow_plaintext = \"yes\"\n", &[], &[]).unwrap_err().to_string();
        assert!(e.contains("string is not a value for --allow-plaintext"), "{e}");
        assert!(run("server = \n", &[], &[]).unwrap_err().to_string().contains("is not TOML"));
    }

    #[test]
    fn other_commands_are_left_alone() {
        let args: Vec<OsString> = ["vpnaas", "serve", "--config", "/nonexistent"].iter().map(OsString::from).collect();
        assert_eq!(expand(args.clone(), |_| None, &agent()).unwrap(), args);
    }
}
