//! WebSocket through the edge, end to end: a real WebSocket echo origin (tokio-tungstenite),
//! the HTTP/1.1 `Upgrade` handshake through the pipeline, then text, binary, a 1 MiB
//! message, ping/pong and the close handshake through the tunnel; the idle timeout; an
//! upgrade refused by a rule and by a zone that turns upgrades off; bytes in the log.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{config, Edgeward};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket echo origin on a free loopback port; plain HTTP requests get a 426.
async fn echo_origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    match msg {
                        Message::Text(_) | Message::Binary(_) => {
                            let echoed = ws.send(msg).await;
                            if echoed.is_err() {
                                return;
                            }
                        }
                        Message::Close(_) => {
                            let _ = ws.close(None).await;
                            return;
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    addr
}

fn runtime() -> tokio::runtime::Runtime {
    common::h2client::runtime()
}

type Client = tokio_tungstenite::WebSocketStream<TcpStream>;

async fn open(edge: SocketAddr, path: &str) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let tcp = TcpStream::connect(edge).await.unwrap();
    let request = format!("ws://example.com{path}").into_client_request().unwrap();
    tokio_tungstenite::client_async(request, tcp)
        .await
        .map(|(ws, _)| ws)
}

#[test]
fn messages_pings_and_close_go_through_the_tunnel() {
    let rt = runtime();
    let origin = rt.block_on(echo_origin());
    let edge = Edgeward::start(&config(origin, ""));
    rt.block_on(async {
        let mut ws = open(edge.addr, "/chat").await.expect("the upgrade goes through");
        ws.send(Message::text("hello")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
        ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::binary(vec![0u8, 1, 2, 255])
        );
        let big: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        ws.send(Message::binary(big.clone())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));
        ws.send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .unwrap();
        match ws.next().await.unwrap().unwrap() {
            Message::Pong(payload) => assert_eq!(&payload[..], b"are you there"),
            other => panic!("expected a pong, got {other:?}"),
        }
        ws.close(None).await.unwrap();
        // The origin's close frame comes back, then the stream ends.
        while let Some(msg) = ws.next().await {
            if msg.is_err() {
                break;
            }
        }
    });
    let logs = edge.wait_for_log("status=101");
    let line = logs.lines().find(|l| l.contains("status=101")).unwrap();
    assert!(line.contains("bytes_in="), "{line}");
    let bytes_out: u64 = line
        .split("bytes_out=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .expect("bytes_out in the log line");
    assert!(bytes_out > 1 << 20, "the 1 MiB echo is counted: {line}");
}

#[test]
fn an_idle_tunnel_is_closed() {
    let rt = runtime();
    let origin = rt.block_on(echo_origin());
    let edge = Edgeward::start(&config(origin, "upgrade_idle_timeout = \"1s\"\n"));
    rt.block_on(async {
        let mut ws = open(edge.addr, "/idle").await.unwrap();
        let started = Instant::now();
        let ended = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
        assert!(ended.is_ok(), "the tunnel was not closed by the idle timeout");
        assert!(started.elapsed() >= Duration::from_millis(900));
    });
}

#[test]
fn an_upgrade_blocked_by_a_rule_never_reaches_the_origin() {
    let rt = runtime();
    let origin = rt.block_on(echo_origin());
    let extra = "[[zones.rules]]\nid = \"no-ws\"\nexpression = 'http.request.uri.path eq \"/blocked\"'\naction = \"block\"\n";
    let edge = Edgeward::start(&config(origin, extra));
    rt.block_on(async {
        match open(edge.addr, "/blocked").await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
            other => panic!("expected a 403, got {other:?}"),
        }
        assert!(open(edge.addr, "/allowed").await.is_ok());
    });
}

#[test]
fn a_zone_can_turn_upgrades_off() {
    let rt = runtime();
    let origin = rt.block_on(echo_origin());
    let edge = Edgeward::start(&config(origin, "upgrades = false\n"));
    rt.block_on(async {
        match open(edge.addr, "/chat").await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert!(resp.status().is_client_error(), "{}", resp.status());
                assert!(resp.headers().contains_key("x-request-id"));
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    });
}

#[test]
fn websocket_goes_through_a_zone_with_a_cache() {
    let rt = runtime();
    let origin = rt.block_on(echo_origin());
    let edge = Edgeward::start(&config(origin, "\n[cache]\nstore = \"memory\"\n"));
    rt.block_on(async {
        let mut ws = open(edge.addr, "/chat").await.expect("the upgrade goes through");
        ws.send(Message::text("through the cache stage")).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::text("through the cache stage")
        );
    });
}

#[test]
fn only_websocket_upgrades_are_relayed() {
    let origin = common::TestOrigin::fixed("200 OK", "", "plain");
    let edge = Edgeward::start(&config(origin.addr, ""));
    let resp = common::exchange(
        edge.addr,
        b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
          HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
    );
    assert_eq!(resp.status, 200, "served as plain HTTP/1.1");
    let seen = &origin.requests()[0];
    assert_eq!(seen.header("upgrade"), None, "h2c is never offered to the origin");
}
