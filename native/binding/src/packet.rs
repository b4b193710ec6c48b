//! Stateless calls: Opus packet inspection and validation, chunk classification, Ogg Opus headers.

use napi_derive::napi;
use opus_core::ErrorCode;
use opus_core::classify::classify_chunk as classify;
use opus_core::opus_head::{OpusHead, OpusTags};
use opus_core::opus_packet::{inspect_packet, validate_packet};

use crate::guard;

#[napi(object)]
pub struct OpusPacketInfo {
    pub config: u32,
    /// "SILK", "Hybrid" or "CELT".
    pub mode: String,
    /// "NB", "MB", "WB", "SWB" or "FB".
    pub bandwidth: String,
    pub stereo: bool,
    /// Frame packing code 0–3 from the TOC byte.
    pub frame_count_code: u32,
    pub frame_count: u32,
    /// Samples per frame at 48 kHz.
    pub frame_samples: u32,
    pub frame_lengths: Vec<u32>,
    pub vbr: bool,
    pub padding_bytes: u32,
    pub duration_samples: u32,
}

/// Parses and validates a packet (RFC 6716 §3); throws with the violated rule's code.
#[napi]
pub fn inspect_opus_packet(packet: &[u8]) -> napi::Result<OpusPacketInfo, ErrorCode> {
    guard(|| {
        let info = inspect_packet(packet)?;
        Ok(OpusPacketInfo {
            config: info.toc.config as u32,
            mode: info.toc.mode.as_str().to_string(),
            bandwidth: info.toc.bandwidth.as_str().to_string(),
            stereo: info.toc.stereo,
            frame_count_code: info.toc.frame_count_code as u32,
            frame_count: info.frame_count as u32,
            frame_samples: info.toc.frame_samples,
            frame_lengths: info.frame_lengths().iter().map(|&len| len as u32).collect(),
            vbr: info.vbr,
            padding_bytes: info.padding_len as u32,
            duration_samples: info.duration_samples(),
        })
    })
}

#[napi(object)]
pub struct PacketValidation {
    pub valid: bool,
    pub code: Option<String>,
    pub message: Option<String>,
    pub duration_samples: u32,
}

/// Checks R1–R7 without throwing.
#[napi]
pub fn validate_opus_packet(packet: &[u8]) -> napi::Result<PacketValidation, ErrorCode> {
    guard(|| {
        Ok(match validate_packet(packet) {
            Ok(duration_samples) => {
                PacketValidation { valid: true, code: None, message: None, duration_samples }
            }
            Err(error) => PacketValidation {
                valid: false,
                code: Some(error.code.as_str().to_string()),
                message: Some(error.message),
                duration_samples: 0,
            },
        })
    })
}

#[napi(object)]
pub struct ChunkClassification {
    /// "opus-packet", "ogg-opus" or "neither".
    pub kind: String,
    pub code: Option<String>,
    pub reason: String,
    pub duration_samples: f64,
}

#[napi]
pub fn classify_chunk(chunk: &[u8]) -> napi::Result<ChunkClassification, ErrorCode> {
    guard(|| {
        let result = classify(chunk);
        Ok(ChunkClassification {
            kind: result.kind.as_str().to_string(),
            code: result.code.map(|code| code.as_str().to_string()),
            reason: result.reason,
            duration_samples: result.duration_samples as f64,
        })
    })
}

#[napi(object)]
pub struct OpusHeadInfo {
    pub version: u32,
    pub channel_count: u32,
    pub pre_skip: u32,
    pub input_sample_rate: u32,
    /// Q7.8 dB.
    pub output_gain: i32,
    pub mapping_family: u32,
    pub stream_count: u32,
    pub coupled_count: u32,
    pub channel_mapping: Vec<u32>,
}

#[napi]
pub fn parse_opus_head(packet: &[u8]) -> napi::Result<OpusHeadInfo, ErrorCode> {
    guard(|| {
        let head = OpusHead::parse(packet)?;
        Ok(OpusHeadInfo {
            version: head.version as u32,
            channel_count: head.channel_count as u32,
            pre_skip: head.pre_skip as u32,
            input_sample_rate: head.input_sample_rate,
            output_gain: head.output_gain as i32,
            mapping_family: head.mapping_family as u32,
            stream_count: head.stream_count as u32,
            coupled_count: head.coupled_count as u32,
            channel_mapping: head.channel_mapping.iter().map(|&c| c as u32).collect(),
        })
    })
}

#[napi(object)]
pub struct OpusTagsInfo {
    pub vendor: String,
    pub comments: Vec<String>,
}

#[napi]
pub fn parse_opus_tags(packet: &[u8]) -> napi::Result<OpusTagsInfo, ErrorCode> {
    guard(|| {
        let tags = OpusTags::parse(packet)?;
        Ok(OpusTagsInfo { vendor: tags.vendor, comments: tags.comments })
    })
}
