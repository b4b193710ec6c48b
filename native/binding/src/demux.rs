//! `OggDemuxer`: pushes bytes through the core demuxer and hands packets back as packed typed arrays.

use napi::bindgen_prelude::{Float64Array, Uint8Array, Uint32Array};
use napi_derive::napi;
use opus_core::ErrorCode;
use opus_core::ogg_demux::{self, Issue, Packet, Sink};
use opus_core::opus_packet::validate_packet;

use crate::{guard, js_error};

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

/// Fields per packet in [`PacketBatch::packets`]: start, end, page index, duration in 48 kHz samples.
const PACKET_FIELDS: usize = 4;

/// All packets of one push, packed into three typed arrays because each N-API value costs about a
/// microsecond, which dominates pushes of a few KiB. Packet bytes are not copied when they lie within
/// the pushed chunk: packet `i` spans `[start, end)` of the chunk followed by `spill`, where `spill`
/// holds only packets reassembled across pages or completed from bytes buffered by an earlier push.
#[napi(object)]
pub struct PacketBatch {
    pub count: u32,
    /// Per packet: start, end, page index, and duration at 48 kHz when the packet is a valid Opus
    /// packet (0 for headers and anything else).
    pub packets: Uint32Array,
    /// Per page: granule position, serial, sequence number, flags (bit 0 BOS, bit 1 EOS). Doubles hold
    /// granule positions exactly up to 2^53 samples, some 5,900 years at 48 kHz.
    pub pages: Float64Array,
    pub spill: Uint8Array,
    pub total_duration_samples: f64,
    pub issues: Vec<DemuxIssue>,
}

struct BatchSink<'chunk> {
    chunk: &'chunk [u8],
    spill: Vec<u8>,
    packets: Vec<u32>,
    pages: Vec<f64>,
    page_count: u32,
    total_duration_samples: u64,
    last_page_offset: Option<u64>,
    issues: Vec<DemuxIssue>,
}

impl<'chunk> BatchSink<'chunk> {
    fn new(chunk: &'chunk [u8]) -> Self {
        Self {
            chunk,
            spill: Vec::new(),
            packets: Vec::new(),
            pages: Vec::new(),
            page_count: 0,
            total_duration_samples: 0,
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
            count: (self.packets.len() / PACKET_FIELDS) as u32,
            packets: self.packets.into(),
            pages: self.pages.into(),
            spill: self.spill.into(),
            total_duration_samples: self.total_duration_samples as f64,
            issues: self.issues,
        }
    }
}

impl Sink for BatchSink<'_> {
    fn packet(&mut self, packet: Packet<'_>) {
        if self.last_page_offset != Some(packet.page_offset) {
            self.last_page_offset = Some(packet.page_offset);
            self.page_count += 1;
            let flags = packet.bos as u8 | (packet.eos as u8) << 1;
            self.pages.extend_from_slice(&[
                packet.granule_position as f64,
                packet.serial as f64,
                packet.page_sequence as f64,
                flags as f64,
            ]);
        }
        let (start, end) = self.locate(packet.data);
        let duration = validate_packet(packet.data).unwrap_or(0);
        self.packets.extend_from_slice(&[start, end, self.page_count - 1, duration]);
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
