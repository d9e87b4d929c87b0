//! A small HTTP/1.1 server on std sockets: what Nacos 1.x clients send (a request line,
//! headers, a `Content-Length` body, keep-alive) and nothing more. One thread per connection;
//! each request goes to the live loop, which owns the cores, and the connection waits for its
//! answer.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

/// The header section may not be larger (Nacos clients send well under 1 KiB).
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Nor the body (a batch metadata update of many instances is the largest a client sends).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// An idle keep-alive connection is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// One HTTP request as the cores' adapter reads it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HttpRequest {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// Query parameters, then those of a form body, in order, decoded.
    pub params: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_version: String,
    /// The TCP peer's address.
    pub peer_ip: String,
}

impl HttpRequest {
    /// The first value of a parameter, as `request.getParameter` gives it.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What the live loop answers: a response, or a dropped connection (the server process is
/// down: the client sees the connection reset).
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Response { status: u16, body: String },
    Close,
}

/// A request on its way to the live loop, with where its answer goes.
pub struct Incoming {
    pub server: usize,
    pub request: HttpRequest,
    pub answer: Sender<Reply>,
}

/// Accepts connections on `listener` for ever, one thread each, handing requests to `to_loop`.
pub fn serve(listener: TcpListener, server: usize, to_loop: Sender<super::Event>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let to_loop = to_loop.clone();
        std::thread::spawn(move || {
            let _ = connection(stream, server, to_loop);
        });
    }
}

fn connection(stream: TcpStream, server: usize, to_loop: Sender<super::Event>) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let peer_ip = stream.peer_addr()?.ip().to_string();
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let (request, keep_alive) = match read_request(&mut reader, &peer_ip) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                write_response(&mut writer, 400, &e.to_string(), false)?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let (tx, rx) = mpsc::channel();
        if to_loop.send(super::Event::Http(Incoming { server, request, answer: tx })).is_err() {
            return Ok(()); // the live run has ended
        }
        match rx.recv() {
            Ok(Reply::Response { status, body }) => write_response(&mut writer, status, &body, keep_alive)?,
            Ok(Reply::Close) | Err(_) => {
                let _ = writer.shutdown(Shutdown::Both);
                return Ok(());
            }
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

/// Reads one request; `None` at a clean end of the connection. Malformed input is
/// `InvalidData` (answered 400).
fn read_request(r: &mut impl BufRead, peer_ip: &str) -> io::Result<Option<(HttpRequest, bool)>> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = r.by_ref().take((MAX_HEADER_BYTES + 1 - head.len()) as u64).read_until(b'\n', &mut head)?;
        if n == 0 {
            return if head.is_empty() { Ok(None) } else { Err(bad("connection closed inside the header")) };
        }
        if head.len() > MAX_HEADER_BYTES {
            return Err(bad("header section too large"));
        }
        let line = &head[before..];
        if (line == b"\r\n" || line == b"\n") && before > 0 {
            break;
        }
        if (line == b"\r\n" || line == b"\n") && before == 0 {
            head.clear(); // a stray empty line between requests
        }
    }
    let head = String::from_utf8(head).map_err(|_| bad("header is not UTF-8"))?;
    let mut lines = head.lines();
    let start = lines.next().unwrap_or_default();
    let mut parts = start.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("malformed request line"));
    };
    let mut keep_alive = version == "HTTP/1.1";
    let (mut length, mut form, mut user_agent, mut client_version) = (0usize, false, String::new(), String::new());
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().map_err(|_| bad("bad Content-Length"))?,
            "content-type" => form = value.starts_with("application/x-www-form-urlencoded"),
            "connection" => keep_alive = value.eq_ignore_ascii_case("keep-alive"),
            "user-agent" => user_agent = value.to_string(),
            "client-version" => client_version = value.to_string(),
            "transfer-encoding" => return Err(bad("chunked bodies are not served")),
            _ => {}
        }
    }
    if length > MAX_BODY_BYTES {
        return Err(bad("body too large"));
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut params = decode_params(query);
    if form || (!body.is_empty() && !body.starts_with(b"{")) {
        params.extend(decode_params(&String::from_utf8_lossy(&body)));
    }
    let request = HttpRequest {
        method: method.to_string(),
        path: percent_decode(path),
        params,
        user_agent,
        client_version,
        peer_ip: peer_ip.to_string(),
    };
    Ok(Some((request, keep_alive)))
}

/// `a=1&b=%40x+y` → `[("a","1"), ("b","@x y")]`.
pub fn decode_params(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = match (b[i], b.get(i + 1), b.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match (escaped, b[i]) {
            (Some(v), _) => {
                out.push(v);
                i += 2;
            }
            (None, b'+') => out.push(b' '),
            (None, c) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn write_response(w: &mut impl Write, status: u16, body: &str, keep_alive: bool) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    );
    w.write_all(head.as_bytes())?;
    w.write_all(body.as_bytes())?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_decode_as_a_servlet_reads_them() {
        assert_eq!(
            decode_params("serviceName=DEFAULT_GROUP%40%40demo&enable=True&x&clusterName=a+b&bad=%zz"),
            [
                ("serviceName".into(), "DEFAULT_GROUP@@demo".into()),
                ("enable".into(), "True".into()),
                ("x".into(), "".into()),
                ("clusterName".into(), "a b".into()),
                ("bad".into(), "%zz".into())
            ]
        );
        assert_eq!(decode_params("a=%4"), [("a".to_string(), "%4".to_string())]);
    }

    #[test]
    fn a_request_is_read_with_its_form_body_and_keep_alive() {
        let raw = b"PUT /nacos/v1/ns/instance/beat?serviceName=a HTTP/1.1\r\nUser-Agent: Nacos-Java-Client:v1.0.0\r\n\
Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\nip=1.2.GET / HTTP/1.0\r\n\r\n";
        let mut r = std::io::Cursor::new(&raw[..]);
        let (req, keep) = read_request(&mut r, "127.0.0.1").unwrap().unwrap();
        assert!(keep);
        assert_eq!((req.method.as_str(), req.path.as_str()), ("PUT", "/nacos/v1/ns/instance/beat"));
        assert_eq!(req.param("serviceName"), Some("a"));
        assert_eq!(req.param("ip"), Some("1.2."));
        assert_eq!(req.user_agent, "Nacos-Java-Client:v1.0.0");
        let (req, keep) = read_request(&mut r, "127.0.0.1").unwrap().unwrap();
        assert!(!keep && req.path == "/");
        assert!(read_request(&mut r, "127.0.0.1").unwrap().is_none());
        let mut bad = std::io::Cursor::new(&b"nonsense\r\n\r\n"[..]);
        assert_eq!(read_request(&mut bad, "x").unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
