//! `vpnaas status`: the fleet at a glance from the API (ADR 0018): gateways alive and dead, routers, connections by status, and the commonest reasons connections are down.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use serde_json::Value;

#[derive(clap::Args)]
#[command(after_help = STATUS_ENVIRONMENT)]
pub struct StatusArgs {
    /// The vpnaas server (any replica)
    #[arg(long, value_name = "URL", env = "VPNAAS_URL", default_value = "http://127.0.0.1:9696")]
    url: String,
    /// A header for every request, e.g. 'X-Auth-Token: ...' or, in noauth mode, 'X-Roles: admin'
    /// (repeatable; replaces the default noauth admin headers)
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// PEM CA certificates trusted for an https:// server (and Keystone) besides the system's store
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Print the figures as JSON instead of text
    #[arg(long)]
    json: bool,
}

const STATUS_ENVIRONMENT: &str = "\
The credential comes from the environment or --header:
  OS_TOKEN       a token, sent as X-Auth-Token
  OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME
                 else a Keystone user's login (OS_USER_DOMAIN_NAME and
                 OS_PROJECT_DOMAIN_NAME default to Default)
  (none)         noauth mode: 'X-Project-Id: admin' and 'X-Roles: admin'
An admin sees the whole fleet; anyone else sees their project's routers and
connections, and no gateways.";

/// What the fleet looks like.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub gateways_alive: Vec<String>,
    pub gateways_dead: Vec<String>,
    pub routers: usize,
    pub routers_on_hosts: usize,
    pub connections: usize,
    pub by_status: BTreeMap<String, usize>,
    /// Down reasons with how many connections have them, the commonest first.
    pub reasons: Vec<(String, usize)>,
    /// Connections whose policies use an algorithm the algorithm policy no longer allows, and
    /// the attributes it restricts (ADR 0042); `None` when the server did not say.
    pub algorithms_not_allowed: Option<i64>,
    pub algorithms_restricted: Vec<String>,
}

impl Summary {
    /// The figures from the three lists' JSON (`gateway_agents` may be absent: not an admin).
    pub fn from_lists(gateways: Option<&Value>, routers: &Value, connections: &Value) -> Summary {
        let mut s = Summary::default();
        for g in gateways.and_then(|g| g["gateway_agents"].as_array()).into_iter().flatten() {
            let name = format!("{} {}", g["kind"].as_str().unwrap_or("?"), g["name"].as_str().unwrap_or("?"));
            if g["alive"].as_bool() == Some(true) {
                s.gateways_alive.push(name);
            } else {
                s.gateways_dead.push(format!("{name} (last seen {})", g["last_seen"].as_str().unwrap_or("?")));
            }
        }
        let routers = routers["routers"].as_array().cloned().unwrap_or_default();
        s.routers = routers.len();
        s.routers_on_hosts =
            routers.iter().filter(|r| r["binding:host_id"].as_str().is_some_and(|h| !h.is_empty())).count();
        let connections = connections["ipsec_site_connections"].as_array().cloned().unwrap_or_default();
        s.connections = connections.len();
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for c in &connections {
            *s.by_status.entry(c["status"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
            if let Some(reason) = c["tunnel"]["reason"].as_str() {
                *reasons.entry(reason.to_owned()).or_default() += 1;
            }
        }
        s.reasons = reasons.into_iter().collect();
        s.reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        s
    }

    /// Adds what `GET /v2.0/vpn/algorithm-policy` said.
    pub fn with_algorithm_policy(mut self, policy: Option<&Value>) -> Summary {
        let p = policy.map(|p| &p["algorithm_policy"]);
        self.algorithms_not_allowed = p.and_then(|p| p["connections_not_allowed"].as_i64());
        self.algorithms_restricted = p
            .and_then(|p| p["restricted"].as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        self
    }

    pub fn text(&self, url: &str, admin: bool) -> String {
        let mut out = format!("vpnaas at {url}\n");
        if admin {
            out.push_str(&format!(
                "gateways: {} alive, {} dead\n",
                self.gateways_alive.len(),
                self.gateways_dead.len()
            ));
            for dead in self.gateways_dead.iter().take(20) {
                out.push_str(&format!("  dead: {dead}\n"));
            }
        } else {
            out.push_str("gateways: not shown (admins only)\n");
        }
        // Where a router runs (binding:host_id) is shown to admins only: a member would read 0.
        match admin {
            true => out.push_str(&format!("routers: {} ({} placed on hosts)\n", self.routers, self.routers_on_hosts)),
            false => out.push_str(&format!("routers: {} (placement shown to admins only)\n", self.routers)),
        }
        out.push_str(&format!("connections: {}\n", self.connections));
        for (status, n) in &self.by_status {
            out.push_str(&format!("  {status:<16} {n}\n"));
        }
        match (self.algorithms_not_allowed, self.algorithms_restricted.is_empty()) {
            (Some(n), false) => out.push_str(&format!(
                "algorithm policy ({}): {n} connections use algorithms it no longer allows\n",
                self.algorithms_restricted.join(", ")
            )),
            (Some(_), true) => out.push_str("algorithm policy: every algorithm allowed\n"),
            (None, _) => {}
        }
        if self.reasons.is_empty() {
            out.push_str("reasons: none\n");
        } else {
            out.push_str("reasons (commonest first):\n");
            for (reason, n) in self.reasons.iter().take(10) {
                out.push_str(&format!("  {reason:<20} {n}\n"));
            }
        }
        out
    }
}

/// Runs `vpnaas status`: 0 with the summary, 1 when the server cannot be asked.
pub fn run(args: StatusArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vpnaas status: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(summary(&args)) {
        Ok((summary, admin)) => {
            if args.json {
                match serde_json::to_string_pretty(&summary) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("vpnaas status: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", summary.text(&args.url, admin));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vpnaas status: {e}");
            ExitCode::FAILURE
        }
    }
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// The headers every request carries: `--header`s, else a token, a Keystone login, or noauth's admin.
async fn headers(
    args: &StatusArgs,
    http: &reqwest::Client,
    tls: &vpnaas_keystone::outgoing::ClientTls,
) -> anyhow::Result<Vec<(String, String)>> {
    if !args.headers.is_empty() {
        return args
            .headers
            .iter()
            .map(|h| {
                let (k, v) = h.split_once(':').ok_or_else(|| anyhow!("--header {h:?}: expected 'NAME: VALUE'"))?;
                Ok((k.trim().to_owned(), v.trim().to_owned()))
            })
            .collect();
    }
    if let Some(token) = env("OS_TOKEN") {
        return Ok(vec![("X-Auth-Token".into(), token)]);
    }
    if let Some(auth) = crate::os_password_auth(&env, tls)? {
        let token =
            vpnaas_keystone::Session::new(auth).token(http, false).await.map_err(|e| anyhow!("Keystone login: {e}"))?;
        return Ok(vec![("X-Auth-Token".into(), token)]);
    }
    Ok(vec![("X-Project-Id".into(), "admin".into()), ("X-Roles".into(), "admin".into())])
}

async fn get(http: &reqwest::Client, url: &str, headers: &[(String, String)]) -> anyhow::Result<(u16, Value)> {
    let mut request = http.get(url);
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let response = request.send().await.map_err(|e| anyhow!("{url}: {}", vpnaas_keystone::outgoing::describe(&e)))?;
    let code = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Ok((code, body))
}

async fn summary(args: &StatusArgs) -> anyhow::Result<(Summary, bool)> {
    let tls = vpnaas_keystone::outgoing::ClientTls { ca_file: args.ca_file.clone(), ..Default::default() };
    // Only loopback hears a credential in clear (as for the agent, ADR 0016).
    tls.check_url("--url", &args.url)?;
    let http = tls.builder()?.timeout(std::time::Duration::from_secs(30)).build()?;
    let headers = headers(args, &http, &tls).await?;
    let base = args.url.trim_end_matches('/');
    let fetch = |path: &'static str| {
        let (http, headers) = (&http, &headers);
        let url = format!("{base}{path}");
        async move {
            match get(http, &url, headers).await? {
                (200, body) => Ok(Some(body)),
                (403, _) => Ok(None),
                (code, body) => {
                    Err(anyhow!("{url}: {code} {}", body["NeutronError"]["message"].as_str().unwrap_or("")))
                }
            }
        }
    };
    let gateways = fetch("/v2.0/vpn/gateway-agents").await?;
    let routers = fetch("/v2.0/routers?fields=id&fields=binding:host_id").await?.unwrap_or(Value::Null);
    let connections =
        fetch("/v2.0/vpn/ipsec-site-connections?fields=id&fields=status&fields=tunnel").await?.unwrap_or(Value::Null);
    // A server of an older release has no algorithm policy: its 404 is not an error.
    let algorithms = match get(&http, &format!("{base}/v2.0/vpn/algorithm-policy"), &headers).await? {
        (200, body) => Some(body),
        _ => None,
    };
    let summary =
        Summary::from_lists(gateways.as_ref(), &routers, &connections).with_algorithm_policy(algorithms.as_ref());
    Ok((summary, gateways.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_summary_counts_gateways_statuses_and_reasons_commonest_first() {
        let gateways = json!({"gateway_agents": [
            {"kind": "host", "name": "gw1", "alive": true, "last_seen": "t1"},
            {"kind": "router", "name": "r2", "alive": false, "last_seen": "t2"}]});
        let routers = json!({"routers": [{"id": "a", "binding:host_id": "gw1"}, {"id": "b", "binding:host_id": null}]});
        let down = |reason: &str| json!({"status": "DOWN", "tunnel": {"reason": reason}});
        let connections = json!({"ipsec_site_connections": [
            {"status": "ACTIVE", "tunnel": {"reason": null}}, down("auth_failed"), down("peer_unreachable"),
            down("auth_failed"), {"status": "ERROR", "tunnel": {"reason": "config_refused"}}]});
        let s = Summary::from_lists(Some(&gateways), &routers, &connections);
        assert_eq!((s.gateways_alive.len(), s.gateways_dead.len()), (1, 1));
        assert_eq!((s.routers, s.routers_on_hosts, s.connections), (2, 1, 5));
        assert_eq!(s.by_status.get("DOWN"), Some(&3));
        assert_eq!(s.reasons[0], ("auth_failed".to_owned(), 2));
        let text = s.text("http://x", true);
        assert!(
            text.contains("gateways: 1 alive, 1 dead") && text.contains("dead: router r2 (last seen t2)"),
            "{text}"
        );
        assert!(text.contains("reasons (commonest first):\n  auth_failed"), "{text}");
        assert!(!text.contains("algorithm policy"), "{text}");
        let restricted = json!({"algorithm_policy": {"restricted": ["auth_algorithm"], "connections_not_allowed": 3}});
        let text = s.with_algorithm_policy(Some(&restricted)).text("http://x", true);
        assert!(
            text.contains("algorithm policy (auth_algorithm): 3 connections use algorithms it no longer allows"),
            "{text}"
        );
        let member = Summary::from_lists(None, &routers, &connections).text("u", false);
        assert!(member.contains("admins only") && !member.contains("placed on hosts"), "{member}");
    }
}
