//! A minimal SMTP client over a blocking socket, for the tests that talk
//! to `parley serve` (tests/serve.rs includes it with `#[path]`; the
//! others through `common`).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long the client waits for a reply before giving up.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// One SMTP reply: its code and its lines (joined by `\n`).
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

/// A minimal SMTP client over a blocking socket.
pub struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Smtp {
    pub fn connect(port: u16) -> io::Result<Smtp> {
        let stream = TcpStream::connect_timeout(
            &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            Duration::from_secs(5),
        )?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Smtp {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Reads one whole reply: lines until one whose fourth character is a
    /// space (or that has none).
    pub fn reply(&mut self) -> io::Result<Reply> {
        let mut lines: Vec<String> = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed; reply so far: {lines:?}"),
                ));
            }
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                break;
            }
        }
        let text = lines.join("\n");
        let code = text
            .get(..3)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, text.clone()))?;
        Ok(Reply { code, text })
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    /// Sends one command line and reads its reply.
    pub fn command(&mut self, line: &str) -> io::Result<Reply> {
        self.send(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    /// Sends `line` and expects `code` in reply; an error otherwise.
    pub fn expect(&mut self, line: &str, code: u16) -> io::Result<Reply> {
        let reply = self.command(line)?;
        if reply.code == code {
            Ok(reply)
        } else {
            Err(io::Error::other(format!(
                "{line}: expected {code}, got {reply:?}"
            )))
        }
    }
}
