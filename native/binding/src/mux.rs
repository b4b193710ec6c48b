//! `OggMuxer`: Opus packets in, Ogg Opus pages out.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;
use opus_core::ErrorCode;
use opus_core::ogg_mux::{self, MuxOptions};
use opus_core::opus_head::{OpusHead, OpusTags};

use crate::{guard, invalid_argument};

#[napi(object)]
pub struct OggMuxerOptions {
    /// Logical stream serial number; random when omitted.
    pub serial: Option<u32>,
    /// 1 or 2 (channel mapping family 0).
    pub channels: Option<u32>,
    /// Samples at 48 kHz the decoder should drop at the start; copy it from the encoder or source stream.
    pub pre_skip: Option<u32>,
    pub input_sample_rate: Option<u32>,
    /// Output gain in Q7.8 dB.
    pub output_gain: Option<i32>,
    pub vendor: Option<String>,
    /// `KEY=value` comments for OpusTags.
    pub comments: Option<Vec<String>>,
    pub max_page_bytes: Option<u32>,
    pub max_page_duration_samples: Option<u32>,
}

fn random_serial() -> u32 {
    RandomState::new().build_hasher().finish() as u32
}

/// Ogg Opus writer: every call returns the bytes of the pages it completed (often none).
#[napi]
pub struct OggMuxer {
    inner: ogg_mux::OggMuxer,
}

#[napi]
impl OggMuxer {
    #[napi(constructor)]
    pub fn new(options: Option<OggMuxerOptions>) -> napi::Result<Self, ErrorCode> {
        let options = options.unwrap_or(OggMuxerOptions {
            serial: None,
            channels: None,
            pre_skip: None,
            input_sample_rate: None,
            output_gain: None,
            vendor: None,
            comments: None,
            max_page_bytes: None,
            max_page_duration_samples: None,
        });
        guard(|| {
            let narrow = |value: Option<u32>, default: u32, max: u32, what: &str| {
                let value = value.unwrap_or(default);
                if value > max {
                    return Err(invalid_argument(format!("{what} must be at most {max}, got {value}")));
                }
                Ok(value)
            };
            let channels = narrow(options.channels, 1, u8::MAX as u32, "channels")? as u8;
            let pre_skip = narrow(options.pre_skip, 0, u16::MAX as u32, "preSkip")? as u16;
            let output_gain = options.output_gain.unwrap_or(0);
            let output_gain = i16::try_from(output_gain)
                .map_err(|_| invalid_argument(format!("outputGain must fit 16 bits, got {output_gain}")))?;
            let head =
                OpusHead::new(channels, pre_skip, options.input_sample_rate.unwrap_or(48_000), output_gain)?;
            let tags = OpusTags {
                vendor: options
                    .vendor
                    .unwrap_or_else(|| format!("airwave-native {}", env!("CARGO_PKG_VERSION"))),
                comments: options.comments.unwrap_or_default(),
            };
            let mut mux_options = MuxOptions::new(options.serial.unwrap_or_else(random_serial));
            if let Some(bytes) = options.max_page_bytes {
                mux_options.max_page_body = bytes as usize;
            }
            if let Some(samples) = options.max_page_duration_samples {
                mux_options.max_page_samples = samples as u64;
            }
            Ok(Self { inner: ogg_mux::OggMuxer::new(&head, &tags, mux_options)? })
        })
    }

    /// The OpusHead and OpusTags pages on the first call, then whatever pages have completed.
    #[napi]
    pub fn take_pages(&mut self) -> Uint8Array {
        self.inner.take_output().into()
    }

    /// Validates and adds one Opus packet; returns the pages completed so far (often empty).
    #[napi]
    pub fn write_packet(&mut self, packet: &[u8]) -> napi::Result<Uint8Array, ErrorCode> {
        guard(|| {
            self.inner.write_packet(packet)?;
            Ok(self.inner.take_output().into())
        })
    }

    /// Closes the open page so its audio can be sent now.
    #[napi]
    pub fn flush(&mut self) -> napi::Result<Uint8Array, ErrorCode> {
        guard(|| {
            self.inner.flush()?;
            Ok(self.inner.take_output().into())
        })
    }

    /// Writes the final page with the EOS flag and returns the remaining bytes.
    #[napi]
    pub fn finish(&mut self) -> napi::Result<Uint8Array, ErrorCode> {
        guard(|| {
            self.inner.finish()?;
            Ok(self.inner.take_output().into())
        })
    }

    /// Samples at 48 kHz written so far, pre-skip included.
    #[napi(getter)]
    pub fn granule_position(&self) -> f64 {
        self.inner.granule_position() as f64
    }
}
