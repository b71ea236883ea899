//! Dialling a probe: a TCP connection and, for HTTP, one request's status line.

use super::{Outcome, Probe, Seen};
use crate::keepalived::Check;
use socket2::{Domain, SockAddr, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// Dials `target` within the probe's timeout, from `from` (a source address and the
/// socket mark IPVS matches a temporary fwmark service by) when given.
pub fn dial(target: SocketAddr, from: Option<(IpAddr, u32)>, probe: &Probe) -> Outcome {
    let start = Instant::now();
    let seen = match exchange(target, from, probe, start) {
        Ok(seen) => seen,
        Err(e) => match e.kind() {
            io::ErrorKind::ConnectionRefused => Seen::Refused,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Seen::Timeout,
            _ => Seen::Error {
                message: e.to_string(),
            },
        },
    };
    let passed = match (&seen, &probe.check) {
        (Seen::Connected, Check::Tcp) => true,
        (Seen::Status { status }, Check::Http { status: wanted, .. }) => status == wanted,
        _ => false,
    };
    Outcome {
        passed,
        seen,
        millis: start.elapsed().as_millis() as u64,
    }
}

fn exchange(
    target: SocketAddr,
    from: Option<(IpAddr, u32)>,
    probe: &Probe,
    start: Instant,
) -> io::Result<Seen> {
    let left = || {
        probe
            .timeout
            .checked_sub(start.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))
    };
    let socket = Socket::new(Domain::for_address(target), Type::STREAM, None)?;
    // Closed with a reset: no TIME_WAIT left on the director for a probe, and the
    // connection's IPVS entry expires in seconds rather than minutes.
    socket.set_linger(Some(std::time::Duration::ZERO))?;
    if let Some((source, mark)) = from {
        socket.set_mark(mark)?;
        socket.bind(&SockAddr::from(SocketAddr::new(source, 0)))?;
    }
    socket.connect_timeout(&SockAddr::from(target), left()?)?;
    let Check::Http { path, .. } = &probe.check else {
        return Ok(Seen::Connected);
    };
    let mut stream = std::net::TcpStream::from(socket);
    stream.set_write_timeout(Some(left()?))?;
    let host = crate::model::SocketText(target.ip(), target.port());
    // One write: a server that answers on the first segment and closes would otherwise
    // reset the connection over the rest, before its answer is read.
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: lvsform-probe\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut reply = Vec::new();
    let mut buffer = [0u8; 512];
    while !reply.windows(2).any(|w| w == b"\r\n") && reply.len() < 1024 {
        stream.set_read_timeout(Some(left()?))?;
        match stream.read(&mut buffer)? {
            0 => break,
            n => reply.extend_from_slice(&buffer[..n]),
        }
    }
    Ok(status(&reply).map_or_else(
        || Seen::Error {
            message: "the answer is not HTTP".into(),
        },
        |status| Seen::Status { status },
    ))
}

/// The status of an HTTP status line: `HTTP/1.1 200 OK`.
fn status(reply: &[u8]) -> Option<u16> {
    let line = reply.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split(' ');
    words.next().filter(|v| v.starts_with("HTTP/"))?;
    words.next().filter(|s| s.len() == 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    fn http(status: u16) -> Probe {
        Probe {
            check: Check::Http {
                path: "/health".into(),
                status,
            },
            timeout: Duration::from_secs(2),
        }
    }

    /// A server on loopback that answers one connection with `reply`, and hands back the
    /// request it got.
    fn serve_once(reply: &'static [u8]) -> (SocketAddr, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 512];
            while !request.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut buffer).unwrap();
                request.extend_from_slice(&buffer[..n]);
            }
            stream.write_all(reply).unwrap();
            String::from_utf8_lossy(&request).into_owned()
        });
        (address, server)
    }

    #[test]
    fn an_http_probe_passes_on_the_status_it_expects_and_only_that() {
        let (address, server) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let outcome = dial(address, None, &http(200));
        assert!(outcome.passed, "{outcome:?}");
        assert_eq!(outcome.seen, Seen::Status { status: 200 });
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /health HTTP/1.0\r\nHost: 127.0.0.1:"),
            "{request}"
        );

        let (address, server) = serve_once(b"HTTP/1.0 503 Service Unavailable\r\n\r\n");
        let outcome = dial(address, None, &http(200));
        assert!(!outcome.passed);
        assert_eq!(outcome.to_string().split(" after").next(), Some("HTTP 503"));
        server.join().unwrap();

        let (address, server) = serve_once(b"SSH-2.0-OpenSSH_9.2\r\n");
        let outcome = dial(address, None, &http(200));
        assert!(!outcome.passed);
        assert!(matches!(outcome.seen, Seen::Error { .. }), "{outcome:?}");
        server.join().unwrap();
    }

    #[test]
    fn a_closed_port_is_refused_and_a_silent_one_times_out() {
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let tcp = Probe {
            check: Check::Tcp,
            timeout: Duration::from_millis(300),
        };
        assert_eq!(dial(closed, None, &tcp).seen, Seen::Refused);

        // Accepts, never answers: an HTTP probe waits out its timeout, no longer.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut probe = http(200);
        probe.timeout = Duration::from_millis(300);
        let outcome = dial(silent.local_addr().unwrap(), None, &probe);
        assert_eq!(outcome.seen, Seen::Timeout);
        assert!(outcome.millis >= 300, "{outcome:?}");
        // A TCP probe is done once connected.
        assert!(dial(silent.local_addr().unwrap(), None, &tcp).passed);
    }

    #[test]
    fn status_lines_are_read_strictly() {
        assert_eq!(status(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(status(b"HTTP/1.1 20 No\r\n"), None);
        assert_eq!(status(b"FTP 200\r\n"), None);
    }
}
