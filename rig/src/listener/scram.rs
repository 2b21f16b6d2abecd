//! The server side of SASL SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802,
//! RFC 7677) as Apache Kafka's `ScramSaslServer` speaks it: no channel
//! binding, the messages carried in SaslAuthenticate (or bare v0 frames).
//!
//! ```text
//! client-first  n,,n=USER,r=CNONCE
//! server-first  r=CNONCE SNONCE,s=SALT,i=4096
//! client-final  c=biws,r=CNONCE SNONCE,p=PROOF
//! server-final  v=SERVER-SIGNATURE
//! ```
//!
//! Credentials are derived at start-up from the same `user:password` list
//! as PLAIN, each with its own random salt, and only the stored key and
//! server key are kept (as a Kafka broker keeps them in its metadata).

use std::collections::HashMap;
use std::num::NonZeroU32;

use anyhow::{anyhow, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};

use super::sasl::{PlainUsers, Step};

/// The iteration count Kafka's `kafka-configs --add-config
/// 'SCRAM-SHA-256=[password=...]'` uses by default.
pub const ITERATIONS: u32 = 4096;

/// One of the two SCRAM mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramMechanism {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramMechanism {
    /// Both mechanisms.
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The SASL mechanism name, e.g. `SCRAM-SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism with this SASL name.
    pub fn from_name(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            ScramMechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &digest::SHA256,
            ScramMechanism::Sha512 => &digest::SHA512,
        }
    }

    fn hmac_sign(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac(), key), data)
            .as_ref()
            .to_vec()
    }
}

/// What the server keeps of one user's password for one mechanism.
#[derive(Clone)]
pub struct ScramCredential {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredential {
    /// Derives the credential from a password (RFC 5802 section 3).
    pub fn derive(
        mechanism: ScramMechanism,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<ScramCredential> {
        let rounds =
            NonZeroU32::new(iterations).ok_or_else(|| anyhow!("SCRAM iterations must be > 0"))?;
        let mut salted = vec![0u8; mechanism.digest().output_len()];
        pbkdf2::derive(
            mechanism.pbkdf2(),
            rounds,
            salt,
            password.as_bytes(),
            &mut salted,
        );
        let client_key = mechanism.hmac_sign(&salted, b"Client Key");
        let stored_key = digest::digest(mechanism.digest(), &client_key)
            .as_ref()
            .to_vec();
        let server_key = mechanism.hmac_sign(&salted, b"Server Key");
        Ok(ScramCredential {
            salt: salt.to_vec(),
            iterations,
            stored_key,
            server_key,
        })
    }
}

/// SCRAM credentials for every user and mechanism.
#[derive(Debug, Clone, Default)]
pub struct ScramUsers {
    creds: HashMap<(ScramMechanism, String), ScramCredential>,
}

impl ScramUsers {
    /// Derives both mechanisms' credentials for every PLAIN user, each with
    /// a fresh random salt and [`ITERATIONS`] rounds.
    pub fn from_plain(users: &PlainUsers) -> Result<ScramUsers> {
        let rng = SystemRandom::new();
        let mut out = ScramUsers::default();
        for (user, password) in users.iter() {
            for mech in ScramMechanism::ALL {
                let mut salt = [0u8; 16];
                rng.fill(&mut salt)
                    .map_err(|_| anyhow!("no random numbers for a SCRAM salt"))?;
                out.insert(
                    user,
                    ScramCredential::derive(mech, password, &salt, ITERATIONS)?,
                    mech,
                );
            }
        }
        Ok(out)
    }

    /// Adds (or replaces) one credential.
    pub fn insert(&mut self, user: &str, cred: ScramCredential, mechanism: ScramMechanism) {
        self.creds.insert((mechanism, user.to_string()), cred);
    }

    fn get(&self, mechanism: ScramMechanism, user: &str) -> Option<&ScramCredential> {
        self.creds.get(&(mechanism, user.to_string()))
    }
}

enum State {
    AwaitClientFirst,
    AwaitClientFinal {
        cred: ScramCredential,
        /// `client-first-message-bare`, `server-first-message`, and the
        /// expected `c=` value (the base64 GS2 header).
        client_first_bare: String,
        server_first: String,
        channel_binding: String,
        nonce: String,
    },
    Done,
}

/// One connection's SCRAM server exchange.
pub struct ScramServer {
    mechanism: ScramMechanism,
    state: State,
    user: Option<String>,
    /// Fixed server nonce, for the RFC test vectors.
    server_nonce: Option<String>,
}

/// Undoes SCRAM's `saslname` escaping (`=2C` → `,`, `=3D` → `=`).
fn unescape(name: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3);
        match code {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return Err(format!("Invalid SCRAM user name escape in {name:?}")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `x == y` in time independent of where they differ.
fn constant_time_eq(x: &[u8], y: &[u8]) -> bool {
    x.len() == y.len() && x.iter().zip(y).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

impl ScramServer {
    /// Starts an exchange for `mechanism`.
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        ScramServer {
            mechanism,
            state: State::AwaitClientFirst,
            user: None,
            server_nonce: None,
        }
    }

    /// An exchange with a fixed server nonce (tests only).
    pub fn with_server_nonce(mechanism: ScramMechanism, nonce: &str) -> ScramServer {
        ScramServer {
            server_nonce: Some(nonce.to_string()),
            ..ScramServer::new(mechanism)
        }
    }

    /// The mechanism name.
    pub fn mechanism(&self) -> ScramMechanism {
        self.mechanism
    }

    /// The user name the client claimed, once its first message was read.
    pub fn claimed_user(&self) -> Option<String> {
        self.user.clone()
    }

    /// Feeds one client message. Errors are Kafka's reason text.
    pub fn step(&mut self, users: &ScramUsers, token: &[u8]) -> std::result::Result<Step, String> {
        let text =
            std::str::from_utf8(token).map_err(|_| "Invalid UTF-8 in SCRAM message".to_string())?;
        match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitClientFirst => self.client_first(users, text),
            State::AwaitClientFinal {
                cred,
                client_first_bare,
                server_first,
                channel_binding,
                nonce,
            } => {
                let user = self.user.clone().unwrap_or_default();
                let (without_proof, proof) = text
                    .rsplit_once(",p=")
                    .ok_or("Invalid SCRAM client final message: no proof")?;
                let mut fields = without_proof.split(',');
                let c = fields.next().and_then(|f| f.strip_prefix("c="));
                let r = fields.next().and_then(|f| f.strip_prefix("r="));
                if c != Some(channel_binding.as_str()) {
                    return Err("Invalid SCRAM client final message: channel binding does not match the client first message".into());
                }
                if r != Some(nonce.as_str()) {
                    return Err("Invalid SCRAM client final message: invalid nonce".into());
                }
                let proof = B64
                    .decode(proof)
                    .map_err(|_| "Invalid SCRAM client proof: not base64".to_string())?;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let mech = self.mechanism;
                let client_signature = mech.hmac_sign(&cred.stored_key, auth_message.as_bytes());
                if proof.len() != client_signature.len() {
                    return Err("Invalid client credentials".into());
                }
                let client_key: Vec<u8> = proof
                    .iter()
                    .zip(&client_signature)
                    .map(|(a, b)| a ^ b)
                    .collect();
                let stored = digest::digest(mech.digest(), &client_key);
                if !constant_time_eq(stored.as_ref(), &cred.stored_key) {
                    return Err("Invalid client credentials".into());
                }
                let server_signature = mech.hmac_sign(&cred.server_key, auth_message.as_bytes());
                Ok(Step::Done {
                    principal: user,
                    reply: format!("v={}", B64.encode(server_signature)).into_bytes(),
                })
            }
            State::Done => Err("SCRAM exchange already finished".into()),
        }
    }

    fn client_first(
        &mut self,
        users: &ScramUsers,
        text: &str,
    ) -> std::result::Result<Step, String> {
        // gs2-header: cbind-flag "," [authzid] ","
        let mut parts = text.splitn(3, ',');
        let (flag, authzid, bare) = match (parts.next(), parts.next(), parts.next()) {
            (Some(f), Some(a), Some(b)) => (f, a, b),
            _ => return Err("Invalid SCRAM client first message".into()),
        };
        match flag {
            "n" | "y" => {}
            _ => {
                return Err(format!(
                    "Invalid SCRAM client first message: channel binding {flag:?} is not supported"
                ))
            }
        }
        let mut user = None;
        let mut client_nonce = None;
        for field in bare.split(',') {
            if let Some(u) = field.strip_prefix("n=") {
                user = Some(unescape(u)?);
            } else if let Some(r) = field.strip_prefix("r=") {
                client_nonce = Some(r);
            } else if field.starts_with("m=") {
                return Err("Invalid SCRAM client first message: mandatory extension".into());
            } else if field.starts_with("tokenauth=") {
                return Err("Delegation tokens are not supported by this listener".into());
            }
            // Other extensions (KIP-84) are ignored, as Kafka ignores
            // unknown ones.
        }
        let user = user
            .filter(|u| !u.is_empty())
            .ok_or("Invalid SCRAM client first message: no user name")?;
        self.user = Some(user.clone());
        let client_nonce = client_nonce
            .filter(|r| !r.is_empty())
            .ok_or("Invalid SCRAM client first message: no nonce")?;
        if let Some(a) = authzid.strip_prefix("a=") {
            if unescape(a)? != user {
                return Err(
                    "Authentication failed: Client requested an authorization id that is different from username"
                        .into(),
                );
            }
        } else if !authzid.is_empty() {
            return Err("Invalid SCRAM client first message: bad authorization id".into());
        }
        let cred = users
            .get(self.mechanism, &user)
            .ok_or("Authentication failed: Invalid user credentials")?
            .clone();
        let server_nonce = match &self.server_nonce {
            Some(n) => n.clone(),
            None => {
                let mut raw = [0u8; 18];
                SystemRandom::new()
                    .fill(&mut raw)
                    .map_err(|_| "no random numbers for the SCRAM nonce".to_string())?;
                B64.encode(raw)
            }
        };
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&cred.salt),
            cred.iterations
        );
        let gs2_header = &text[..flag.len() + authzid.len() + 2];
        self.state = State::AwaitClientFinal {
            cred,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            channel_binding: B64.encode(gs2_header),
            nonce,
        };
        Ok(Step::Continue(server_first.into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SCRAM client, written from RFC 5802 independently of the server.
    fn client_final(
        mech: ScramMechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> (String, String) {
        let field = |k: &str| {
            server_first
                .split(',')
                .find_map(|f| f.strip_prefix(k))
                .unwrap()
                .to_string()
        };
        let salt = B64.decode(field("s=")).unwrap();
        let iterations: u32 = field("i=").parse().unwrap();
        let mut salted = vec![0u8; mech.digest().output_len()];
        pbkdf2::derive(
            mech.pbkdf2(),
            NonZeroU32::new(iterations).unwrap(),
            &salt,
            password.as_bytes(),
            &mut salted,
        );
        let client_key = mech.hmac_sign(&salted, b"Client Key");
        let stored_key = digest::digest(mech.digest(), &client_key);
        let without_proof = format!("c=biws,r={}", field("r="));
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = mech.hmac_sign(stored_key.as_ref(), auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let server_key = mech.hmac_sign(&salted, b"Server Key");
        let server_sig = mech.hmac_sign(&server_key, auth.as_bytes());
        (
            format!("{without_proof},p={}", B64.encode(proof)),
            format!("v={}", B64.encode(server_sig)),
        )
    }

    fn users() -> ScramUsers {
        ScramUsers::from_plain(&PlainUsers::parse("mirror:Mirror-Pw\na,b=c:pw2\n").unwrap())
            .unwrap()
    }

    #[test]
    fn rfc7677_sha256_example() {
        let mut users = ScramUsers::default();
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let cred = ScramCredential::derive(ScramMechanism::Sha256, "pencil", &salt, 4096).unwrap();
        users.insert("user", cred, ScramMechanism::Sha256);
        let mut s = ScramServer::with_server_nonce(
            ScramMechanism::Sha256,
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        );
        assert_eq!(
            s.step(&users, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"),
            Ok(Step::Continue(
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                    .to_vec()
            ))
        );
        assert_eq!(
            s.step(&users, b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
            Ok(Step::Done {
                principal: "user".into(),
                reply: b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec()
            })
        );
        assert!(s.step(&users, b"again").is_err());
    }

    fn exchange(
        mech: ScramMechanism,
        users: &ScramUsers,
        escaped_user: &str,
        password: &str,
    ) -> (ScramServer, std::result::Result<Step, String>, String) {
        let mut s = ScramServer::new(mech);
        let bare = format!("n={escaped_user},r=fyko+d2lbbFgONRv9qkxdawL");
        let Ok(Step::Continue(first)) = s.step(users, format!("n,,{bare}").as_bytes()) else {
            panic!("no server-first message");
        };
        let first = String::from_utf8(first).unwrap();
        assert!(first.starts_with("r=fyko+d2lbbFgONRv9qkxdawL"), "{first}");
        assert!(first.ends_with(",i=4096"), "{first}");
        let (fin, want) = client_final(mech, password, &bare, &first);
        let r = s.step(users, fin.as_bytes());
        (s, r, want)
    }

    #[test]
    fn both_mechanisms_accept_the_password_and_reject_others() {
        let users = users();
        for mech in ScramMechanism::ALL {
            let (_, r, want) = exchange(mech, &users, "mirror", "Mirror-Pw");
            assert_eq!(
                r,
                Ok(Step::Done {
                    principal: "mirror".into(),
                    reply: want.into_bytes()
                }),
                "{mech:?}"
            );
            let (s, r, _) = exchange(mech, &users, "a=2Cb=3Dc", "pw2");
            assert!(matches!(r, Ok(Step::Done { ref principal, .. }) if principal == "a,b=c"));
            assert_eq!(s.claimed_user().as_deref(), Some("a,b=c"));
            let (s, r, _) = exchange(mech, &users, "mirror", "wrong");
            assert_eq!(r, Err("Invalid client credentials".to_string()), "{mech:?}");
            assert_eq!(s.claimed_user().as_deref(), Some("mirror"));
        }
    }

    #[test]
    fn salts_differ_and_mechanisms_do_not_mix() {
        let users = users();
        let a = users.get(ScramMechanism::Sha256, "mirror").unwrap();
        let b = users.get(ScramMechanism::Sha512, "mirror").unwrap();
        assert_ne!(a.salt, b.salt);
        assert_eq!(a.stored_key.len(), 32);
        assert_eq!(b.stored_key.len(), 64);
        // A SHA-256 proof sent in a SHA-512 exchange.
        let mut s = ScramServer::new(ScramMechanism::Sha512);
        let bare = "n=mirror,r=abc";
        let Ok(Step::Continue(first)) = s.step(&users, format!("n,,{bare}").as_bytes()) else {
            panic!()
        };
        let first = String::from_utf8(first).unwrap();
        let (fin, _) = client_final(ScramMechanism::Sha256, "Mirror-Pw", bare, &first);
        assert!(s.step(&users, fin.as_bytes()).is_err());
    }

    #[test]
    fn bad_client_messages_are_refused() {
        let users = users();
        let first = |m: &str| ScramServer::new(ScramMechanism::Sha256).step(&users, m.as_bytes());
        assert_eq!(
            first("n,,n=nobody,r=x"),
            Err("Authentication failed: Invalid user credentials".into())
        );
        assert!(first("p=tls-unique,,n=mirror,r=x").is_err());
        assert!(first("n,,n=mirror").is_err());
        assert!(first("n,,r=x").is_err());
        assert!(first("n,,n=mir=ror,r=x").is_err());
        assert!(first("n,a=other,n=mirror,r=x").is_err());
        assert!(first("n,,n=mirror,r=x,tokenauth=true").is_err());
        assert!(matches!(
            first("n,a=mirror,n=mirror,r=x"),
            Ok(Step::Continue(_))
        ));
        // A client-final with another nonce or channel binding.
        let mut s = ScramServer::new(ScramMechanism::Sha256);
        let Ok(Step::Continue(f)) = s.step(&users, b"n,,n=mirror,r=abc") else {
            panic!()
        };
        let f = String::from_utf8(f).unwrap();
        let (fin, _) = client_final(ScramMechanism::Sha256, "Mirror-Pw", "n=mirror,r=abc", &f);
        let mut s2 = ScramServer::new(ScramMechanism::Sha256);
        s2.step(&users, b"n,,n=mirror,r=abc").unwrap();
        assert!(
            s2.step(&users, fin.as_bytes()).is_err(),
            "other server nonce"
        );
        assert!(s
            .step(&users, fin.replace("c=biws", "c=eSws").as_bytes())
            .is_err());
    }
}
