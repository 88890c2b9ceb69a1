//! `wijkhub serve --demo` as the README runs it, in a fresh directory, and its graceful
//! shutdown on SIGTERM: new connections end, a request in flight still gets its answer, and
//! the process exits 0 within the grace period.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use testkit::TestDb;

use crate::wijkhub;

const GRACE_SECONDS: u64 = 10;
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A POST /graphql whose body is sent in two parts. Between them the request is in flight:
/// `Expect: 100-continue` makes the server say when its handler has started reading the body.
struct HalfSentRequest {
    stream: TcpStream,
    rest: &'static [u8],
}

impl HalfSentRequest {
    fn start(addr: SocketAddr) -> HalfSentRequest {
        const BODY: &[u8] = br#"{"query":"{ apiVersion }"}"#;
        let (first, rest) = BODY.split_at(10);
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let head = format!(
            "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            BODY.len()
        );
        stream.write_all(head.as_bytes()).expect("send head");
        let interim = read_head(&mut stream);
        assert!(
            interim.starts_with("HTTP/1.1 100"),
            "expected 100 Continue, got {interim:?}"
        );
        stream.write_all(first).expect("send first part");
        HalfSentRequest { stream, rest }
    }

    /// Sends the rest of the body and reads the whole response.
    fn finish(mut self) -> String {
        self.stream.write_all(self.rest).expect("send the rest");
        let mut response = Vec::new();
        self.stream
            .read_to_end(&mut response)
            .expect("read the response");
        String::from_utf8(response).expect("UTF-8 response")
    }
}

/// Reads up to and including the blank line that ends a response head.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read a response head");
        assert!(
            n == 1,
            "connection closed after {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).expect("UTF-8 head")
}

#[tokio::test]
async fn serve_demo_runs_in_a_fresh_directory_and_stops_gracefully_on_sigterm() {
    let test_db = TestDb::new().await;
    let mut cli = wijkhub();
    cli.env("WIJKHUB_HTTP__PORT", "0").env(
        "WIJKHUB_HTTP__SHUTDOWN_GRACE_SECONDS",
        &GRACE_SECONDS.to_string(),
    );
    if test_db.is_postgres() {
        cli.database(&test_db);
    }
    // Otherwise the default URL: ./data/wijkhub.db in the working directory, as the README.

    let hub = cli.spawn(&["serve", "--demo"]);
    let addr = hub.listening_addr(START_TIMEOUT);
    assert!(
        addr.ip().is_loopback(),
        "listens on loopback by default: {addr}"
    );
    if !test_db.is_postgres() {
        assert!(
            cli.dir().join("data/wijkhub.db").is_file(),
            "creates ./data/wijkhub.db"
        );
    }

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let res = http
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["status"], "ready");
    let res = http
        .get(format!("http://{addr}/graphiql"))
        .send()
        .await
        .expect("graphiql");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the demo runs the development profile"
    );

    // A request in flight, then SIGTERM; the hub must confirm it is shutting down before the
    // request is completed.
    let in_flight = HalfSentRequest::start(addr);
    let terminated_at = Instant::now();
    hub.terminate();
    hub.wait_for_stderr(
        |line| line.contains("shutting down"),
        Duration::from_secs(GRACE_SECONDS),
    );
    let response = in_flight.finish();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "the request in flight completes: {response:?}"
    );
    assert!(response.contains(r#""apiVersion":"1""#), "{response:?}");

    let output = hub.wait(Duration::from_secs(GRACE_SECONDS + 5));
    assert!(output.status.success(), "exit 0 after SIGTERM: {output:?}");
    assert!(
        terminated_at.elapsed() < Duration::from_secs(GRACE_SECONDS),
        "stopped within the grace period: {:?}",
        terminated_at.elapsed()
    );
    assert!(output.stdout.contains("Noordwest"), "{}", output.stdout);
}
