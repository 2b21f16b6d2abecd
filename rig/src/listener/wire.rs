//! Kafka framing and header handling on top of the `kafka-protocol` crate.
//!
//! Only the 4-byte big-endian length prefix is done by hand; headers and
//! bodies are always decoded and encoded with `kafka-protocol`, whose
//! `ApiKey` helpers give the header version for each api key and version.

use anyhow::{bail, Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame accepted (Kafka's default `socket.request.max.bytes`).
pub const MAX_FRAME: usize = 100 * 1024 * 1024;

/// A `StrBytes` from any string.
pub fn sb(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// Reads one length-prefixed frame; `Ok(None)` on a clean end of stream
/// before the first byte of a frame.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Bytes>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e).context("reading frame length"),
    }
    let n = i32::from_be_bytes(len);
    if n < 0 || n as usize > MAX_FRAME {
        bail!("invalid frame length {n}");
    }
    let mut buf = vec![0u8; n as usize];
    r.read_exact(&mut buf)
        .await
        .with_context(|| format!("reading a {n}-byte frame"))?;
    Ok(Some(Bytes::from(buf)))
}

/// Writes one length-prefixed frame and flushes.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> Result<()> {
    let len = i32::try_from(payload.len()).context("frame too large")?;
    let mut buf = Vec::with_capacity(payload.len() + 4);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(payload);
    w.write_all(&buf).await.context("writing frame")?;
    w.flush().await.context("flushing frame")?;
    Ok(())
}

/// One decoded request frame: its header and the still-encoded body.
#[derive(Debug, Clone)]
pub struct Request {
    /// The decoded request header.
    pub header: RequestHeader,
    /// The api key of the request.
    pub api_key: ApiKey,
    /// The body, after the header.
    pub body: Bytes,
    /// The whole frame payload (header and body), for relaying unchanged.
    pub raw: Bytes,
}

impl Request {
    /// The request's api version.
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    /// The request's correlation id.
    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }

    /// Decodes the body as `T` at the request's version.
    pub fn decode<T: Decodable>(&self) -> Result<T> {
        let mut b = self.body.clone();
        T::decode(&mut b, self.version()).with_context(|| {
            format!(
                "decoding {:?} v{} request body",
                self.api_key,
                self.version()
            )
        })
    }

    /// Re-encodes this request with a new body (same header), for relaying
    /// a request from which denied parts were removed.
    pub fn with_body<T: Encodable>(&self, body: &T) -> Result<Bytes> {
        encode_request(&self.header, body)
    }
}

/// Parses a request frame's header. Unknown api keys are an error: the
/// listener cannot authorize what it cannot decode.
pub fn parse_request(raw: Bytes) -> Result<Request> {
    if raw.len() < 4 {
        bail!("request frame of {} bytes is too short", raw.len());
    }
    let key = i16::from_be_bytes([raw[0], raw[1]]);
    let version = i16::from_be_bytes([raw[2], raw[3]]);
    let api_key = ApiKey::try_from(key).map_err(|_| anyhow::anyhow!("unknown api key {key}"))?;
    let mut buf = raw.clone();
    let header = RequestHeader::decode(&mut buf, api_key.request_header_version(version))
        .with_context(|| format!("decoding {api_key:?} v{version} request header"))?;
    Ok(Request {
        header,
        api_key,
        body: buf,
        raw,
    })
}

/// Encodes a request frame payload (header and body).
pub fn encode_request<T: Encodable>(header: &RequestHeader, body: &T) -> Result<Bytes> {
    let api_key = ApiKey::try_from(header.request_api_key)
        .map_err(|_| anyhow::anyhow!("unknown api key {}", header.request_api_key))?;
    let version = header.request_api_version;
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, api_key.request_header_version(version))
        .with_context(|| format!("encoding {api_key:?} v{version} request header"))?;
    body.encode(&mut buf, version)
        .with_context(|| format!("encoding {api_key:?} v{version} request body"))?;
    Ok(buf.freeze())
}

/// Encodes a response frame payload (header and body).
pub fn encode_response<T: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<Bytes> {
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, api_key.response_header_version(version))
        .with_context(|| format!("encoding {api_key:?} v{version} response header"))?;
    body.encode(&mut buf, version)
        .with_context(|| format!("encoding {api_key:?} v{version} response body"))?;
    Ok(buf.freeze())
}

/// Decodes a response frame payload as `T`.
pub fn decode_response<T: Decodable>(
    api_key: ApiKey,
    version: i16,
    raw: &Bytes,
) -> Result<(ResponseHeader, T)> {
    let mut buf = raw.clone();
    let header = ResponseHeader::decode(&mut buf, api_key.response_header_version(version))
        .with_context(|| format!("decoding {api_key:?} v{version} response header"))?;
    let body = T::decode(&mut buf, version)
        .with_context(|| format!("decoding {api_key:?} v{version} response body"))?;
    Ok((header, body))
}

/// The correlation id at the start of a response frame.
pub fn response_correlation_id(raw: &[u8]) -> Result<i32> {
    if raw.len() < 4 {
        bail!("response frame of {} bytes is too short", raw.len());
    }
    Ok(i32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]))
}
