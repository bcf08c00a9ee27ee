//! The client's real address behind a load balancer, end to end: PROXY protocol v1 and v2
//! headers, a trusted proxy's `X-Forwarded-For`, and spoofed headers from an untrusted peer
//! ignored and replaced — with an IP rule and a rate limit keyed on the real address.

mod common;

use std::io::Write;

use common::{config, connect, read_response, Edgeward, TestOrigin};

const RULES: &str = "[[zones.ip_rules]]\nid = \"bad-client\"\nmatch = \"203.0.113.5/32\"\naction = \"block\"\n\
                     [[zones.rate_limits]]\nid = \"per-ip\"\ncharacteristics = [\"ip\"]\nperiod = \"60s\"\nrequests = 2\n";

fn send(edge: &Edgeward, preface: &[u8], extra: &str) -> Option<common::Response> {
    let mut s = connect(edge.addr);
    s.write_all(preface).unwrap();
    s.write_all(
        format!("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n{extra}\r\n").as_bytes(),
    )
    .unwrap();
    read_response(&mut std::io::BufReader::new(s), false)
}

fn v1(ip: &str) -> Vec<u8> {
    format!("PROXY TCP4 {ip} 127.0.0.1 40000 80\r\n").into_bytes()
}

#[test]
fn proxy_protocol_headers_give_the_client_address_to_every_stage() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let text = format!(
        "{}\n[real_ip]\nproxy_protocol = true\n",
        config(origin.addr, RULES)
    );
    let edge = Edgeward::start(&text);
    // The IP rule sees the address the balancer named.
    let blocked = send(&edge, &v1("203.0.113.5"), "").expect("a response");
    assert_eq!(blocked.status, 403);
    assert!(
        blocked.text().contains("203.0.113.5"),
        "the block page names the client"
    );
    // Another client passes, and the origin learns its address.
    let ok = send(&edge, &v1("198.51.100.20"), "X-Forwarded-For: 6.6.6.6\r\n").expect("a response");
    assert_eq!(ok.status, 200);
    assert_eq!(
        origin.requests()[0].header("x-forwarded-for").as_deref(),
        Some("198.51.100.20")
    );
    // Version 2, IPv4: the rate limit counts per real client (2 allowed, the third refused).
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend_from_slice(&[0x21, 0x11, 0, 12, 192, 0, 2, 44, 127, 0, 0, 1, 0x9c, 0x40, 0, 80]);
    let statuses: Vec<u16> = (0..3).map(|_| send(&edge, &v2, "").unwrap().status).collect();
    assert_eq!(statuses, [200, 200, 429]);
    // Without a header the connection is closed, nothing answered.
    assert!(send(&edge, b"", "").is_none(), "no PROXY header: closed");
}

#[test]
fn a_trusted_proxys_forwarded_for_names_the_client_and_untrusted_ones_are_replaced() {
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let trusted = format!(
        "{}\n[real_ip]\ntrusted_proxies = [\"127.0.0.1/32\"]\nsend_header = \"X-Real-IP\"\n",
        config(origin.addr, RULES)
    );
    let edge = Edgeward::start(&trusted);
    let blocked = send(&edge, b"", "X-Forwarded-For: 203.0.113.5\r\n").unwrap();
    assert_eq!(blocked.status, 403, "the IP rule sees the forwarded client");
    let ok = send(
        &edge,
        b"",
        "X-Forwarded-For: 198.51.100.7\r\nX-Real-IP: 1.1.1.1\r\n",
    )
    .unwrap();
    assert_eq!(ok.status, 200);
    let seen = &origin.requests()[0];
    assert_eq!(
        seen.header("x-forwarded-for").as_deref(),
        Some("198.51.100.7, 127.0.0.1")
    );
    assert_eq!(seen.header("x-real-ip").as_deref(), Some("198.51.100.7"));

    // The same headers from a peer that is not trusted are ignored and replaced.
    let origin = TestOrigin::fixed("200 OK", "", "ok");
    let untrusted = format!(
        "{}\n[real_ip]\ntrusted_proxies = [\"10.0.0.0/8\"]\nsend_header = \"X-Real-IP\"\n",
        config(origin.addr, RULES)
    );
    let edge = Edgeward::start(&untrusted);
    let spoof = send(
        &edge,
        b"",
        "X-Forwarded-For: 198.51.100.7\r\nX-Real-IP: 203.0.113.5\r\n",
    )
    .unwrap();
    assert_eq!(spoof.status, 200, "a spoofed address is not the client's");
    let seen = &origin.requests()[0];
    assert_eq!(seen.header("x-forwarded-for").as_deref(), Some("127.0.0.1"));
    assert_eq!(seen.header("x-real-ip").as_deref(), Some("127.0.0.1"));
}
