//! An axum app served on an ephemeral loopback port until dropped: the shape of
//! every simulated upstream (the demo's, the tests', the benchmark's).

use axum::Router;
use std::net::SocketAddr;

/// A running loopback server; dropping it shuts the server down gracefully.
pub struct LoopbackServer {
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl LoopbackServer {
    /// Bind `127.0.0.1:0` and serve `app` on the current tokio runtime.
    pub async fn start(app: Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            // Small writes (stream chunks) go out at once, not after a delayed ACK.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(LoopbackServer { addr, _stop: stop })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
