//! The N-API face of `opus-core`: type conversion and error mapping only, so every rule lives (and is
//! tested) in the plain Rust crate. Errors reach JavaScript as `Error` with a stable `code` property;
//! a panic is caught at this boundary and becomes an `INTERNAL` error instead of taking Bun down.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};

use napi::bindgen_prelude::{Env, Float64Array, Uint8Array, Uint8ArraySlice, Uint16Array, Uint32Array};
use napi_derive::napi;
use opus_core::classify::classify_chunk as classify;
use opus_core::ogg_demux::{self, Issue, Packet, Sink};
use opus_core::ogg_mux::{self, MuxOptions};
use opus_core::opus_head::{OpusHead, OpusTags};
use opus_core::opus_packet::{inspect_packet, validate_packet};
use opus_core::{Error, ErrorCode, ring};

/// Runs `body`, turning a core error or a panic into a JS error with a stable code.
fn guard<T>(body: impl FnOnce() -> opus_core::Result<T>) -> napi::Result<T, ErrorCode> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(napi::Error::new(error.code, error.message)),
        Err(_) => {
            Err(napi::Error::new(ErrorCode::Internal, "the native addon panicked; the call was abandoned"))
        }
    }
}

fn invalid_argument(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidArgument, message)
}

fn js_error(code: ErrorCode, message: impl Into<String>) -> napi::Error<ErrorCode> {
    napi::Error::new(code, message.into())
}

/// Maps a failure in napi's own conversions (e.g. allocating a typed array) onto our codes.
fn from_napi(error: napi::Error) -> napi::Error<ErrorCode> {
    js_error(ErrorCode::Internal, error.reason.clone())
}

/// JS numbers are exact up to 2^53; sequences and sizes beyond that would silently round.
fn safe_integer(value: f64, what: &str) -> opus_core::Result<u64> {
    const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
    if value.fract() != 0.0 || !(0.0..=MAX_SAFE_INTEGER).contains(&value) {
        return Err(invalid_argument(format!("{what} must be a non-negative safe integer, got {value}")));
    }
    Ok(value as u64)
}

#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[napi(object)]
pub struct DemuxIssue {
    pub code: String,
    pub message: String,
    /// Byte offset of the problem from the start of everything pushed into the demuxer.
    pub offset: f64,
}

impl From<Issue> for DemuxIssue {
    fn from(issue: Issue) -> Self {
        Self {
            code: issue.error.code.as_str().to_string(),
            message: issue.error.message,
            offset: issue.offset as f64,
        }
    }
}

/// All packets of one push, as flat arrays. Packet bytes are not copied when they lie within the pushed
/// chunk: packet `i` spans `[starts[i], ends[i])` of the chunk followed by `spill`, where `spill` holds
/// only packets reassembled across pages or completed from bytes buffered by an earlier push. Page
/// metadata is stored once per page, and `pageIndexes[i]` says which page packet `i` completed on.
#[napi(object)]
pub struct PacketBatch {
    pub count: u32,
    pub starts: Uint32Array,
    pub ends: Uint32Array,
    pub spill: Uint8Array,
    pub page_indexes: Uint32Array,
    /// Duration at 48 kHz of each packet that is a valid Opus packet; 0 for headers and anything else.
    pub duration_samples: Uint16Array,
    pub total_duration_samples: f64,
    pub page_granule_positions: Float64Array,
    pub page_serials: Uint32Array,
    pub page_sequences: Uint32Array,
    /// Bit 0: beginning-of-stream page; bit 1: end-of-stream page.
    pub page_flags: Uint8Array,
    pub issues: Vec<DemuxIssue>,
}

struct BatchSink<'chunk> {
    chunk: &'chunk [u8],
    spill: Vec<u8>,
    starts: Vec<u32>,
    ends: Vec<u32>,
    page_indexes: Vec<u32>,
    duration_samples: Vec<u16>,
    total_duration_samples: u64,
    page_granule_positions: Vec<f64>,
    page_serials: Vec<u32>,
    page_sequences: Vec<u32>,
    page_flags: Vec<u8>,
    last_page_offset: Option<u64>,
    issues: Vec<DemuxIssue>,
}

impl<'chunk> BatchSink<'chunk> {
    fn new(chunk: &'chunk [u8]) -> Self {
        Self {
            chunk,
            spill: Vec::new(),
            starts: Vec::new(),
            ends: Vec::new(),
            page_indexes: Vec::new(),
            duration_samples: Vec::new(),
            total_duration_samples: 0,
            page_granule_positions: Vec::new(),
            page_serials: Vec::new(),
            page_sequences: Vec::new(),
            page_flags: Vec::new(),
            last_page_offset: None,
            issues: Vec::new(),
        }
    }

    /// Where `data` sits in the chunk-then-spill address space, copying it to the spill only when it
    /// is not part of the chunk.
    fn locate(&mut self, data: &[u8]) -> (u32, u32) {
        let chunk_start = self.chunk.as_ptr() as usize;
        let data_start = data.as_ptr() as usize;
        let start = if data_start >= chunk_start && data_start + data.len() <= chunk_start + self.chunk.len()
        {
            data_start - chunk_start
        } else {
            let start = self.chunk.len() + self.spill.len();
            self.spill.extend_from_slice(data);
            start
        };
        (start as u32, (start + data.len()) as u32)
    }

    fn into_batch(self) -> PacketBatch {
        PacketBatch {
            count: self.starts.len() as u32,
            starts: self.starts.into(),
            ends: self.ends.into(),
            spill: self.spill.into(),
            page_indexes: self.page_indexes.into(),
            duration_samples: self.duration_samples.into(),
            total_duration_samples: self.total_duration_samples as f64,
            page_granule_positions: self.page_granule_positions.into(),
            page_serials: self.page_serials.into(),
            page_sequences: self.page_sequences.into(),
            page_flags: self.page_flags.into(),
            issues: self.issues,
        }
    }
}

impl Sink for BatchSink<'_> {
    fn packet(&mut self, packet: Packet<'_>) {
        if self.last_page_offset != Some(packet.page_offset) {
            self.last_page_offset = Some(packet.page_offset);
            self.page_granule_positions.push(packet.granule_position as f64);
            self.page_serials.push(packet.serial);
            self.page_sequences.push(packet.page_sequence);
            self.page_flags.push(packet.bos as u8 | (packet.eos as u8) << 1);
        }
        let (start, end) = self.locate(packet.data);
        self.starts.push(start);
        self.ends.push(end);
        self.page_indexes.push(self.page_serials.len() as u32 - 1);
        // At most 5760 (120 ms), so 16 bits hold it.
        let duration = validate_packet(packet.data).unwrap_or(0);
        self.duration_samples.push(duration as u16);
        self.total_duration_samples += duration as u64;
    }

    fn issue(&mut self, issue: Issue) {
        self.issues.push(issue.into());
    }
}

/// Streaming Ogg demuxer: push bytes in any split, get complete packets back.
#[napi]
pub struct OggDemuxer {
    inner: ogg_demux::OggDemuxer,
}

#[napi]
impl OggDemuxer {
    #[napi(constructor)]
    pub fn new(max_packet_bytes: Option<u32>) -> Self {
        let limit = max_packet_bytes.map_or(ogg_demux::DEFAULT_MAX_PACKET_LEN, |n| n as usize);
        Self { inner: ogg_demux::OggDemuxer::new(limit) }
    }

    /// Demuxes `chunk`, returning every packet it completed in one flat batch: a handful of N-API
    /// values per call instead of several per packet, and no copy of packets the chunk already holds.
    #[napi]
    pub fn push_batch(&mut self, chunk: &[u8]) -> napi::Result<PacketBatch, ErrorCode> {
        // Addresses span the chunk plus the spill, which is at most the chunk plus buffered bytes.
        if chunk.len() > (u32::MAX / 2) as usize {
            return Err(js_error(ErrorCode::InvalidArgument, "push at most 2 GiB at once"));
        }
        guard(|| {
            let mut sink = BatchSink::new(chunk);
            self.inner.push(chunk, &mut sink);
            Ok(sink.into_batch())
        })
    }

    /// Ends the input: anything left incomplete is reported as `TRUNCATED`.
    #[napi]
    pub fn finish(&mut self) -> napi::Result<Vec<DemuxIssue>, ErrorCode> {
        guard(|| {
            let mut sink = BatchSink::new(&[]);
            self.inner.finish(&mut sink);
            Ok(sink.issues)
        })
    }

    /// Bytes held back waiting for the rest of a page.
    #[napi(getter)]
    pub fn buffered_bytes(&self) -> u32 {
        self.inner.buffered_len() as u32
    }
}

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

#[napi(object)]
pub struct RingEntry<'env> {
    pub sequence: f64,
    pub timestamp: f64,
    pub data: Uint8ArraySlice<'env>,
}

/// Bounded ring of live chunks: push evicts the oldest; readAfter serves SSE resume.
#[napi]
pub struct ChunkRing {
    inner: ring::ChunkRing,
}

fn ring_entries<'env, 'r>(
    env: &'env Env,
    entries: impl Iterator<Item = ring::Entry<'r>>,
) -> napi::Result<Vec<RingEntry<'env>>, ErrorCode> {
    entries
        .map(|entry| {
            Ok(RingEntry {
                sequence: entry.sequence as f64,
                timestamp: entry.timestamp,
                data: Uint8ArraySlice::copy_from(env, entry.data).map_err(from_napi)?,
            })
        })
        .collect()
}

#[napi]
impl ChunkRing {
    /// Holds at most `capacity` chunks and `maxBytes` bytes; the first chunk gets `firstSequence`
    /// (default 1).
    #[napi(constructor)]
    pub fn new(capacity: u32, max_bytes: f64, first_sequence: Option<f64>) -> napi::Result<Self, ErrorCode> {
        guard(|| {
            let max_bytes = safe_integer(max_bytes, "maxBytes")?;
            let max_bytes =
                usize::try_from(max_bytes).map_err(|_| invalid_argument("maxBytes is too large"))?;
            let first_sequence = safe_integer(first_sequence.unwrap_or(1.0), "firstSequence")?;
            Ok(Self { inner: ring::ChunkRing::new(capacity as usize, max_bytes, first_sequence)? })
        })
    }

    /// Copies `data` in and returns its sequence number.
    #[napi]
    pub fn push(&mut self, data: &[u8], timestamp: f64) -> napi::Result<f64, ErrorCode> {
        guard(|| self.inner.push(data, timestamp).map(|sequence| sequence as f64))
    }

    /// Entries newer than `sequence`, oldest first, at most `limit` of them.
    #[napi]
    pub fn read_after<'env>(
        &self,
        env: &'env Env,
        sequence: f64,
        limit: Option<u32>,
    ) -> napi::Result<Vec<RingEntry<'env>>, ErrorCode> {
        // A negative sequence means "from the start"; it is not an error.
        let sequence =
            if sequence < 0.0 { None } else { Some(guard(|| safe_integer(sequence, "sequence"))?) };
        let limit = limit.map_or(usize::MAX, |n| n as usize);
        match sequence {
            Some(sequence) => ring_entries(env, self.inner.read_after(sequence).take(limit)),
            None => ring_entries(env, self.inner.latest(usize::MAX).take(limit)),
        }
    }

    /// The newest `count` entries, oldest first.
    #[napi]
    pub fn latest<'env>(&self, env: &'env Env, count: u32) -> napi::Result<Vec<RingEntry<'env>>, ErrorCode> {
        ring_entries(env, self.inner.latest(count as usize))
    }

    #[napi(getter)]
    pub fn length(&self) -> u32 {
        self.inner.len() as u32
    }

    #[napi(getter)]
    pub fn total_bytes(&self) -> f64 {
        self.inner.total_bytes() as f64
    }

    #[napi(getter)]
    pub fn capacity(&self) -> u32 {
        self.inner.capacity() as u32
    }

    #[napi(getter)]
    pub fn max_bytes(&self) -> f64 {
        self.inner.byte_budget() as f64
    }

    #[napi(getter)]
    pub fn oldest_sequence(&self) -> Option<f64> {
        self.inner.oldest_sequence().map(|s| s as f64)
    }

    #[napi(getter)]
    pub fn newest_sequence(&self) -> Option<f64> {
        self.inner.newest_sequence().map(|s| s as f64)
    }

    #[napi(getter)]
    pub fn next_sequence(&self) -> f64 {
        self.inner.next_sequence() as f64
    }
}

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
