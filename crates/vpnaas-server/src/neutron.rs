//! The cloud's Neutron API as neutron mode reads it (ADR 0022): routers, their external
//! gateways and L3 agents, subnets, router interface ports and the extension list, called
//! with vpnaas's Keystone service credentials. Answers are parsed here, once, into
//! [`NeutronRouter`] and [`NeutronSubnet`]; anything else Neutron says is
//! [`NeutronError::Unavailable`] (a 503 to the caller, never a guess).

use std::net::IpAddr;
use std::time::Duration;
use vpnaas_core::wire;

use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;
use vpnaas_core::resources::Gateway;
use vpnaas_core::values::Cidr;
use vpnaas_keystone::outgoing::describe;
use vpnaas_keystone::{identity_base, PasswordAuth, Session};

use crate::auth::keystone::ServiceClientError;
use crate::config::Config;

/// Neutron could not give a usable answer: unreachable, slower than the timeout, an error
/// status, a body that is not what its API says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeutronError(pub String);

impl std::fmt::Display for NeutronError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Neutron unavailable: {}", self.0)
    }
}

pub type NeutronResult<T> = Result<T, NeutronError>;

/// A router as neutron mode needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeutronRouter {
    pub id: Uuid,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    /// The external gateway: its network and first IPv4 and IPv6 addresses.
    pub gateway: Option<Gateway>,
}

/// A subnet as neutron mode needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeutronSubnet {
    pub id: Uuid,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub cidr: Cidr,
    pub network_id: Option<Uuid>,
}

/// A router interface: the router (`device_id`) and the subnets of its port's fixed IPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub router_id: Uuid,
    pub subnet_ids: Vec<Uuid>,
}

/// The device owners of a router's interface ports: legacy, DVR and HA routers.
const INTERFACE_OWNERS: &[&str] =
    &["network:router_interface", "network:router_interface_distributed", "network:ha_router_replicated_interface"];

/// Where Neutron is and who vpnaas is to it.
pub struct Neutron {
    http: reqwest::Client,
    /// `neutron_url`, or the catalog's answer once found.
    endpoint: tokio::sync::Mutex<Option<String>>,
    /// The service user; without Keystone settings, Neutron is called without a token
    /// (a Neutron in noauth mode, as in tests).
    session: Option<Session>,
}

#[derive(Deserialize)]
struct WireRouter {
    id: Uuid,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default = "yes")]
    admin_state_up: bool,
    #[serde(default)]
    external_gateway_info: Option<WireGateway>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct WireGateway {
    #[serde(default)]
    network_id: Option<Uuid>,
    #[serde(default)]
    external_fixed_ips: Vec<WireFixedIp>,
}

#[derive(Deserialize)]
struct WireFixedIp {
    #[serde(default)]
    subnet_id: Option<Uuid>,
    #[serde(default)]
    ip_address: Option<IpAddr>,
}

#[derive(Deserialize)]
struct WireSubnet {
    id: Uuid,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    cidr: String,
    #[serde(default)]
    network_id: Option<Uuid>,
}

#[derive(Deserialize)]
struct WirePort {
    device_id: String,
    #[serde(default)]
    device_owner: String,
    #[serde(default)]
    fixed_ips: Vec<WireFixedIp>,
}

#[derive(Deserialize)]
struct WireAgent {
    host: String,
    #[serde(default)]
    ha_state: Option<String>,
}

fn owner(project_id: Option<String>, tenant_id: Option<String>) -> String {
    project_id.or(tenant_id).unwrap_or_default()
}

impl WireRouter {
    fn parse(self) -> NeutronRouter {
        let gateway = self.external_gateway_info.map(|g| {
            let mut gw = Gateway { network_id: g.network_id, ..Gateway::default() };
            for (ip, subnet) in g.external_fixed_ips.iter().filter_map(|f| Some((f.ip_address?, f.subnet_id))) {
                match ip {
                    IpAddr::V4(a) if gw.v4.is_none() => (gw.v4, gw.v4_subnet) = (Some(a), subnet),
                    IpAddr::V6(a) if gw.v6.is_none() => (gw.v6, gw.v6_subnet) = (Some(a), subnet),
                    _ => {}
                }
            }
            gw
        });
        NeutronRouter {
            id: self.id,
            project_id: owner(self.project_id, self.tenant_id),
            name: self.name.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            admin_state_up: self.admin_state_up,
            // A gateway without an address is no gateway for IPsec (the reference reads
            // `gw_port.fixed_ips`).
            gateway: gateway.filter(|g| g.v4.is_some() || g.v6.is_some()),
        }
    }
}

impl WireSubnet {
    fn parse(self) -> NeutronResult<NeutronSubnet> {
        let cidr =
            Cidr::parse(&self.cidr).map_err(|_| NeutronError(format!("subnet {}: cidr {:?}", self.id, self.cidr)))?;
        Ok(NeutronSubnet {
            id: self.id,
            project_id: owner(self.project_id, self.tenant_id),
            name: self.name.unwrap_or_default(),
            description: self.description.unwrap_or_default(),
            cidr,
            network_id: self.network_id,
        })
    }
}

/// `?id=a&id=b...` (Neutron's filter on several values).
fn ids_query(key: &str, ids: &[Uuid]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for id in ids {
        q.append_pair(key, &id.to_string());
    }
    q.finish()
}

/// Why neutron mode cannot start.
#[derive(Debug)]
pub enum NeutronSetupError {
    NoEndpoint,
    Client(ServiceClientError),
}

impl std::fmt::Display for NeutronSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NeutronSetupError::NoEndpoint => f.write_str(
                "topology = \"neutron\" needs neutron_url, or Keystone settings ([keystone] url, username, password) \
                 to find Neutron in the catalog",
            ),
            NeutronSetupError::Client(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for NeutronSetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NeutronSetupError::NoEndpoint => None,
            NeutronSetupError::Client(e) => e.source(),
        }
    }
}

impl Neutron {
    /// The client of the settings: `neutron_url` or the catalog, Keystone's service user if
    /// Keystone is configured.
    pub fn from_config(config: &Config) -> Result<Neutron, NeutronSetupError> {
        let ks = &config.keystone;
        let session = match ks.url.as_deref() {
            Some(url) if !ks.username.is_empty() => Some(Session::new(PasswordAuth {
                url: identity_base(url).to_owned(),
                username: ks.username.clone(),
                password: ks.password.0.clone(),
                project_name: ks.project_name.clone(),
                user_domain_name: ks.user_domain_name.clone(),
                project_domain_name: ks.project_domain_name.clone(),
            })),
            _ => None,
        };
        if session.is_none() && config.neutron_url.is_none() {
            return Err(NeutronSetupError::NoEndpoint);
        }
        let timeout = Duration::from_secs(config.neutron_timeout_secs.max(1));
        let http = crate::auth::keystone::service_client(ks, timeout).map_err(NeutronSetupError::Client)?;
        let fixed = config.neutron_url.as_deref().map(|u| u.trim_end_matches('/').to_owned());
        Ok(Neutron { http, endpoint: tokio::sync::Mutex::new(fixed), session })
    }

    /// Neutron's base URL: the setting, or the catalog's `network` service (internal
    /// interface), looked up once.
    async fn endpoint(&self) -> NeutronResult<String> {
        let mut held = self.endpoint.lock().await;
        if let Some(url) = held.as_ref() {
            return Ok(url.clone());
        }
        let Some(session) = &self.session else {
            return Err(NeutronError("no neutron_url and no Keystone to ask".into()));
        };
        let token = session.token(&self.http, false).await.map_err(|e| NeutronError(e.to_string()))?;
        let url = format!("{}/v3/auth/catalog", session.auth().url);
        let answer = self
            .http
            .get(url)
            .header("x-auth-token", token)
            .send()
            .await
            .map_err(|e| NeutronError(format!("the Keystone catalog: {}", describe(&e))))?;
        if !answer.status().is_success() {
            return Err(NeutronError(format!("the Keystone catalog answered {}", answer.status().as_u16())));
        }
        let body: Value =
            answer.json().await.map_err(|e| NeutronError(format!("the Keystone catalog: {}", describe(&e))))?;
        let found = catalog_url(&body).ok_or_else(|| {
            NeutronError("the Keystone catalog has no network service with an internal endpoint".into())
        })?;
        tracing::info!(neutron.url = %found, "Neutron found in the Keystone catalog");
        *held = Some(found.clone());
        Ok(found)
    }

    /// `GET` of a Neutron path: `Ok(None)` for a 404, the JSON body for a 2xx.
    async fn get(&self, path: &str) -> NeutronResult<Option<Value>> {
        match self.get_or_forbidden(path).await? {
            Some(answer) => answer.map(Some).ok_or_else(|| NeutronError(format!("GET {path} answered 403"))),
            None => Ok(None),
        }
    }

    /// [`Neutron::get`], with a 403 as `Ok(Some(None))` (a policy that keeps something from
    /// this user, where the caller can do without it).
    async fn get_or_forbidden(&self, path: &str) -> NeutronResult<Option<Option<Value>>> {
        let url = format!("{}{path}", self.endpoint().await?);
        let mut renew = false;
        loop {
            let mut request = self.http.get(&url).header("accept", "application/json");
            if let Some(session) = &self.session {
                let token = session.token(&self.http, renew).await.map_err(|e| NeutronError(e.to_string()))?;
                request = request.header("x-auth-token", token);
            }
            let answer = request.send().await.map_err(|e| NeutronError(describe(&e)))?;
            let status = answer.status().as_u16();
            match status {
                200..=299 => {
                    let body =
                        answer.json().await.map_err(|e| NeutronError(format!("GET {path}: {}", describe(&e))))?;
                    return Ok(Some(Some(body)));
                }
                404 => return Ok(None),
                403 => return Ok(Some(None)),
                // The service token was refused: renewed once.
                401 if !renew && self.session.is_some() => renew = true,
                _ => return Err(NeutronError(format!("GET {path} answered {status}"))),
            }
        }
    }

    fn parse<T: for<'de> Deserialize<'de>>(path: &str, body: Value, key: &str) -> NeutronResult<T> {
        let inner =
            body.get(key).cloned().ok_or_else(|| NeutronError(format!("GET {path}: no {key:?} in the answer")))?;
        serde_json::from_value(inner).map_err(|e| NeutronError(format!("GET {path}: {e}")))
    }

    /// One router, or `None` when Neutron does not have it.
    pub async fn router(&self, id: Uuid) -> NeutronResult<Option<NeutronRouter>> {
        let path = format!("/v2.0/routers/{id}");
        match self.get(&path).await? {
            Some(body) => Ok(Some(Self::parse::<WireRouter>(&path, body, "router")?.parse())),
            None => Ok(None),
        }
    }

    /// The routers of `ids` that Neutron has.
    pub async fn routers(&self, ids: &[Uuid]) -> NeutronResult<Vec<NeutronRouter>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let path = format!("/v2.0/routers?{}", ids_query(wire::ID, ids));
        let body = self.get(&path).await?.ok_or_else(|| NeutronError(format!("GET {path} answered 404")))?;
        Ok(Self::parse::<Vec<WireRouter>>(&path, body, "routers")?.into_iter().map(WireRouter::parse).collect())
    }

    /// The subnets of `ids` that Neutron has.
    pub async fn subnets(&self, ids: &[Uuid]) -> NeutronResult<Vec<NeutronSubnet>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let path = format!("/v2.0/subnets?{}", ids_query(wire::ID, ids));
        let body = self.get(&path).await?.ok_or_else(|| NeutronError(format!("GET {path} answered 404")))?;
        Self::parse::<Vec<WireSubnet>>(&path, body, "subnets")?.into_iter().map(WireSubnet::parse).collect()
    }

    /// The interfaces of `routers` (their interface ports).
    pub async fn interfaces_of_routers(&self, routers: &[Uuid]) -> NeutronResult<Vec<Interface>> {
        if routers.is_empty() {
            return Ok(Vec::new());
        }
        self.interfaces(&format!("/v2.0/ports?{}", ids_query("device_id", routers))).await
    }

    /// The router interfaces on `subnet` (at most one in practice).
    pub async fn interfaces_on_subnet(&self, subnet: Uuid) -> NeutronResult<Vec<Interface>> {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("fixed_ips", &format!("subnet_id={subnet}"))
            .finish();
        let found = self.interfaces(&format!("/v2.0/ports?{q}")).await?;
        Ok(found
            .into_iter()
            .map(|mut i| {
                i.subnet_ids.retain(|s| *s == subnet);
                i
            })
            .filter(|i| !i.subnet_ids.is_empty())
            .collect())
    }

    async fn interfaces(&self, path: &str) -> NeutronResult<Vec<Interface>> {
        let body = self.get(path).await?.ok_or_else(|| NeutronError(format!("GET {path} answered 404")))?;
        let ports: Vec<WirePort> = Self::parse(path, body, "ports")?;
        Ok(ports
            .into_iter()
            .filter(|p| INTERFACE_OWNERS.contains(&p.device_owner.as_str()))
            .filter_map(|p| {
                let router_id = Uuid::parse_str(&p.device_id).ok()?;
                let subnet_ids = p.fixed_ips.iter().filter_map(|f| f.subnet_id).collect();
                Some(Interface { router_id, subnet_ids })
            })
            .collect())
    }

    /// The network node of a router: the host of its L3 agent (the active one of an HA
    /// router). `None` when no agent hosts it, or Neutron has no L3 agent scheduler.
    pub async fn l3_host(&self, router: Uuid) -> NeutronResult<Option<String>> {
        let path = format!("/v2.0/routers/{router}/l3-agents");
        // No scheduler extension (404), or a policy that keeps agents from this user (403).
        let Some(Some(body)) = self.get_or_forbidden(&path).await? else {
            return Ok(None);
        };
        let agents: Vec<WireAgent> = Self::parse(&path, body, "agents")?;
        let active = agents.iter().find(|a| a.ha_state.as_deref() == Some("active")).or_else(|| agents.first());
        Ok(active.map(|a| a.host.clone()))
    }

    /// Neutron's own extensions (`GET /v2.0/extensions`).
    pub async fn extensions(&self) -> NeutronResult<Vec<Value>> {
        let path = "/v2.0/extensions";
        let body = self.get(path).await?.ok_or_else(|| NeutronError(format!("GET {path} answered 404")))?;
        Self::parse(path, body, "extensions")
    }
}

/// The internal URL of the catalog's `network` service.
fn catalog_url(body: &Value) -> Option<String> {
    let services = body.get("catalog")?.as_array()?;
    let network = services.iter().find(|s| s.get("type").and_then(Value::as_str) == Some("network"))?;
    let endpoints = network.get("endpoints")?.as_array()?;
    let internal = endpoints.iter().find(|e| e.get("interface").and_then(Value::as_str) == Some("internal"))?;
    Some(internal.get("url")?.as_str()?.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_router_keeps_its_first_address_of_each_family_and_no_address_is_no_gateway() {
        let r: WireRouter =
            serde_json::from_value(json!({"id": "8f1c4f0e-5c1a-4c2e-9a55-2b8f8c2f3a10", "tenant_id": "p",
            "external_gateway_info": {"network_id": "1f1c4f0e-5c1a-4c2e-9a55-2b8f8c2f3a10", "external_fixed_ips": [
                {"subnet_id": "2f1c4f0e-5c1a-4c2e-9a55-2b8f8c2f3a10", "ip_address": "2001:db8::5"},
                {"subnet_id": "3f1c4f0e-5c1a-4c2e-9a55-2b8f8c2f3a10", "ip_address": "172.24.4.9"},
                {"subnet_id": "4f1c4f0e-5c1a-4c2e-9a55-2b8f8c2f3a10", "ip_address": "172.24.4.10"}]}}))
            .unwrap();
        let r = r.parse();
        assert_eq!(r.project_id, "p");
        let gw = r.gateway.unwrap();
        assert_eq!(
            (gw.v4.unwrap().to_string(), gw.v6.unwrap().to_string()),
            ("172.24.4.9".into(), "2001:db8::5".into())
        );
        let bare: WireRouter = serde_json::from_value(json!({"id": "8f1c4f0e-5c1a-4c2e-9a55-2b8f8c2f3a10",
            "external_gateway_info": {"network_id": "1f1c4f0e-5c1a-4c2e-9a55-2b8f8c2f3a10", "external_fixed_ips": []}}))
        .unwrap();
        assert_eq!(bare.parse().gateway, None);
    }

    #[test]
    fn the_catalog_gives_the_internal_network_endpoint() {
        let body = json!({"catalog": [
            {"type": "identity", "endpoints": [{"interface": "internal", "url": "http://k:5000"}]},
            {"type": "network", "endpoints": [
                {"interface": "public", "url": "http://proxy:9696"},
                {"interface": "internal", "url": "http://neutron:9696/"}]}]});
        assert_eq!(catalog_url(&body).as_deref(), Some("http://neutron:9696"));
        assert_eq!(catalog_url(&json!({"catalog": []})), None);
    }
}
