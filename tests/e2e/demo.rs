//! The demo network as partner systems and staff meet it: `serve --demo` as a child on a free
//! port, its `data/demo-credentials.json`, tokens from `/oauth/token`, console sessions from
//! `/auth/login`. Shared by the tests that go through `/graphql` with real credentials.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::{Cli, RunningCli};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How a request authenticates: a console session or a partner system's token.
pub enum Auth<'a> {
    Cookie(&'a str),
    Bearer(&'a str),
}

/// A running demo hub's address and credentials.
pub struct Demo {
    pub base: String,
    pub credentials: Value,
    pub http: reqwest::Client,
    /// Recovery codes spent per member by [`Demo::login`] (each works once).
    recovery_codes_used: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl Demo {
    /// Starts `serve --demo` from `cli` (its database and settings already set) and waits until
    /// it listens. Keep the returned child alive for as long as the hub is needed.
    pub fn start(cli: &Cli) -> (RunningCli, Demo) {
        let hub = cli.spawn(&["serve", "--demo"]);
        let addr = hub.listening_addr(START_TIMEOUT);
        let credentials = serde_json::from_str(
            &std::fs::read_to_string(cli.dir().join("data/demo-credentials.json")).unwrap(),
        )
        .unwrap();
        let demo = Demo {
            base: format!("http://{addr}"),
            credentials,
            http: reqwest::Client::new(),
            recovery_codes_used: Default::default(),
        };
        (hub, demo)
    }

    /// An access token for the demo partner system `client_id` (client credentials grant).
    pub async fn token(&self, client_id: &str) -> String {
        let client = self.credentials["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|client| client["client_id"] == client_id)
            .unwrap_or_else(|| panic!("no demo client {client_id}"));
        let response: Value = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(client_id, client["client_secret"].as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {response}"))
            .to_owned()
    }

    /// A console session (the `Cookie` header value) for the demo member `email`. A member with
    /// a second factor (the FG, the administrator) logs in with the next of their single-use
    /// recovery codes, so the session's `amr` holds `otp` (TOTP codes themselves are tested in
    /// `tests/auth`).
    pub async fn login(&self, email: &str) -> String {
        let member = self.credentials["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|member| member["email"] == email)
            .unwrap_or_else(|| panic!("no demo member {email}"));
        let mut login = json!({ "email": email, "password": member["password"] });
        if let Some(codes) = member["totp"]["recovery_codes"].as_array() {
            let mut used = self.recovery_codes_used.lock().unwrap();
            let next = used.entry(email.to_owned()).or_insert(0);
            login["recovery_code"] = codes
                .get(*next)
                .unwrap_or_else(|| panic!("{email}: recovery codes used up"))
                .clone();
            *next += 1;
        }
        let response = self
            .http
            .post(format!("{}/auth/login", self.base))
            .json(&login)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let cookie = response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    /// POSTs a GraphQL request declaring the purpose `support`.
    pub async fn graphql(&self, auth: &Auth<'_>, query: &str, variables: Value) -> Value {
        let request = self
            .http
            .post(format!("{}/graphql", self.base))
            .header("Wijkhub-Purpose", "support")
            .json(&json!({ "query": query, "variables": variables }));
        let request = match auth {
            Auth::Cookie(cookie) => request.header("cookie", *cookie),
            Auth::Bearer(token) => request.bearer_auth(token),
        };
        request.send().await.unwrap().json().await.unwrap()
    }
}

/// The `extensions.code` of a GraphQL response's first error.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {response}"))
}
