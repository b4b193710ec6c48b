//! `transcodeVoicePackets`: a scanner call's audio to Opus voice packets, synchronously. It is meant for a worker
//! thread that does nothing else (`src/platform/voice-workers.ts`): N-API async work would run on Bun's shared thread
//! pool, where a long call holds up every `node:fs` operation of the server for seconds.

use std::panic::{AssertUnwindSafe, catch_unwind};

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use voice_transcode::{VoiceOptions, transcode_voice};

#[napi(object)]
pub struct VoiceTranscodeOptions {
    /// Target bit rate, bit/s.
    pub bitrate: u32,
    /// libopus complexity 0–10.
    pub complexity: u32,
    /// Audio past this is dropped.
    pub max_seconds: u32,
    /// Encoding stops once the packets reach this many bytes.
    pub max_output_bytes: u32,
}

/// Either packets (`data`, packet `i` ending at `ends[i]`) or, when this path does not handle the file, `refusal`
/// (`UNSUPPORTED_AUDIO`, `UNDECODABLE_AUDIO`, or `INTERNAL` for a caught panic) and its `message`.
#[napi(object)]
pub struct VoiceTranscode {
    pub data: Option<Buffer>,
    pub ends: Option<Vec<u32>>,
    pub input_rate: Option<u32>,
    pub codec: Option<String>,
    pub decoded_frames: Option<f64>,
    pub refusal: Option<String>,
    pub message: Option<String>,
}

/// Transcodes `input` (the whole file) on the calling thread; returns packets or a refusal, never throws for bad
/// input, and a panic becomes the refusal `INTERNAL`.
#[napi]
pub fn transcode_voice_packets(input: &[u8], options: VoiceTranscodeOptions) -> VoiceTranscode {
    let options = VoiceOptions {
        bitrate: options.bitrate.clamp(6_000, 510_000) as i32,
        complexity: options.complexity.min(10) as i32,
        max_seconds: options.max_seconds,
        max_output_bytes: options.max_output_bytes as usize,
    };
    let refused = |code: &str, message: String| VoiceTranscode {
        data: None,
        ends: None,
        input_rate: None,
        codec: None,
        decoded_frames: None,
        refusal: Some(code.to_string()),
        message: Some(message),
    };
    match catch_unwind(AssertUnwindSafe(|| transcode_voice(input, &options))) {
        Ok(Ok(packets)) => VoiceTranscode {
            data: Some(packets.data.into()),
            ends: Some(packets.ends),
            input_rate: Some(packets.input_rate),
            codec: Some(packets.codec.to_string()),
            decoded_frames: Some(packets.decoded_frames as f64),
            refusal: None,
            message: None,
        },
        Ok(Err(refusal)) => refused(refusal.code(), refusal.message().to_string()),
        Err(_) => refused("INTERNAL", "the voice transcoder panicked; the call was abandoned".to_string()),
    }
}
