//! A real DNS server for tests: Debian's `dnsmasq` (dnsmasq-base, installed by setup) on a free
//! loopback port, answering the TXT records a test publishes and NXDOMAIN for any other name
//! under `.example` and `.test`. Publishing restarts it on the same port. Stopped when dropped.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use app::domains::dns::{Dns, Txt};

pub struct DnsServer {
    child: Option<Child>,
    addr: SocketAddr,
}

impl DnsServer {
    /// A server with no records yet.
    pub async fn start() -> Self {
        let port = std::net::UdpSocket::bind(("127.0.0.1", 0))
            .and_then(|s| s.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        server.publish(&[]).await;
        server
    }

    /// Where it listens (UDP and TCP): `TENANTRY_DNS_SERVER`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A resolver asking this server only, as `serve` makes one.
    pub fn resolver(&self) -> Dns {
        Dns::new(Some(self.addr))
    }

    /// Serves exactly these TXT records (name, value) from now on.
    pub async fn publish(&mut self, records: &[(&str, &str)]) {
        self.stop();
        // Debian's, in /usr/sbin (which a non-root PATH may lack).
        let binary = if std::path::Path::new("/usr/sbin/dnsmasq").exists() {
            "/usr/sbin/dnsmasq"
        } else {
            "dnsmasq"
        };
        let mut command = Command::new(binary);
        command
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--pid-file=",
                "--local=/example/",
                "--local=/test/",
            ])
            .arg(format!("--port={}", self.addr.port()));
        for (name, value) in records {
            command.arg(format!("--txt-record={name},{value}"));
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq starts (scripts/setup installs dnsmasq-base)");
        self.child = Some(child);
        self.wait_ready().await;
    }

    /// Until a query gets an answer (NXDOMAIN counts).
    async fn wait_ready(&self) {
        let resolver = self.resolver();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match resolver.txt("ready.probe.test").await {
                Txt::Failed(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Txt::Failed(why) => panic!("dnsmasq on {} does not answer: {why}", self.addr),
                _ => return,
            }
        }
    }

    /// Stops answering (until the next [`DnsServer::publish`]): lookups fail.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
