//! A SASL PLAIN/SCRAM login over the preflight's TLS connection, speaking
//! just enough Kafka (SaslHandshake v1, SaslAuthenticate v1), so a wrong
//! password is reported as such before librdkafka connects.

use std::io::{Read, Write};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::{digest, hmac, pbkdf2};
use secrecy::{ExposeSecret, SecretString};

use crate::security::SaslMechanism;

/// Credentials to log in with.
pub(crate) struct Login {
    pub(crate) mechanism: SaslMechanism,
    pub(crate) username: String,
    pub(crate) password: SecretString,
}

/// Fewest PBKDF2 iterations accepted from a server: RFC 7677's minimum
/// (and Kafka's `ScramMechanism` minimum). Fewer would make a stolen
/// exchange cheap to brute-force.
pub(crate) const MIN_ITERATIONS: u32 = 4096;
/// Most PBKDF2 iterations accepted from a server: Kafka's own maximum
/// (`ScramMechanism.maxIterations`, 16384), so every credential a Kafka
/// broker can hold is accepted, while a hostile server cannot make kmirror
/// spend seconds of CPU per login (the count is the server's to choose).
pub(crate) const MAX_ITERATIONS: u32 = 16_384;

const SASL_HANDSHAKE: i16 = 17;
const SASL_AUTHENTICATE: i16 = 36;

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as i16).to_be_bytes());
    out.extend(s.as_bytes());
}

/// A response body, read past its correlation id.
struct Body {
    data: Vec<u8>,
    at: usize,
}

impl Body {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.data.len());
        let end = end.ok_or("sent a truncated SASL response")?;
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn string(&mut self) -> Result<Option<String>, String> {
        let n = self.i16()?;
        if n < 0 {
            return Ok(None);
        }
        Ok(Some(
            String::from_utf8_lossy(self.take(n as usize)?).into_owned(),
        ))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(Vec::new());
        }
        Ok(self.take(n as usize)?.to_vec())
    }
}

fn call(
    stream: &mut (impl Read + Write),
    api_key: i16,
    correlation: i32,
    body: &[u8],
) -> Result<Body, String> {
    let io = |e: std::io::Error| format!("closed the connection during SASL authentication ({e})");
    let mut msg = Vec::with_capacity(body.len() + 32);
    msg.extend(api_key.to_be_bytes());
    msg.extend(1i16.to_be_bytes());
    msg.extend(correlation.to_be_bytes());
    string(&mut msg, "kmirror-preflight");
    msg.extend(body);
    stream
        .write_all(&(msg.len() as i32).to_be_bytes())
        .map_err(io)?;
    stream.write_all(&msg).map_err(io)?;
    stream.flush().map_err(io)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(io)?;
    let len = i32::from_be_bytes(len);
    if !(4..=1 << 20).contains(&len) {
        return Err(format!(
            "sent a SASL response of {len} bytes; is this a Kafka broker?"
        ));
    }
    let mut data = vec![0u8; len as usize];
    stream.read_exact(&mut data).map_err(io)?;
    let mut b = Body { data, at: 0 };
    if b.i32()? != correlation {
        return Err("answered another request during SASL authentication".into());
    }
    Ok(b)
}

fn authenticate(
    stream: &mut (impl Read + Write),
    correlation: i32,
    bytes: &[u8],
    login: &Login,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    body.extend((bytes.len() as i32).to_be_bytes());
    body.extend(bytes);
    let mut r = call(stream, SASL_AUTHENTICATE, correlation, &body)?;
    let code = r.i16()?;
    let message = r.string()?;
    if code != 0 {
        return Err(format!(
            "rejected SASL/{} authentication as '{}': {} (error {code}); check the username and password (sasl.jaas.config, or sasl.username and sasl.password)",
            login.mechanism.as_str(),
            login.username,
            message.as_deref().unwrap_or("no reason given")
        ));
    }
    r.bytes()
}

/// Logs in; an error says what the broker answered.
pub(crate) fn login(stream: &mut (impl Read + Write), login: &Login) -> Result<(), String> {
    let mech = login.mechanism.as_str();
    let mut body = Vec::new();
    string(&mut body, mech);
    let mut r = call(stream, SASL_HANDSHAKE, 1, &body)?;
    let code = r.i16()?;
    if code != 0 {
        let n = r.i32()?.max(0);
        let offered: Vec<String> = (0..n).filter_map(|_| r.string().ok().flatten()).collect();
        return Err(format!(
            "does not offer SASL mechanism {mech} (it offers {}); set sasl.mechanism to one of them",
            offered.join(", ")
        ));
    }
    let password = login.password.expose_secret();
    match login.mechanism {
        SaslMechanism::Plain => {
            // Holds the password: wiped when dropped.
            let msg = zeroize::Zeroizing::new(format!("\0{}\0{password}", login.username));
            authenticate(stream, 2, msg.as_bytes(), login)?;
        }
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
            let mut raw = [0u8; 18];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)
                .map_err(|_| "no random numbers for the SCRAM nonce".to_string())?;
            let scram = Scram::new(login.mechanism, &login.username, &B64.encode(raw));
            let first = authenticate(stream, 2, scram.client_first().as_bytes(), login)?;
            let server_first = String::from_utf8_lossy(&first).into_owned();
            let (client_final, server_signature) = scram.client_final(password, &server_first)?;
            let last = authenticate(stream, 3, client_final.as_bytes(), login)?;
            let last = String::from_utf8_lossy(&last);
            if last.strip_prefix("v=") != Some(B64.encode(server_signature).as_str()) {
                return Err(format!("answered SCRAM with a wrong server signature ({last}): it does not hold this user's credentials"));
            }
        }
        SaslMechanism::Gssapi => {}
    }
    Ok(())
}

/// The client side of SCRAM (RFC 5802) without channel binding.
pub(crate) struct Scram {
    sha512: bool,
    client_first_bare: String,
    nonce: String,
}

impl Scram {
    pub(crate) fn new(mechanism: SaslMechanism, username: &str, nonce: &str) -> Scram {
        let user = username.replace('=', "=3D").replace(',', "=2C");
        Scram {
            sha512: mechanism == SaslMechanism::ScramSha512,
            client_first_bare: format!("n={user},r={nonce}"),
            nonce: nonce.to_string(),
        }
    }

    pub(crate) fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// The client-final message and the server signature to expect.
    pub(crate) fn client_final(
        &self,
        password: &str,
        server_first: &str,
    ) -> Result<(String, Vec<u8>), String> {
        let field = |k: &str| {
            server_first
                .split(',')
                .find_map(|f| f.strip_prefix(k))
                .ok_or_else(|| format!("sent a SCRAM challenge without {k}"))
        };
        let nonce = field("r=")?;
        if !nonce.starts_with(&self.nonce) {
            return Err("sent a SCRAM nonce that does not extend kmirror's".into());
        }
        let salt = B64
            .decode(field("s=")?)
            .map_err(|_| "sent a SCRAM salt that is not base64".to_string())?;
        let iterations = field("i=")?
            .parse::<u32>()
            .map_err(|_| "sent a bad SCRAM iteration count".to_string())?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "sent a SCRAM iteration count of {iterations}, outside {MIN_ITERATIONS}..={MAX_ITERATIONS} (RFC 7677's minimum to Kafka's maximum); refused as unsafe or a denial of service: re-create the credential with kafka-configs.sh --alter --add-config 'SCRAM-SHA-512=[iterations=8192,password=...]'"
            ));
        }
        let iterations =
            std::num::NonZeroU32::new(iterations).ok_or("sent a bad SCRAM iteration count")?;
        let (algo, mac, hash, len) = if self.sha512 {
            (
                pbkdf2::PBKDF2_HMAC_SHA512,
                hmac::HMAC_SHA512,
                &digest::SHA512,
                64,
            )
        } else {
            (
                pbkdf2::PBKDF2_HMAC_SHA256,
                hmac::HMAC_SHA256,
                &digest::SHA256,
                32,
            )
        };
        // The salted password is the credential itself: wiped when dropped.
        let mut salted = zeroize::Zeroizing::new(vec![0u8; len]);
        pbkdf2::derive(algo, iterations, &salt, password.as_bytes(), &mut salted);
        let salted = hmac::Key::new(mac, &salted);
        let client_key = hmac::sign(&salted, b"Client Key");
        let stored_key = digest::digest(hash, client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = hmac::sign(
            &hmac::Key::new(mac, stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(signature.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac::sign(&salted, b"Server Key");
        let server_signature = hmac::sign(
            &hmac::Key::new(mac, server_key.as_ref()),
            auth_message.as_bytes(),
        );
        Ok((
            format!("{without_proof},p={}", B64.encode(proof)),
            server_signature.as_ref().to_vec(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's SCRAM-SHA-256 example.
    #[test]
    fn scram_sha256_matches_rfc7677() {
        let s = Scram::new(SaslMechanism::ScramSha256, "user", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(s.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let (fin, sig) = s
            .client_final(
                "pencil",
                "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            )
            .unwrap();
        assert_eq!(fin, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        assert_eq!(
            B64.encode(sig),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let e = s
            .client_final("pencil", "r=someone-else,s=AA==,i=4096")
            .unwrap_err();
        assert!(e.contains("nonce"), "{e}");
        // The server's iteration count is bounded on both sides.
        let challenge = |i: &str| format!("r=rOprNGfwEbeRWgbNEkqO-x,s=AA==,i={i}");
        for (i, ok) in [
            ("4095", false),
            ("1", false),
            ("0", false),
            ("4096", true),
            ("16384", true),
            ("16385", false),
            ("4294967295", false),
            ("x", false),
        ] {
            let r = s.client_final("pencil", &challenge(i));
            assert_eq!(r.is_ok(), ok, "i={i}: {r:?}");
            if let (Err(e), true) = (&r, i.parse::<u64>().is_ok()) {
                assert!(e.contains("outside 4096..=16384"), "i={i}: {e}");
            }
        }
        assert_eq!(
            Scram::new(SaslMechanism::ScramSha512, "a=b,c", "n").client_first(),
            "n,,n=a=3Db=2Cc,r=n"
        );
    }

    /// A broker side of SaslHandshake/SaslAuthenticate for PLAIN that
    /// accepts `user`/`right`.
    fn fake_broker(stream: &mut std::os::unix::net::UnixStream) {
        let read = |s: &mut std::os::unix::net::UnixStream| {
            let mut len = [0u8; 4];
            s.read_exact(&mut len).ok()?;
            let mut d = vec![0u8; i32::from_be_bytes(len) as usize];
            s.read_exact(&mut d).ok()?;
            Some(d)
        };
        let reply = |s: &mut std::os::unix::net::UnixStream, corr: &[u8], body: &[u8]| {
            let n = (corr.len() + body.len()) as i32;
            s.write_all(&n.to_be_bytes()).unwrap();
            s.write_all(corr).unwrap();
            s.write_all(body).unwrap();
        };
        let Some(hs) = read(stream) else { return };
        let corr = hs[4..8].to_vec();
        let mech_ok = hs.ends_with(b"PLAIN");
        let mut b = Vec::new();
        b.extend(if mech_ok { 0i16 } else { 33i16 }.to_be_bytes());
        b.extend(1i32.to_be_bytes());
        string(&mut b, "PLAIN");
        reply(stream, &corr, &b);
        if !mech_ok {
            return;
        }
        let Some(auth) = read(stream) else { return };
        let corr = auth[4..8].to_vec();
        let ok = auth.ends_with(b"\0user\0right");
        let mut b = Vec::new();
        b.extend(if ok { 0i16 } else { 58i16 }.to_be_bytes());
        if ok {
            b.extend((-1i16).to_be_bytes());
        } else {
            string(
                &mut b,
                "Authentication failed: Invalid username or password",
            );
        }
        b.extend(0i32.to_be_bytes());
        b.extend(0i64.to_be_bytes());
        reply(stream, &corr, &b);
    }

    fn try_login(mechanism: SaslMechanism, password: &str) -> Result<(), String> {
        let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let broker = std::thread::spawn(move || fake_broker(&mut b));
        let r = login(
            &mut a,
            &Login {
                mechanism,
                username: "user".into(),
                password: SecretString::from(password.to_string()),
            },
        );
        broker.join().unwrap();
        r
    }

    #[test]
    fn plain_login_reports_the_brokers_answer() {
        assert_eq!(try_login(SaslMechanism::Plain, "right"), Ok(()));
        let e = try_login(SaslMechanism::Plain, "wrong-pw-9").unwrap_err();
        assert!(
            e.starts_with("rejected SASL/PLAIN authentication as 'user': Authentication failed: Invalid username or password (error 58)"),
            "{e}"
        );
        assert!(!e.contains("wrong-pw-9"));
        let e = try_login(SaslMechanism::ScramSha512, "right").unwrap_err();
        assert!(
            e.contains("does not offer SASL mechanism SCRAM-SHA-512 (it offers PLAIN)"),
            "{e}"
        );
    }
}
