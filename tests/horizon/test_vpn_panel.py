"""Horizon's VPN panel (neutron-vpnaas-dashboard) in headless Chromium against vpnaas.

Run by tests/horizon/run.sh, which starts Keystone, vpnaas (keystone mode, registered in the
catalog as `network`) and Horizon, and passes where they are in the environment:

  HORIZON_URL, VPNAAS_URL, KEYSTONE_URL, KEYSTONE_PASSWORD, KEYSTONE_ADMIN_PASSWORD,
  KEYSTONE_DEMO_PROJECT_ID, HORIZON_SCREENSHOTS (a folder), CHROMEDRIVER (optional path)

A project member logs in and, through the panel's forms, creates an IKE policy, an IPsec
policy, a VPN service on a router, a subnet and a CIDR endpoint group and an IPsec site
connection (with DPD and MTU), sees each listed, edits the IKE policy, and deletes everything
with the tables' batch Delete. After each step vpnaas's own API says whether it really
happened. Every step is one test; the first failure stops the run (later steps depend on it)
and the last line is `horizon: N passed, N failed, N skipped`.
"""

import json
import os
import sys
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

HORIZON = os.environ["HORIZON_URL"].rstrip("/")
VPNAAS = os.environ["VPNAAS_URL"].rstrip("/")
KEYSTONE = os.environ["KEYSTONE_URL"].rstrip("/")
SHOTS = os.environ.get("HORIZON_SCREENSHOTS", "horizon-screenshots")
WAIT = float(os.environ.get("HORIZON_WAIT_SECS", "60"))
PSK = "horizon-test-psk-0123456789"

# ------------------------------------------------------------------ vpnaas's API, directly


def keystone_token(user, password, project_name, project_domain="Default"):
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project_name, "domain": {"name": project_domain}}},
    }}
    req = urllib.request.Request(KEYSTONE + "/v3/auth/tokens?nocatalog", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.headers["X-Subject-Token"]


class Api:
    """vpnaas's REST API with one Keystone token (renewed when it is refused)."""

    def __init__(self, user, password, project):
        self.login = (user, password, project)
        self.token = keystone_token(*self.login)

    def call(self, method, path, body=None, retry=True):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(VPNAAS + path, data, method=method,
                                     headers={"X-Auth-Token": self.token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            if e.code == 401 and retry:
                self.token = keystone_token(*self.login)
                return self.call(method, path, body, retry=False)
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def ok(self, method, path, body=None, status=(200, 201, 204)):
        code, answer = self.call(method, path, body)
        if code not in status:
            raise AssertionError(f"{method} {path}: {code} {answer}")
        return answer

    def named(self, collection, key, name):
        """The one object of `collection` called `name`, or None."""
        found = [o for o in self.ok("GET", f"/v2.0/{collection}?name={name}")[key] if o["name"] == name]
        assert len(found) <= 1, f"{len(found)} {key} named {name}"
        return found[0] if found else None

    def created(self, collection, key, name):
        """The object called `name` once it exists (a modal's form is gone before Horizon's
        request has been answered), or None after the wait."""
        deadline = time.time() + WAIT
        while True:
            found = self.named(collection, key, name)
            if found or time.time() > deadline:
                return found
            time.sleep(0.3)


# ------------------------------------------------------------------ the browser


def browser():
    opts = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--lang=en-US"):
        opts.add_argument(arg)
    if os.path.exists("/usr/bin/chromium"):
        opts.binary_location = "/usr/bin/chromium"
    driver_path = os.environ.get("CHROMEDRIVER") or "/usr/bin/chromedriver"
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    drv.set_page_load_timeout(WAIT)
    return drv


class Panel:
    """The VPN panel as a user sees it."""

    def __init__(self, drv, relogin):
        self.drv = drv
        self.shot_no = 0
        self.relogin = relogin

    def wait(self, condition, what, secs=WAIT):
        try:
            return WebDriverWait(self.drv, secs).until(condition)
        except TimeoutException:
            raise AssertionError(f"timed out after {secs:.0f} s waiting for {what} (at {self.drv.current_url})")

    def shot(self, name):
        self.shot_no += 1
        os.makedirs(SHOTS, exist_ok=True)
        self.drv.save_screenshot(os.path.join(SHOTS, f"{self.shot_no:02d}-{name}.png"))

    def open(self, path):
        self.drv.get(HORIZON + path)
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete", f"{path} to load")
        assert "/auth/login" not in self.drv.current_url or path.startswith("/auth"), \
            f"logged out: {self.drv.current_url}"

    def errors(self):
        """Horizon's error messages on the page (alerts and form errors)."""
        found = self.drv.find_elements(By.CSS_SELECTOR, ".alert-danger, .alert-error, .help-block.error, "
                                                        ".has-error .help-block, .error .help-block")
        return [e.text.strip() for e in found if e.text.strip()]

    def type(self, field, text):
        el = self.wait(EC.presence_of_element_located((By.ID, f"id_{field}")), f"field {field}")
        self.reveal(el)
        el.clear()
        el.send_keys(text)

    def reveal(self, el):
        """Shows the workflow tab that holds a field (the connection form has two)."""
        if el.is_displayed():
            return
        pane = self.drv.execute_script("return arguments[0].closest('.tab-pane');", el)
        if pane is not None:
            pane_id = pane.get_attribute("id")
            tab = self.drv.find_element(By.CSS_SELECTOR, f"a[href='#{pane_id}'], a[data-target='#{pane_id}']")
            tab.click()
            self.wait(lambda d: el.is_displayed(), f"tab {pane_id} to show")

    def choose(self, field, value):
        """Picks `value` in a select, through Horizon's themable dropdown when it has one."""
        select = self.wait(EC.presence_of_element_located((By.ID, f"id_{field}")), f"select {field}")
        options = [o.get_attribute("value") for o in select.find_elements(By.TAG_NAME, "option")]
        assert value in options, f"{field}: {value!r} is not among the choices {options}"
        self.reveal_select(select)
        toggles = self.drv.execute_script(
            "var d = arguments[0].closest('.themable-select');"
            "return d ? d.querySelectorAll('[data-toggle=\"dropdown\"]') : [];", select)
        if toggles:
            toggles[0].click()
            item = self.wait(lambda d: next((a for a in d.find_elements(
                By.CSS_SELECTOR, f"[data-select-value='{value}']") if a.is_displayed()), False),
                f"dropdown item {value} of {field}")
            item.click()
        else:
            from selenium.webdriver.support.ui import Select
            Select(select).select_by_value(value)
        assert select.get_attribute("value") == value, f"{field} shows {select.get_attribute('value')!r}"

    def reveal_select(self, select):
        pane = self.drv.execute_script("return arguments[0].closest('.tab-pane');", select)
        if pane is not None and not pane.is_displayed():
            self.reveal(pane)

    def tick(self, field, value, on=True):
        box = self.drv.find_element(By.CSS_SELECTOR, f"input[name='{field}'][value='{value}']")
        self.reveal(box)
        if box.is_selected() != on:
            self.drv.execute_script("arguments[0].click();", box)

    def submit(self, what):
        """Presses the form's primary button and waits for the form to go (a modal's or a page's)."""
        forms = [f for sel in (".modal.in form", ".modal.show form", "form.workflow, form.ng-pristine, "
                               "#content_body form") for f in self.drv.find_elements(By.CSS_SELECTOR, sel)]
        form = next(f for f in forms if f.find_elements(By.CSS_SELECTOR, ".btn-primary[type=submit], "
                                                                          "input[type=submit]"))
        page = self.drv.find_element(By.TAG_NAME, "html")
        form.find_element(By.CSS_SELECTOR, ".btn-primary[type=submit], input[type=submit]").click()
        # Done when Horizon has moved on to the next page (a modal's answer makes it navigate),
        # or when the form shows what is wrong.
        self.wait(lambda d: EC.staleness_of(page)(d) or self.errors(), f"{what} to be submitted")
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete", "the answer")
        errors = self.errors()
        if errors:
            self.shot(f"{what}-error")
            raise AssertionError(f"{what}: Horizon says {errors}")

    def open_form(self, slug, table, action):
        """Opens a create form as a user does: the tab, then the table's button, then its modal."""
        self.tab(slug)
        self.wait(EC.element_to_be_clickable((By.ID, f"{table}__action_{action}")), f"button {action}").click()
        self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, ".modal.in form, .modal.show form")),
                  f"the {action} form to open")

    def tab(self, slug):
        self.open(f"/project/vpn/?tab=vpntabs__{slug}")

    def listed(self, table, names):
        """Waits until the table shows every name. Its text is read in one script: Horizon
        replaces rows in a PENDING state while it polls their status."""
        read = ("var b = document.querySelector('table#' + arguments[0] + ' tbody');"
                "return b ? b.innerText : '';")
        text = ""

        def shows_all(d):
            nonlocal text
            text = d.execute_script(read, table)
            return all(n in text for n in names)
        try:
            WebDriverWait(self.drv, 10).until(shows_all)
        except TimeoutException:
            missing = [n for n in names if n not in text]
            raise AssertionError(f"{table} lacks {missing}; it shows:\n{text}")

    def delete_all(self, slug, table, action):
        """Opens the tab, selects every row, presses the table's batch Delete and confirms.
        Horizon replaces rows in a PENDING state every few seconds (their status is polled),
        which unticks them, so the ticking and the press happen in one script; and once in a
        while (under load) the table comes without its batch actions: both are tried again."""
        confirm_css = ".modal.in .modal-footer .btn-danger, .modal.show .modal-footer .btn-danger"
        button_id = f"{table}__action_{action}"
        confirm = None
        for attempt in range(3):
            self.tab(slug)
            self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, f"table#{table} tbody tr")),
                      f"{table} rows")
            self.wait(lambda d: d.execute_script("return !!(window.horizon && horizon.datatables)"),
                      "Horizon's scripts")
            pressed = self.drv.execute_script(
                "var t = document.getElementById(arguments[0]), b = document.getElementById(arguments[1]);"
                "if (!t || !b) { return false; }"
                "t.querySelectorAll('tbody .table-row-multi-select').forEach(function (c) {"
                "  if (!c.checked) { c.click(); } });"
                "b.click(); return true;", table, button_id)
            if not pressed:
                # Seen only late in a long session under load: Horizon renders the table without
                # its batch actions (and without the checkbox column) for this session, while a
                # fresh session gets them. A new login is what a user would end up doing.
                self.shot(f"no-{action}-button")
                print(f"     {slug}: the table came without {button_id}; logging in again", flush=True)
                self.relogin()
                continue
            try:
                confirm = WebDriverWait(self.drv, 5).until(EC.element_to_be_clickable((By.CSS_SELECTOR, confirm_css)))
                break
            except TimeoutException:
                print(f"     {slug}: no confirmation dialog; trying again", flush=True)
        if confirm is None:
            raise AssertionError(f"could not press {button_id} and get its confirmation in three tries")
        page = self.drv.find_element(By.TAG_NAME, "html")
        confirm.click()
        self.wait(gone(page), "the table's form to be sent")
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete", "the deletion")


# ------------------------------------------------------------------ the steps


def gone(element):
    """EC.staleness_of, also when Chromium reports the replaced page's node in its own words
    ("Node with given id does not belong to the document") rather than as a stale element:
    both say the form was sent and a new page is there."""
    stale = EC.staleness_of(element)

    def check(driver):
        try:
            return stale(driver)
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise
    return check


class Run:
    def __init__(self):
        env = os.environ
        self.admin = Api("admin", env["KEYSTONE_ADMIN_PASSWORD"], "admin")
        self.member = Api("demo-member", env["KEYSTONE_PASSWORD"], "demo")
        self.project = env["KEYSTONE_DEMO_PROJECT_ID"]
        self.ids = {}
        self.drv = None
        self.panel = None

    # Set-up by an admin through the API: what Neutron's core would hold.
    def seed_topology(self):
        gw = {"external_fixed_ips": [{"ip_address": "172.24.4.10"}]}
        r = self.admin.ok("POST", "/v2.0/routers", {"router": {
            "name": "hz-router", "tenant_id": self.project, "external_gateway_info": gw}})
        self.ids["router"] = r["router"]["id"]
        for name, cidr in (("hz-local", "10.60.1.0/24"), ("hz-spare", "10.60.2.0/24")):
            s = self.admin.ok("POST", "/v2.0/subnets", {"subnet": {"name": name, "tenant_id": self.project,
                                                                   "cidr": cidr}})
            self.ids[name] = s["subnet"]["id"]
        self.admin.ok("PUT", f"/v2.0/routers/{self.ids['router']}/add_router_interface",
                      {"subnet_id": self.ids["hz-local"]})

    def log_in(self):
        if self.drv is None:
            self.drv = browser()
            self.panel = Panel(self.drv, self.relogin)
        p = self.panel
        p.open("/auth/login/")
        p.type("username", "demo-member")
        p.type("password", os.environ["KEYSTONE_PASSWORD"])
        p.shot("login")
        self.drv.find_element(By.CSS_SELECTOR, "button[type=submit], #loginBtn").click()
        p.wait(lambda d: "/auth/login" not in d.current_url, "the login to finish")
        assert not p.errors(), p.errors()

    def relogin(self):
        """Logs out and in again: a fresh Horizon session in the same browser. Every cookie of
        the browser goes (Chromium's own command): WebDriver's delete_all_cookies clears only
        the current page's, and a session left behind sent the login page on to /project/."""
        self.panel.open("/auth/logout/")
        self.drv.delete_all_cookies()
        self.drv.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.log_in()

    def panel_shows_five_tabs(self):
        p = self.panel
        p.open("/project/vpn/")
        p.shot("vpn-panel")
        tabs = [a.text.strip() for a in self.drv.find_elements(By.CSS_SELECTOR, "ul.nav-tabs a")]
        want = ["IPsec Site Connections", "VPN Services", "Endpoint Groups", "IKE Policies", "IPsec Policies"]
        missing = [t for t in want if t not in tabs]
        assert not missing, f"tabs {missing} missing; the page has {tabs}"

    def create_ike_policy(self):
        p = self.panel
        p.open_form("ikepolicies", "ikepoliciestable", "addikepolicy")
        p.type("name", "hz-ike")
        p.choose("ike_version", "v2")
        p.choose("pfs", "group14")
        p.choose("encryption_algorithm", "aes-256")
        p.shot("ike-form")
        p.submit("ike-policy")
        ike = self.member.created("vpn/ikepolicies", "ikepolicies", "hz-ike")
        assert ike, "vpnaas has no IKE policy hz-ike"
        got = (ike["ike_version"], ike["pfs"], ike["encryption_algorithm"])
        assert got == ("v2", "group14", "aes-256"), got
        self.ids["ike"] = ike["id"]

    def create_ipsec_policy(self):
        p = self.panel
        p.open_form("ipsecpolicies", "ipsecpoliciestable", "addipsecpolicy")
        p.type("name", "hz-ipsec")
        p.choose("pfs", "group14")
        p.choose("encryption_algorithm", "aes-256")
        p.submit("ipsec-policy")
        ipsec = self.member.created("vpn/ipsecpolicies", "ipsecpolicies", "hz-ipsec")
        assert ipsec, "vpnaas has no IPsec policy hz-ipsec"
        assert (ipsec["pfs"], ipsec["encryption_algorithm"]) == ("group14", "aes-256"), ipsec
        self.ids["ipsec"] = ipsec["id"]

    def create_vpn_service(self):
        p = self.panel
        p.open_form("vpnservices", "vpnservicestable", "addvpnservice")
        p.type("name", "hz-vpn")
        p.choose("router_id", self.ids["router"])
        # The subnet choices come from GET /v2.0/networks (ADR 0021): both subnets are offered.
        offered = [o.get_attribute("value") for o in
                   self.drv.find_elements(By.CSS_SELECTOR, "#id_subnet_id option")]
        assert self.ids["hz-local"] in offered and self.ids["hz-spare"] in offered, offered
        p.shot("vpnservice-form")
        p.submit("vpn-service")
        svc = self.member.created("vpn/vpnservices", "vpnservices", "hz-vpn")
        assert svc, "vpnaas has no VPN service hz-vpn"
        assert (svc["router_id"], svc["subnet_id"]) == (self.ids["router"], None), svc
        assert svc["external_v4_ip"] == "172.24.4.10", svc
        self.ids["service"] = svc["id"]

    def create_subnet_endpoint_group(self):
        p = self.panel
        p.open_form("endpointgroups", "endpointgroupstable", "addendpointgroup")
        p.type("name", "hz-local-group")
        p.choose("type", "subnet")
        p.tick("subnets", self.ids["hz-local"])
        p.shot("subnet-group-form")
        p.submit("subnet-endpoint-group")
        g = self.member.created("vpn/endpoint-groups", "endpoint_groups", "hz-local-group")
        assert g, "vpnaas has no endpoint group hz-local-group"
        assert (g["type"], g["endpoints"]) == ("subnet", [self.ids["hz-local"]]), g
        self.ids["local-group"] = g["id"]

    def create_cidr_endpoint_group(self):
        p = self.panel
        p.open_form("endpointgroups", "endpointgroupstable", "addendpointgroup")
        p.type("name", "hz-peer-group")
        p.choose("type", "cidr")
        p.type("cidrs", "192.168.60.0/24")
        p.submit("cidr-endpoint-group")
        g = self.member.created("vpn/endpoint-groups", "endpoint_groups", "hz-peer-group")
        assert g, "vpnaas has no endpoint group hz-peer-group"
        assert (g["type"], g["endpoints"]) == ("cidr", ["192.168.60.0/24"]), g
        self.ids["peer-group"] = g["id"]

    def create_ipv6_cidr_endpoint_group(self):
        p = self.panel
        p.open_form("endpointgroups", "endpointgroupstable", "addendpointgroup")
        p.type("name", "hz-peer6-group")
        p.choose("type", "cidr")
        p.type("cidrs", "2001:db8:60::/64")
        p.submit("ipv6-cidr-endpoint-group")
        g = self.member.created("vpn/endpoint-groups", "endpoint_groups", "hz-peer6-group")
        assert g and g["endpoints"] == ["2001:db8:60::/64"], g
        self.ids["peer6-group"] = g["id"]

    def connection_refused_by_vpnaas_shows_as_an_error(self):
        """vpnaas's 400 (an IPv4 local group with an IPv6 peer group, which Horizon's form lets
        through) reaches the user as Horizon's error, and nothing is created."""
        p = self.panel
        self.fill_connection("hz-bad", self.ids["peer6-group"])
        try:
            p.submit("refused-connection")
        except AssertionError as e:
            if "Horizon says" not in str(e):
                raise
        else:
            raise AssertionError(f"no error shown (now at {self.drv.current_url})")
        p.shot("connection-refused")
        assert self.member.named("vpn/ipsec-site-connections", "ipsec_site_connections", "hz-bad") is None

    def fill_connection(self, name, peer_group):
        p = self.panel
        p.open_form("ipsecsiteconnections", "ipsecsiteconnectionstable", "addipsecsiteconnection")
        p.type("name", name)
        p.choose("vpnservice_id", self.ids["service"])
        p.choose("local_ep_group_id", self.ids["local-group"])
        p.choose("ikepolicy_id", self.ids["ike"])
        p.choose("ipsecpolicy_id", self.ids["ipsec"])
        p.type("peer_address", "198.51.100.7")
        p.type("peer_id", "198.51.100.7")
        p.choose("peer_ep_group_id", peer_group)
        p.type("psk", PSK)
        p.type("mtu", "1400")
        p.choose("dpd_action", "restart")
        p.type("dpd_interval", "20")
        p.type("dpd_timeout", "80")

    def create_connection(self):
        p = self.panel
        self.fill_connection("hz-conn", self.ids["peer-group"])
        p.shot("connection-form")
        p.submit("connection")
        c = self.member.created("vpn/ipsec-site-connections", "ipsec_site_connections", "hz-conn")
        assert c, "vpnaas has no connection hz-conn"
        want = {"vpnservice_id": self.ids["service"], "ikepolicy_id": self.ids["ike"],
                "ipsecpolicy_id": self.ids["ipsec"], "local_ep_group_id": self.ids["local-group"],
                "peer_ep_group_id": self.ids["peer-group"], "peer_address": "198.51.100.7",
                "mtu": 1400, "psk": PSK,
                "dpd": {"action": "restart", "interval": 20, "timeout": 80}}
        got = {k: c[k] for k in want}
        assert got == want, f"{got} != {want}"
        self.ids["connection"] = c["id"]

    def all_five_are_listed(self):
        p = self.panel
        for slug, table, names in (
                ("ikepolicies", "ikepoliciestable", ["hz-ike-edited"]),
                ("ipsecpolicies", "ipsecpoliciestable", ["hz-ipsec"]),
                ("vpnservices", "vpnservicestable", ["hz-vpn"]),
                ("endpointgroups", "endpointgroupstable", ["hz-local-group", "hz-peer-group", "hz-peer6-group"]),
                ("ipsecsiteconnections", "ipsecsiteconnectionstable", ["hz-conn"])):
            p.tab(slug)
            p.wait(EC.presence_of_element_located((By.CSS_SELECTOR, f"table#{table}")), f"table {table}")
            p.listed(table, names)
            p.shot(f"list-{slug}")

    def edit_ike_policy(self):
        """Edited while no connection uses it (vpnaas, like Neutron, refuses that with a 409)."""
        p = self.panel
        p.open(f"/project/vpn/update_ikepolicy/{self.ids['ike']}/")
        p.type("name", "hz-ike-edited")
        p.type("description", "edited in Horizon")
        p.choose("pfs", "group5")
        p.shot("ike-edit")
        p.submit("ike-edit")
        ike = self.member.ok("GET", f"/v2.0/vpn/ikepolicies/{self.ids['ike']}")["ikepolicy"]
        got = (ike["name"], ike["description"], ike["pfs"])
        assert got == ("hz-ike-edited", "edited in Horizon", "group5"), got
        p.tab("ikepolicies")
        p.listed("ikepoliciestable", ["hz-ike-edited"])

    def edit_endpoint_group_from_its_row(self):
        p = self.panel
        p.tab("endpointgroups")
        gid = self.ids["peer-group"]
        p.wait(EC.element_to_be_clickable((By.ID, f"endpointgroupstable__row_{gid}__action_updateendpointgroup")),
               "the row's Edit button").click()
        p.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, ".modal.in form, .modal.show form")),
               "the edit form")
        p.type("name", "hz-peer-group-edited")
        p.type("description", "peer site")
        p.submit("endpoint-group-edit")
        g = self.member.ok("GET", f"/v2.0/vpn/endpoint-groups/{gid}")["endpoint_group"]
        assert (g["name"], g["description"]) == ("hz-peer-group-edited", "peer site"), g
        p.tab("endpointgroups")
        p.listed("endpointgroupstable", ["hz-peer-group-edited"])

    def edit_connection(self):
        p = self.panel
        p.open(f"/project/vpn/update_ipsecsiteconnection/{self.ids['connection']}/")
        p.type("name", "hz-conn-edited")
        p.type("mtu", "1380")
        p.type("dpd_interval", "25")
        p.type("dpd_timeout", "100")
        p.shot("connection-edit")
        p.submit("connection-edit")
        c = self.member.ok("GET", f"/v2.0/vpn/ipsec-site-connections/{self.ids['connection']}")
        c = c["ipsec_site_connection"]
        got = (c["name"], c["mtu"], c["dpd"], c["psk"])
        assert got == ("hz-conn-edited", 1380, {"action": "restart", "interval": 25, "timeout": 100}, PSK), got
        p.tab("ipsecsiteconnections")
        p.listed("ipsecsiteconnectionstable", ["hz-conn-edited"])

    def delete_everything(self):
        p = self.panel
        for slug, table, action, path, key in (
                ("ipsecsiteconnections", "ipsecsiteconnectionstable", "deleteipsecsiteconnection",
                 "vpn/ipsec-site-connections", "connection"),
                ("vpnservices", "vpnservicestable", "deletevpnservice", "vpn/vpnservices", "service"),
                ("endpointgroups", "endpointgroupstable", "deleteendpointgroup", "vpn/endpoint-groups",
                 "local-group"),
                ("ikepolicies", "ikepoliciestable", "deleteikepolicy", "vpn/ikepolicies", "ike"),
                ("ipsecpolicies", "ipsecpoliciestable", "deleteipsecpolicy", "vpn/ipsecpolicies", "ipsec")):
            gone = [key] + (["peer-group", "peer6-group"] if key == "local-group" else [])
            for attempt in range(3):
                p.delete_all(slug, table, action)
                p.shot(f"deleted-{slug}")
                errors = p.errors()
                assert not errors, f"deleting {slug}: Horizon says {errors}"
                left = self.still_there(path, gone)
                if not left:
                    break
                print(f"     {slug}: {left} still there after Delete (a polled row lost its tick); again")
            assert not left, f"{left} still there after three Deletes"

    def still_there(self, path, keys):
        """Which of these objects vpnaas still has, after giving a deletion a few seconds."""
        deadline = time.time() + 5
        while True:
            left = [k for k in keys if self.member.call("GET", f"/v2.0/{path}/{self.ids[k]}")[0] != 404]
            if not left or time.time() > deadline:
                return left
            time.sleep(0.3)

    def close(self):
        if self.drv is not None:
            try:
                self.drv.quit()
            except WebDriverException:
                pass


def main():
    run = Run()
    steps = [run.seed_topology, run.log_in, run.panel_shows_five_tabs, run.create_ike_policy,
             run.create_ipsec_policy, run.create_vpn_service, run.create_subnet_endpoint_group,
             run.create_cidr_endpoint_group, run.create_ipv6_cidr_endpoint_group, run.connection_refused_by_vpnaas_shows_as_an_error,
             run.edit_ike_policy, run.create_connection, run.all_five_are_listed,
             run.edit_endpoint_group_from_its_row, run.edit_connection, run.delete_everything]
    passed = failed = 0
    try:
        for i, step in enumerate(steps):
            started = time.time()
            try:
                step()
            except Exception as e:  # one failed step fails the run; the rest depend on it
                failed += 1
                print(f"FAIL {step.__name__} ({time.time() - started:.1f} s): {e}", flush=True)
                traceback.print_exc()
                if run.panel is not None:
                    try:
                        run.panel.shot(f"FAILED-{step.__name__}")
                    except WebDriverException:
                        pass
                skipped = len(steps) - i - 1
                break
            passed += 1
            print(f"ok   {step.__name__} ({time.time() - started:.1f} s)", flush=True)
        else:
            skipped = 0
    finally:
        run.close()
    print(f"screenshots in {os.path.abspath(SHOTS)}")
    print(f"horizon: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
