//! The hub in-process on a free loopback port, as zero-to-production's `spawn_app`.

use std::net::SocketAddr;
use std::time::Duration;

use server::{App, Config, StartError};
use store::Db;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long [`TestHub::stop`] waits for the server to finish.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running hub. Dropping it asks the server to stop; [`TestHub::stop`] also waits for it.
pub struct TestHub {
    addr: SocketAddr,
    /// A client for this hub: no proxy, a bounded timeout.
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for TestHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHub")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestHub {
    /// Builds and starts the hub, panicking when it does not start.
    pub async fn start(config: Config) -> TestHub {
        TestHub::try_start(config)
            .await
            .unwrap_or_else(|error| panic!("the hub does not start: {error}"))
    }

    /// Builds and starts the hub, or says why it would not start.
    pub async fn try_start(config: Config) -> Result<TestHub, StartError> {
        crate::init_test_log(&config);
        let app = App::build(config).await?;
        Ok(TestHub::run(app))
    }

    /// Starts the hub on an already open database; the test keeps its own handle to it.
    pub async fn start_with_db(config: Config, db: Db) -> TestHub {
        crate::init_test_log(&config);
        let app = App::build_with_db(config, db)
            .await
            .unwrap_or_else(|error| panic!("the hub does not start: {error}"));
        TestHub::run(app)
    }

    fn run(app: App) -> TestHub {
        let addr = app.local_addr();
        assert!(
            addr.ip().is_loopback(),
            "test hubs listen on loopback only, not {addr}"
        );
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            // A dropped sender stops the hub as well.
            let _ = stop_rx.await;
        }));
        TestHub {
            addr,
            http: client(),
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the hub and waits (bounded) until it has finished, panicking if it failed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(STOP_TIMEOUT, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => panic!("the hub failed: {error}"),
                Ok(Err(error)) => panic!("the hub task panicked: {error}"),
                Err(_) => panic!("the hub did not stop within {}s", STOP_TIMEOUT.as_secs()),
            }
        }
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An HTTP client for tests: never a proxy (loopback only), never waits forever.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|error| panic!("cannot build an HTTP client: {error}"))
}
