//! Byte-level Opus work for Airwave, in plain Rust so it is testable without Node: Ogg pages and
//! streams (RFC 3533), Ogg Opus headers (RFC 7845), Opus packet structure (RFC 6716 §3), chunk
//! classification for ingest, and the ring of live chunks behind SSE resume.

pub mod classify;
pub mod error;
pub mod ogg_demux;
pub mod ogg_mux;
pub mod ogg_page;
pub mod opus_head;
pub mod opus_packet;
pub mod ring;

pub use error::{Error, ErrorCode, Result};
