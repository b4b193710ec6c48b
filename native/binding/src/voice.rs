//! `transcodeVoice`: a scanner call's audio to Opus voice packets on a worker thread (N-API async work), so the
//! event loop never waits for the encoder.

use std::panic::{AssertUnwindSafe, catch_unwind};

use napi::bindgen_prelude::{AsyncTask, Buffer, Uint8Array};
use napi::{Env, Task};
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

type Outcome = Result<voice_transcode::VoicePackets, (&'static str, String)>;

pub struct TranscodeVoiceTask {
    input: Vec<u8>,
    options: VoiceOptions,
}

impl Task for TranscodeVoiceTask {
    type Output = Outcome;
    type JsValue = VoiceTranscode;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let input = std::mem::take(&mut self.input);
        let options = self.options;
        Ok(match catch_unwind(AssertUnwindSafe(|| transcode_voice(&input, &options))) {
            Ok(Ok(packets)) => Ok(packets),
            Ok(Err(refusal)) => Err((refusal.code(), refusal.message().to_string())),
            Err(_) => Err(("INTERNAL", "the voice transcoder panicked; the call was abandoned".to_string())),
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(match output {
            Ok(packets) => VoiceTranscode {
                data: Some(packets.data.into()),
                ends: Some(packets.ends),
                input_rate: Some(packets.input_rate),
                codec: Some(packets.codec.to_string()),
                decoded_frames: Some(packets.decoded_frames as f64),
                refusal: None,
                message: None,
            },
            Err((code, message)) => VoiceTranscode {
                data: None,
                ends: None,
                input_rate: None,
                codec: None,
                decoded_frames: None,
                refusal: Some(code.to_string()),
                message: Some(message),
            },
        })
    }
}

/// Transcodes `input` (the whole file) off the event loop; resolves with packets or a refusal, never rejects for bad
/// input.
#[napi(ts_return_type = "Promise<VoiceTranscode>")]
pub fn transcode_voice_packets(
    input: Uint8Array,
    options: VoiceTranscodeOptions,
) -> AsyncTask<TranscodeVoiceTask> {
    let options = VoiceOptions {
        bitrate: options.bitrate.clamp(6_000, 510_000) as i32,
        complexity: options.complexity.min(10) as i32,
        max_seconds: options.max_seconds,
        max_output_bytes: options.max_output_bytes as usize,
    };
    AsyncTask::new(TranscodeVoiceTask { input: input.to_vec(), options })
}
