//! Policy rules in oslo.policy's language: upstream's rule names and defaults, overridable
//! by a policy file (YAML or JSON) for the rule forms upstream's defaults use.
//!
//! Grammar (oslo.policy's): `check := 'role:' NAME | 'rule:' NAME | ATTR ':' MATCH | '@' | '!'
//! | 'not' check | '(' expr ')'`, `expr := check ('and' check)* ('or' ...)*`; an empty rule is
//! `@`. In `ATTR:MATCH` the caller's attribute (`project_id`, `user_id`, `tenant_id`,
//! `is_admin`) is compared with MATCH, where `%(name)s` takes the target's value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use vpnaas_core::wire;

/// What is known of a caller for policy: its project, user and roles (lower-cased).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub project_id: String,
    pub user_id: Option<String>,
    pub roles: Vec<String>,
}

impl Credentials {
    pub fn new(
        project_id: impl Into<String>,
        user_id: Option<String>,
        roles: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut roles: Vec<String> =
            roles.into_iter().map(|r| r.trim().to_lowercase()).filter(|r| !r.is_empty()).collect();
        roles.sort();
        roles.dedup();
        Credentials { project_id: project_id.into(), user_id, roles }
    }

    /// Adds the roles Keystone's default role hierarchy implies (admin ⇒ manager ⇒ member ⇒
    /// reader), as Keystone does in the tokens it issues; for identities not from Keystone.
    pub fn with_implied_roles(mut self) -> Self {
        const CHAIN: [&str; 4] = ["admin", "manager", "member", "reader"];
        if let Some(top) = CHAIN.iter().position(|r| self.roles.iter().any(|x| x == r)) {
            self.roles.extend(CHAIN[top..].iter().map(|r| (*r).to_owned()));
            self.roles.sort();
            self.roles.dedup();
        }
        self
    }

    fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        match name {
            "project_id" | "tenant_id" | "tenant" => Some(&self.project_id),
            "user_id" | "user" => self.user_id.as_deref(),
            _ => None,
        }
    }
}

/// A parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    Always,
    Never,
    Role(String),
    Rule(String),
    /// `ATTR:MATCH`: the caller's ATTR equals MATCH (a literal, or a target value).
    Generic {
        attr: String,
        value: Match,
    },
    Not(Box<Check>),
    And(Vec<Check>),
    Or(Vec<Check>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Match {
    Literal(String),
    Target(String),
}

/// The defaults: upstream's names and check strings (neutron-vpnaas's
/// `neutron_vpnaas/policies/*.py`, neutron-lib's `policy/rules.py`, neutron's
/// `conf/policies/base.py`, secure-RBAC defaults), with one deliberate difference: upstream's
/// `get_*` VPN rules say ADMIN_OR_PROJECT_MEMBER, ours ADMIN_OR_PROJECT_READER (a reader of
/// the project may read, as neutron's own resources allow; ADR 0005). Plus the rules of this
/// service's own APIs: the inventory (admin-only writes, ADR 0001 D5) and the gateway API.
const ADMIN: &str = "role:admin";
const ADMIN_OR_PROJECT_MEMBER: &str = "(rule:admin_only) or (role:member and project_id:%(project_id)s)";
const ADMIN_OR_PROJECT_READER: &str = "(rule:admin_only) or (role:reader and project_id:%(project_id)s)";

/// `certificate` is this service's own (ADR 0017), with the rules of the other five.
const RESOURCES: [&str; 6] =
    ["ikepolicy", "ipsecpolicy", "vpnservice", "endpoint_group", "ipsec_site_connection", "certificate"];

fn default_rules() -> Vec<(String, &'static str)> {
    let mut rules: Vec<(String, &'static str)> = vec![
        // neutron/conf/policies/base.py
        ("context_is_admin".into(), ADMIN),
        ("admin_only".into(), "rule:context_is_admin"),
        ("service_api".into(), "role:service"),
        ("owner".into(), "project_id:%(project_id)s"),
        ("admin_or_owner".into(), "rule:context_is_admin or rule:owner"),
        ("regular_user".into(), ""),
        ("default".into(), "rule:admin_or_owner"),
        ("context_with_global_access".into(), "!"),
        // The inventory: what a cloud's network service owns; admins write, owners read.
        ("create_router".into(), "rule:admin_only"),
        ("update_router".into(), "rule:admin_only"),
        ("delete_router".into(), "rule:admin_only"),
        ("get_router".into(), ADMIN_OR_PROJECT_READER),
        ("add_router_interface".into(), "rule:admin_only"),
        ("remove_router_interface".into(), "rule:admin_only"),
        ("create_subnet".into(), "rule:admin_only"),
        ("update_subnet".into(), "rule:admin_only"),
        ("delete_subnet".into(), "rule:admin_only"),
        ("get_subnet".into(), ADMIN_OR_PROJECT_READER),
        ("get_network".into(), ADMIN_OR_PROJECT_READER),
        ("get_port".into(), ADMIN_OR_PROJECT_READER),
        // The gateway API: agents, as Keystone users holding the `service` role.
        ("gateway_agent".into(), "rule:service_api"),
        // ADR 0019: who receives a connection's pre-shared key in its peer configuration.
        ("get_ipsec_site_connection:psk".into(), ADMIN_OR_PROJECT_MEMBER),
        // ADR 0041: quotas, with Neutron's rules (neutron/conf/policies/quotas.py).
        // Anyone reads their own project's quota whatever this rule says (as in Neutron).
        ("get_quota".into(), "(rule:admin_only) or (role:manager and project_id:%(project_id)s)"),
        ("update_quota".into(), "rule:admin_only"),
        ("delete_quota".into(), "rule:admin_only"),
        // ADR 0018: the gateway agents' heartbeats, for `vpnaas status`.
        ("get_gateway_agents".into(), "rule:admin_only"),
    ];
    for r in RESOURCES {
        rules.push((format!("create_{r}"), ADMIN_OR_PROJECT_MEMBER));
        rules.push((format!("update_{r}"), ADMIN_OR_PROJECT_MEMBER));
        rules.push((format!("delete_{r}"), ADMIN_OR_PROJECT_MEMBER));
        rules.push((format!("get_{r}"), ADMIN_OR_PROJECT_READER));
    }
    rules
}

/// The rule set in force.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: BTreeMap<String, Check>,
}

/// The target of a check: the project of the object acted on.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub project_id: &'a str,
}

/// How far a caller's reading reaches, for lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Every project's objects.
    All,
    /// Only the caller's project's.
    Own,
    /// Nothing.
    None,
}

impl Policy {
    /// Upstream's defaults.
    pub fn defaults() -> Policy {
        let mut rules = BTreeMap::new();
        for (name, text) in default_rules() {
            // The defaults are constants of this file; a unit test parses every one.
            rules.insert(name, parse(text).unwrap_or(Check::Never));
        }
        Policy { rules }
    }

    /// The defaults overridden by a policy file (oslo.policy's YAML or JSON: a map of rule
    /// name to rule text). Every rule is parsed, and every `rule:` reference must resolve.
    pub fn from_file(path: &Path) -> Result<Policy, PolicyFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| PolicyFileError::Read { path: path.to_owned(), source })?;
        Policy::with_overrides(&text).map_err(|source| PolicyFileError::Invalid { path: path.to_owned(), source })
    }

    pub fn with_overrides(text: &str) -> Result<Policy, PolicyError> {
        let mut policy = Policy::defaults();
        for (name, rule) in parse_rule_map(text)? {
            let check = parse(&rule).map_err(|source| PolicyError::Rule { name: name.clone(), source })?;
            policy.rules.insert(name, check);
        }
        for (name, check) in &policy.rules {
            if let Some(missing) = unknown_reference(check, &policy.rules) {
                return Err(PolicyError::Undefined { name: name.clone(), missing: missing.to_owned() });
            }
        }
        Ok(policy)
    }

    /// Whether `rule` allows the caller on `target`. An unknown rule allows nothing.
    pub fn allows(&self, rule: &str, creds: &Credentials, target: Target<'_>) -> bool {
        match self.rules.get(rule) {
            Some(check) => self.eval(check, creds, target, 0),
            None => false,
        }
    }

    /// How far `rule` (a `get_*` rule) lets the caller read: asked once for a project that
    /// is not the caller's and once for the caller's own, as the rules' only target
    /// attribute is the owning project.
    pub fn reach(&self, rule: &str, creds: &Credentials) -> Reach {
        const ELSEWHERE: &str = "\u{0}another-project";
        if self.allows(rule, creds, Target { project_id: ELSEWHERE }) {
            Reach::All
        } else if self.allows(rule, creds, Target { project_id: &creds.project_id }) {
            Reach::Own
        } else {
            Reach::None
        }
    }

    fn eval(&self, check: &Check, creds: &Credentials, target: Target<'_>, depth: u8) -> bool {
        // A rule that refers to itself, directly or not, allows nothing.
        if depth > 32 {
            return false;
        }
        match check {
            Check::Always => true,
            Check::Never => false,
            Check::Role(role) => creds.has_role(role),
            Check::Rule(name) => self.rules.get(name).is_some_and(|c| self.eval(c, creds, target, depth + 1)),
            Check::Generic { attr, value } => {
                let wanted = match value {
                    Match::Literal(v) => Some(v.as_str()),
                    Match::Target(key) => match key.as_str() {
                        wire::PROJECT_ID | wire::TENANT_ID => Some(target.project_id),
                        _ => None,
                    },
                };
                if attr == "is_admin" {
                    let is_admin = self.allows("context_is_admin", creds, target);
                    return wanted.is_some_and(|w| w.eq_ignore_ascii_case(if is_admin { "true" } else { "false" }));
                }
                matches!((creds.attribute(attr), wanted), (Some(have), Some(want)) if have == want)
            }
            Check::Not(inner) => !self.eval(inner, creds, target, depth + 1),
            Check::And(all) => all.iter().all(|c| self.eval(c, creds, target, depth + 1)),
            Check::Or(any) => any.iter().any(|c| self.eval(c, creds, target, depth + 1)),
        }
    }
}

fn unknown_reference<'a>(check: &'a Check, rules: &BTreeMap<String, Check>) -> Option<&'a str> {
    match check {
        Check::Rule(name) if !rules.contains_key(name) => Some(name),
        Check::Not(inner) => unknown_reference(inner, rules),
        Check::And(all) | Check::Or(all) => all.iter().find_map(|c| unknown_reference(c, rules)),
        _ => None,
    }
}

// ---- the rule language

fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let mut rest = word;
        while let Some(stripped) = rest.strip_prefix('(') {
            out.push("(".to_owned());
            rest = stripped;
        }
        let mut closing = 0;
        while let Some(stripped) = rest.strip_suffix(')') {
            // `%(project_id)s` ends in `s`, so a trailing `)` is always a parenthesis.
            closing += 1;
            rest = stripped;
        }
        if !rest.is_empty() {
            out.push(rest.to_owned());
        }
        out.extend(std::iter::repeat_n(")".to_owned(), closing));
    }
    out
}

/// Why a policy file is refused.
#[derive(Debug)]
pub enum PolicyFileError {
    Read { path: PathBuf, source: std::io::Error },
    Invalid { path: PathBuf, source: PolicyError },
}

impl fmt::Display for PolicyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyFileError::Read { path, source } => write!(f, "cannot read policy file {}: {source}", path.display()),
            PolicyFileError::Invalid { path, source } => write!(f, "policy file {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for PolicyFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PolicyFileError::Read { source, .. } => Some(source),
            PolicyFileError::Invalid { source, .. } => Some(source),
        }
    }
}

/// Why a policy text is refused: its shape, a rule that does not parse, or a dangling reference.
#[derive(Debug)]
pub enum PolicyError {
    NotJson(serde_json::Error),
    /// `line` counts from 1.
    NotFlat {
        line: usize,
    },
    NotAPair {
        line: usize,
    },
    NotOneLine {
        line: usize,
        text: String,
    },
    Rule {
        name: String,
        source: RuleError,
    },
    Undefined {
        name: String,
        missing: String,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::NotJson(e) => write!(f, "not a JSON object of rule texts: {e}"),
            PolicyError::NotFlat { line } => {
                write!(f, "line {line}: only a flat map of \"rule\": \"check\" is understood")
            }
            PolicyError::NotAPair { line } => write!(f, "line {line}: expected \"name\": \"rule\""),
            PolicyError::NotOneLine { line, text } => write!(f, "line {line}: {text:?} is not a one-line rule text"),
            PolicyError::Rule { name, source } => write!(f, "rule {name:?}: {source}"),
            PolicyError::Undefined { name, missing } => {
                write!(f, "rule {name:?} refers to rule:{missing}, which is not defined")
            }
        }
    }
}

impl std::error::Error for PolicyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PolicyError::NotJson(e) => Some(e),
            PolicyError::Rule { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why a rule text does not parse.
#[derive(Debug, PartialEq, Eq)]
pub enum RuleError {
    Unexpected(String),
    EndsEarly,
    Unclosed,
    NotACheck(String),
    NothingAfterColon(String),
    Remote(String),
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::Unexpected(word) => write!(f, "unexpected {word:?}"),
            RuleError::EndsEarly => f.write_str("the rule ends where a check was expected"),
            RuleError::Unclosed => f.write_str("a '(' is not closed"),
            RuleError::NotACheck(word) => write!(f, "{word:?} is not a check (KIND:VALUE)"),
            RuleError::NothingAfterColon(word) => write!(f, "{word:?} has nothing after ':'"),
            RuleError::Remote(word) => write!(f, "{word:?}: remote checks are not supported"),
        }
    }
}

impl std::error::Error for RuleError {}

fn parse(text: &str) -> Result<Check, RuleError> {
    let tokens = tokens(text);
    if tokens.is_empty() {
        return Ok(Check::Always);
    }
    let mut pos = 0;
    let check = parse_or(&tokens, &mut pos)?;
    match tokens.get(pos) {
        None => Ok(check),
        Some(t) => Err(RuleError::Unexpected(t.clone())),
    }
}

fn parse_or(t: &[String], pos: &mut usize) -> Result<Check, RuleError> {
    let mut any = vec![parse_and(t, pos)?];
    while t.get(*pos).is_some_and(|w| w.eq_ignore_ascii_case("or")) {
        *pos += 1;
        any.push(parse_and(t, pos)?);
    }
    Ok(if any.len() == 1 { any.remove(0) } else { Check::Or(any) })
}

fn parse_and(t: &[String], pos: &mut usize) -> Result<Check, RuleError> {
    let mut all = vec![parse_not(t, pos)?];
    while t.get(*pos).is_some_and(|w| w.eq_ignore_ascii_case("and")) {
        *pos += 1;
        all.push(parse_not(t, pos)?);
    }
    Ok(if all.len() == 1 { all.remove(0) } else { Check::And(all) })
}

fn parse_not(t: &[String], pos: &mut usize) -> Result<Check, RuleError> {
    let Some(word) = t.get(*pos) else {
        return Err(RuleError::EndsEarly);
    };
    *pos += 1;
    if word.eq_ignore_ascii_case("not") {
        return Ok(Check::Not(Box::new(parse_not(t, pos)?)));
    }
    if word == "(" {
        let inner = parse_or(t, pos)?;
        if t.get(*pos).map(String::as_str) != Some(")") {
            return Err(RuleError::Unclosed);
        }
        *pos += 1;
        return Ok(inner);
    }
    atom(word)
}

fn atom(word: &str) -> Result<Check, RuleError> {
    match word {
        "@" => return Ok(Check::Always),
        "!" => return Ok(Check::Never),
        ")" | "and" | "or" => return Err(RuleError::Unexpected(word.to_owned())),
        _ => {}
    }
    let (kind, value) = word.split_once(':').ok_or_else(|| RuleError::NotACheck(word.to_owned()))?;
    if value.is_empty() {
        return Err(RuleError::NothingAfterColon(word.to_owned()));
    }
    Ok(match kind {
        "role" => Check::Role(value.to_owned()),
        "rule" => Check::Rule(value.to_owned()),
        "http" | "https" => return Err(RuleError::Remote(word.to_owned())),
        attr => {
            let value = match value.strip_prefix("%(").and_then(|v| v.strip_suffix(")s")) {
                Some(key) => Match::Target(key.to_owned()),
                None => Match::Literal(value.trim_matches(|c| c == '\'' || c == '"').to_owned()),
            };
            Check::Generic { attr: attr.to_owned(), value }
        }
    })
}

// ---- the file: a flat map of rule name to rule text

/// A flat YAML map (`"name": "rule"` per line, comments, quotes optional) or a JSON object.
fn parse_rule_map(text: &str) -> Result<Vec<(String, String)>, PolicyError> {
    if text.trim_start().starts_with('{') {
        let map: BTreeMap<String, String> = serde_json::from_str(text).map_err(PolicyError::NotJson)?;
        return Ok(map.into_iter().collect());
    }
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = strip_comment(line);
        if line.trim().is_empty() || line.trim() == "---" {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            return Err(PolicyError::NotFlat { line: n + 1 });
        }
        let (name, rule) = split_key(line).ok_or(PolicyError::NotAPair { line: n + 1 })?;
        let unquote = |text: &str| {
            unquote(text).ok_or_else(|| PolicyError::NotOneLine { line: n + 1, text: text.trim().to_owned() })
        };
        out.push((unquote(name)?, unquote(rule)?));
    }
    Ok(out)
}

/// The line without a `#` comment outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if i == 0 || line[..i].ends_with([' ', '\t']) => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Splits `key: value` at the first `:` outside quotes that is followed by a space or the end.
fn split_key(line: &str) -> Option<(&str, &str)> {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ':') if line[i + 1..].is_empty() || line[i + 1..].starts_with([' ', '\t']) => {
                return Some((line[..i].trim(), line[i + 1..].trim()));
            }
            _ => {}
        }
    }
    None
}

/// The text of a scalar; `None` when it is not a one-line scalar (a list, a block).
fn unquote(text: &str) -> Option<String> {
    let t = text.trim();
    if let Some(inner) = t.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return Some(serde_json::from_str::<String>(t).unwrap_or_else(|_| inner.to_owned()));
    }
    if let Some(inner) = t.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Some(inner.replace("''", "'"));
    }
    if t.starts_with(['"', '\'', '[', '{', '|', '>']) {
        return None;
    }
    Some(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(project: &str) -> Credentials {
        Credentials::new(project, None, ["member".to_owned()]).with_implied_roles()
    }
    fn on(project: &str) -> Target<'_> {
        Target { project_id: project }
    }

    #[test]
    fn every_default_parses_and_resolves() {
        let defaults = Policy::defaults();
        for (name, text) in default_rules() {
            let check = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(unknown_reference(&check, &defaults.rules), None, "{name}");
        }
    }

    #[test]
    fn upstream_defaults_member_writes_reader_reads_admin_everything() {
        let p = Policy::defaults();
        let reader = Credentials::new("p1", None, ["reader".to_owned()]);
        let admin = Credentials::new("adm", None, ["admin".to_owned()]).with_implied_roles();
        assert!(p.allows("create_ikepolicy", &member("p1"), on("p1")));
        assert!(!p.allows("create_ikepolicy", &member("p1"), on("p2")));
        assert!(!p.allows("delete_ipsec_site_connection", &reader, on("p1")));
        assert!(p.allows("get_ipsec_site_connection", &reader, on("p1")));
        assert!(!p.allows("get_ipsec_site_connection", &reader, on("p2")));
        assert!(p.allows("update_vpnservice", &admin, on("p2")));
        assert!(!p.allows("create_router", &member("p1"), on("p1")));
        assert!(p.allows("get_router", &member("p1"), on("p1")));
        assert!(!p.allows("gateway_agent", &admin, on("x")));
        assert!(p.allows("gateway_agent", &Credentials::new("svc", None, ["service".to_owned()]), on("x")));
        assert!(!p.allows("no_such_rule", &admin, on("p1")));
        assert_eq!(p.reach("get_ikepolicy", &admin), Reach::All);
        assert_eq!(p.reach("get_ikepolicy", &reader), Reach::Own);
        assert_eq!(p.reach("get_ikepolicy", &Credentials::new("p1", None, Vec::new())), Reach::None);
    }

    #[test]
    fn the_language_and_or_not_parentheses_and_generic_checks() {
        let p = Policy::with_overrides(
            "# operators' file\n\
             \"get_ikepolicy\": \"role:auditor or (role:member and not project_id:blocked)\"\n\
             create_vpnservice: 'user_id:%(project_id)s'\n\
             delete_ikepolicy: \"!\"\n\
             update_ikepolicy: \"\"\n\
             \"get_router\": \"is_admin:True\"\n",
        )
        .unwrap();
        let auditor = Credentials::new("x", None, ["AUDITOR".to_owned()]);
        assert_eq!(p.reach("get_ikepolicy", &auditor), Reach::All);
        assert!(p.allows("get_ikepolicy", &member("p1"), on("zz")));
        assert!(!p.allows("get_ikepolicy", &member("blocked"), on("zz")));
        let u = Credentials::new("p", Some("u1".into()), Vec::new());
        assert!(p.allows("create_vpnservice", &u, on("u1")));
        assert!(!p.allows("create_vpnservice", &u, on("p")));
        assert!(!p.allows("delete_ikepolicy", &auditor, on("x")));
        assert!(p.allows("update_ikepolicy", &Credentials::default(), on("x")));
        assert!(p.allows("get_router", &Credentials::new("a", None, ["admin".to_owned()]), on("x")));
        assert!(!p.allows("get_router", &member("a"), on("a")));
        // Unchanged rules keep upstream's defaults.
        assert!(p.allows("create_ikepolicy", &member("p1"), on("p1")));
    }

    #[test]
    fn json_files_work_and_mistakes_name_the_rule() {
        let p = Policy::with_overrides(r#"{"create_ikepolicy": "role:admin"}"#).unwrap();
        assert!(!p.allows("create_ikepolicy", &member("p1"), on("p1")));
        let e = Policy::with_overrides("create_ikepolicy: \"rule:nope\"\n").unwrap_err().to_string();
        assert!(e.contains("rule:nope"), "{e}");
        let e = Policy::with_overrides("create_ikepolicy: \"(role:a\"\n").unwrap_err().to_string();
        assert!(e.contains("create_ikepolicy") && e.contains("not closed"), "{e}");
        let e = Policy::with_overrides("create_ikepolicy: \"role:a and\"\n").unwrap_err().to_string();
        assert!(e.contains("ends"), "{e}");
        let e = Policy::with_overrides("create_ikepolicy:\n  - role:a\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = Policy::with_overrides("x: \"http://example/check\"\n").unwrap_err().to_string();
        assert!(e.contains("remote"), "{e}");
    }

    #[test]
    fn a_rule_that_refers_to_itself_allows_nothing() {
        let p =
            Policy::with_overrides("a: \"rule:b\"\nb: \"rule:a or rule:a\"\ncreate_ikepolicy: \"rule:a\"\n").unwrap();
        assert!(!p.allows("create_ikepolicy", &member("p1"), on("p1")));
    }

    #[test]
    fn implied_roles_follow_keystone_defaults() {
        let c = Credentials::new("p", None, ["Admin".to_owned()]).with_implied_roles();
        assert_eq!(c.roles, ["admin", "manager", "member", "reader"]);
        let c = Credentials::new("p", None, ["reader".to_owned(), "service".to_owned()]).with_implied_roles();
        assert_eq!(c.roles, ["reader", "service"]);
    }
}
