//! [`private_nats`] and [`private_redis`]: a `nats-server` with JetStream and a
//! `redis-server` of one test, each on a reserved loopback port with its store in the
//! server's directory, so that a kill and a start again keep what they held. The fault and
//! outage tests start theirs here; the machine's shared servers are never touched.

use crate::PrivateServer;

/// Starts a private `nats-server` with JetStream, its store kept across
/// [`PrivateServer::kill`] and [`PrivateServer::spawn`].
pub async fn private_nats() -> anyhow::Result<PrivateServer> {
    PrivateServer::start("nats-server", "nats-server 2.9 or newer", |port, dir| {
        let store = dir.join("store").display().to_string();
        [
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-js",
            "-sd",
            &store,
        ]
        .map(String::from)
        .to_vec()
    })
    .await
}

/// Starts a private `redis-server` whose append-only file is written through on every
/// write, so a kill loses nothing it acknowledged.
pub async fn private_redis() -> anyhow::Result<PrivateServer> {
    PrivateServer::start("redis-server", "redis-server 6 or newer", |port, dir| {
        let dir = dir.display().to_string();
        [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir,
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ]
        .map(String::from)
        .to_vec()
    })
    .await
}
