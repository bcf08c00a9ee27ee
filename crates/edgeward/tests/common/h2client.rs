//! A small HTTP/2 client for end-to-end tests, on the `h2` crate: h2c with prior knowledge
//! (or any stream, e.g. TLS with ALPN `h2`), requests with bodies, responses read whole.

use std::net::SocketAddr;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::io::{AsyncRead, AsyncWrite};

/// A response read whole.
#[derive(Debug)]
pub struct H2Response {
    /// The status code.
    pub status: u16,
    /// The header fields.
    pub headers: http::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl H2Response {
    /// A header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A runtime for blocking tests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Opens an h2c connection (prior knowledge) to `addr`.
pub async fn connect(addr: SocketAddr) -> SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    handshake(tcp).await
}

/// The HTTP/2 handshake over any stream; the connection is driven by a task.
pub async fn handshake<T: AsyncRead + AsyncWrite + Unpin + Send + 'static>(io: T) -> SendRequest<Bytes> {
    let (send, conn) = h2::client::handshake(io).await.expect("HTTP/2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

/// Sends `request` with `body` and reads the response whole.
pub async fn send(client: &mut SendRequest<Bytes>, request: http::Request<()>, body: &[u8]) -> H2Response {
    let mut client = client.clone().ready().await.expect("connection ready");
    let (response, mut stream) = client
        .send_request(request, body.is_empty())
        .expect("request sent");
    if !body.is_empty() {
        stream.send_data(Bytes::copy_from_slice(body), true).unwrap();
    }
    let response = tokio::time::timeout(super::WAIT, response)
        .await
        .expect("a response in time")
        .expect("a response");
    read(response).await
}

/// Reads a response's body whole.
pub async fn read(response: http::Response<h2::RecvStream>) -> H2Response {
    let (parts, mut recv) = response.into_parts();
    let mut body = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.expect("body data");
        let _ = recv.flow_control().release_capacity(chunk.len());
        body.extend_from_slice(&chunk);
    }
    H2Response {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// One GET over a fresh h2c connection.
pub fn get(addr: SocketAddr, uri: &str, headers: &[(&str, &str)]) -> H2Response {
    let rt = runtime();
    rt.block_on(async {
        let mut client = connect(addr).await;
        let mut req = http::Request::get(uri);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        send(&mut client, req.body(()).unwrap(), b"").await
    })
}
