//! A TCP proxy the tests can cut: every connection through it is dropped and new ones
//! are refused while it is down, as when PostgreSQL stops or its host goes away.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    pub port: u16,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Listens on a free loopback port, forwarding to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let port = super::free_port();
        let p = Self { port, target, tasks: Arc::default() };
        p.up().await;
        p
    }

    /// Accepts and forwards (again).
    pub async fn up(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.expect("bind the proxy");
        let (target, tasks) = (self.target, self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Drops every connection and refuses new ones (the listening socket is closed).
    pub fn down(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
    }
}
