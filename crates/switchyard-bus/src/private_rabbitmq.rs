//! [`private_rabbitmq`]: a RabbitMQ node of one test (its own node name, Mnesia and log
//! directories, distribution port and config file, no plugins) on a reserved loopback port,
//! plain AMQP or AMQP over TLS only. The RabbitMQ fault, TLS and restart tests all start
//! their node here, so the machine's shared node is never touched.

use std::time::Duration;

use crate::{PrivateServer, ReservedPort, TestTls};

/// The node's start script, run directly: `/usr/sbin/rabbitmq-server` would switch to the
/// `rabbitmq` user, whose node is the shared one.
const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// A node boots in a few seconds, longer on a busy machine.
const BOOT_BUDGET: Duration = Duration::from_secs(120);

/// Starts a private RabbitMQ node: with `tls`, it accepts only AMQP over TLS with that
/// certificate (`amqps://`); without, only plain AMQP. The account is `guest`/`guest` on
/// loopback; [`PrivateServer::kill`] and [`PrivateServer::spawn`] stop and start it again
/// on the same port and Mnesia directory (durable queues and persistent messages kept).
pub async fn private_rabbitmq(tls: Option<TestTls>) -> anyhow::Result<PrivateServer> {
    // The node's Erlang distribution port, reserved like its AMQP port; the environment
    // closure holds the reservation for as long as the server lives.
    let dist = ReservedPort::new()?;
    PrivateServer::builder(RABBITMQ_SERVER, "rabbitmq-server 3.9 or newer", |_, _| {
        Vec::new()
    })
    .env(move |port, dir| {
        let dist_port = dist.port();
        let path = |name: &str| dir.join(name).display().to_string();
        [
            (
                "RABBITMQ_NODENAME",
                format!("switchyard-test-{port}@localhost"),
            ),
            ("RABBITMQ_DIST_PORT", dist_port.to_string()),
            ("RABBITMQ_CONFIG_FILE", path("rabbitmq.conf")),
            ("RABBITMQ_ADVANCED_CONFIG_FILE", path("advanced.config")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins")),
            ("RABBITMQ_MNESIA_BASE", path("mnesia")),
            ("RABBITMQ_LOG_BASE", path("log")),
            ("RABBITMQ_PLUGINS_EXPAND_DIR", path("plugins-expand")),
            ("RABBITMQ_PID_FILE", path("rabbitmq.pid")),
            ("RABBITMQ_LOGS", "-".to_string()),
        ]
        .map(|(name, value)| (name.to_string(), value))
        .to_vec()
    })
    .prepare(move |port, dir| {
        let config = match tls {
            Some(tls) => {
                let files = tls.write(dir)?;
                format!(
                    "listeners.tcp = none\n\
                     listeners.ssl.default = 127.0.0.1:{port}\n\
                     ssl_options.cacertfile = {ca}\n\
                     ssl_options.certfile = {cert}\n\
                     ssl_options.keyfile = {key}\n\
                     ssl_options.verify = verify_none\n\
                     ssl_options.fail_if_no_peer_cert = false\n",
                    ca = files.ca.display(),
                    cert = files.cert.display(),
                    key = files.key.display(),
                )
            }
            None => format!("listeners.tcp.default = 127.0.0.1:{port}\n"),
        };
        std::fs::write(dir.join("rabbitmq.conf"), config)?;
        std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
        Ok(())
    })
    .start_budget(BOOT_BUDGET)
    // The node listens a moment before it serves AMQP.
    .ready_when_logged("Server startup complete")
    .start()
    .await
}
