//! [`ReservedPort`]: a loopback port kept for one test's server from the moment it is
//! chosen until the reservation is dropped, so that no other process can take it: not
//! between choosing the port and the server binding it, nor while the server is down
//! between a kill and a start again on the same port.
//!
//! The port is chosen by binding a socket to port 0, and that socket stays bound, with
//! `SO_REUSEADDR`, without ever listening. The kernel then gives the port to nobody else
//! (neither to a bind to port 0 nor to an outgoing connection), connections to it are
//! refused while no server listens, and the server may still bind it, as Linux lets a
//! socket with `SO_REUSEADDR` bind an address whose other sockets have it too and do not
//! listen (socket(7)). Every server the tests start sets `SO_REUSEADDR` on its listener:
//! nats-server, redis-server, PostgreSQL, RabbitMQ (its listeners and its distribution
//! port), and anything bound with std's or tokio's `TcpListener::bind`, such as
//! `switchyard serve`. A server that did not would fail to start at once, every time.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::TcpSocket;

/// A loopback port held for a server of this test until dropped; see the module docs.
pub struct ReservedPort {
    /// Bound, never listening: holds the port without answering on it.
    _socket: TcpSocket,
    port: u16,
}

impl ReservedPort {
    /// Reserves a free loopback port. Needs no async runtime.
    pub fn new() -> io::Result<ReservedPort> {
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let port = socket.local_addr()?.port();
        Ok(ReservedPort {
            _socket: socket,
            port,
        })
    }

    /// The reserved port, for the server to bind.
    pub fn port(&self) -> u16 {
        self.port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_port_is_refused_to_others_and_open_to_its_server() {
        let reserved = ReservedPort::new().unwrap();
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, reserved.port()));
        // Nobody listens yet: connections are refused.
        assert!(std::net::TcpStream::connect(address).is_err());
        // A socket without SO_REUSEADDR cannot take it.
        let plain = TcpSocket::new_v4().unwrap();
        assert_eq!(
            plain.bind(address).unwrap_err().kind(),
            io::ErrorKind::AddrInUse
        );
        // The server binds it (std sets SO_REUSEADDR) and serves; once it is gone, it
        // can bind it again.
        for _ in 0..2 {
            let server = std::net::TcpListener::bind(address).unwrap();
            let _client = std::net::TcpStream::connect(address).unwrap();
            let (_accepted, _) = server.accept().unwrap();
        }
        assert!(std::net::TcpStream::connect(address).is_err());
    }
}
