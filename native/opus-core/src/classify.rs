//! One answer for ingest: is this chunk a raw Opus packet, Ogg Opus, or neither, and why.

use crate::error::ErrorCode;
use crate::ogg_demux::{Issue, OggDemuxer, Packet, Sink};
use crate::ogg_page::CAPTURE_PATTERN;
use crate::opus_head::{OPUS_HEAD_MAGIC, OPUS_TAGS_MAGIC, OpusHead, OpusTags};
use crate::opus_packet::inspect_packet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    OpusPacket,
    OggOpus,
    Neither,
}

impl ChunkKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpusPacket => "opus-packet",
            Self::OggOpus => "ogg-opus",
            Self::Neither => "neither",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub kind: ChunkKind,
    /// Why the chunk was rejected; `None` when it was accepted.
    pub code: Option<ErrorCode>,
    pub reason: String,
    /// Audio in the chunk at 48 kHz, headers excluded.
    pub duration_samples: u64,
}

impl Classification {
    fn accepted(kind: ChunkKind, reason: String, duration_samples: u64) -> Self {
        Self { kind, code: None, reason, duration_samples }
    }

    fn rejected(code: ErrorCode, reason: String) -> Self {
        Self { kind: ChunkKind::Neither, code: Some(code), reason, duration_samples: 0 }
    }
}

/// Classifies arbitrary bytes. No valid Opus packet starts with "OggS" ('O' is a code 3 TOC and 'g'
/// then asks for 39 frames of 40 ms, breaking R5), so the capture pattern decides which check applies.
pub fn classify_chunk(data: &[u8]) -> Classification {
    if data.starts_with(CAPTURE_PATTERN) {
        return classify_ogg(data);
    }
    match inspect_packet(data) {
        Ok(info) => {
            let toc = info.toc;
            let reason = format!(
                "raw Opus packet: {} {} {}, {} frame(s) of {} ms",
                toc.mode.as_str(),
                toc.bandwidth.as_str(),
                if toc.stereo { "stereo" } else { "mono" },
                info.frame_count,
                toc.frame_samples as f64 / 48.0,
            );
            Classification::accepted(ChunkKind::OpusPacket, reason, info.duration_samples() as u64)
        }
        Err(error) => Classification::rejected(
            error.code,
            format!("not Ogg, and not a valid Opus packet: {}", error.message),
        ),
    }
}

#[derive(Default)]
struct OggOpusCheck {
    rejection: Option<Classification>,
    audio_packets: usize,
    duration_samples: u64,
    head: Option<OpusHead>,
}

impl OggOpusCheck {
    fn reject(&mut self, code: ErrorCode, reason: String) {
        if self.rejection.is_none() {
            self.rejection = Some(Classification::rejected(code, reason));
        }
    }
}

impl Sink for OggOpusCheck {
    fn packet(&mut self, packet: Packet<'_>) {
        if self.rejection.is_some() {
            return;
        }
        let data = packet.data;
        if data.starts_with(OPUS_HEAD_MAGIC) {
            match OpusHead::parse(data) {
                Ok(head) => self.head = Some(head),
                Err(e) => self.reject(e.code, format!("Ogg stream with a bad OpusHead: {}", e.message)),
            }
        } else if packet.bos {
            let magic: String =
                data.iter().take(8).map(|&b| if b.is_ascii_graphic() { b as char } else { '.' }).collect();
            self.reject(
                ErrorCode::InvalidOpusHead,
                format!("Ogg stream of another codec (first packet starts {magic:?})"),
            );
        } else if data.starts_with(OPUS_TAGS_MAGIC) {
            if let Err(e) = OpusTags::parse(data) {
                self.reject(e.code, format!("Ogg stream with bad OpusTags: {}", e.message));
            }
        } else {
            match inspect_packet(data) {
                Ok(info) => {
                    self.audio_packets += 1;
                    self.duration_samples += info.duration_samples() as u64;
                }
                Err(e) => {
                    self.reject(e.code, format!("Ogg page holds an invalid Opus packet: {}", e.message))
                }
            }
        }
    }

    fn issue(&mut self, issue: Issue) {
        self.reject(issue.error.code, format!("bad Ogg at byte {}: {}", issue.offset, issue.error.message));
    }
}

/// Accepts complete, checksummed pages whose packets are Opus headers or valid Opus packets. A packet
/// left open at the end is fine (the next chunk continues it); a page cut short is not.
fn classify_ogg(data: &[u8]) -> Classification {
    let mut demuxer = OggDemuxer::default();
    let mut check = OggOpusCheck::default();
    demuxer.push(data, &mut check);
    if let Some(rejection) = check.rejection {
        return rejection;
    }
    if demuxer.buffered_len() > 0 {
        return Classification::rejected(
            ErrorCode::Truncated,
            format!("chunk ends {} bytes into an incomplete Ogg page", demuxer.buffered_len()),
        );
    }
    let head = match &check.head {
        Some(head) => {
            format!(", OpusHead with {} channel(s), pre-skip {}", head.channel_count, head.pre_skip)
        }
        None => String::new(),
    };
    let reason = format!(
        "Ogg Opus: {} audio packet(s), {} ms{head}",
        check.audio_packets,
        check.duration_samples as f64 / 48.0
    );
    Classification::accepted(ChunkKind::OggOpus, reason, check.duration_samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogg_mux::{MuxOptions, OggMuxer};
    use crate::ogg_page::{FLAG_BOS, PageSpec, write_page};

    fn ogg_opus(packets: &[&[u8]]) -> Vec<u8> {
        let head = OpusHead::new(2, 312, 48_000, 0).unwrap();
        let tags = OpusTags { vendor: "test".into(), comments: vec![] };
        let mut muxer = OggMuxer::new(&head, &tags, MuxOptions::new(3)).unwrap();
        for packet in packets {
            muxer.write_packet(packet).unwrap();
        }
        muxer.finish().unwrap();
        muxer.take_output()
    }

    #[test]
    fn raw_packets_are_accepted_with_their_duration() {
        let result = classify_chunk(&[(1 << 3) | 3, 0x85, 1, 1, 1, 1, 9, 9, 9, 9, 9]);
        assert_eq!(result.kind, ChunkKind::OpusPacket);
        assert_eq!(result.duration_samples, 4800);
        assert!(result.reason.contains("SILK NB mono, 5 frame(s) of 20 ms"), "{}", result.reason);
    }

    #[test]
    fn invalid_packets_are_neither_with_the_rule_code() {
        let empty = classify_chunk(&[]);
        assert_eq!((empty.kind, empty.code), (ChunkKind::Neither, Some(ErrorCode::InvalidToc)));
        let too_long = classify_chunk(&[(16 << 3) | 3, 49]);
        assert_eq!(too_long.code, Some(ErrorCode::DurationTooLong));
    }

    #[test]
    fn whole_ogg_opus_files_are_accepted() {
        let bytes = ogg_opus(&[&[31 << 3, 1, 2], &[31 << 3, 3]]);
        let result = classify_chunk(&bytes);
        assert_eq!(result.kind, ChunkKind::OggOpus, "{}", result.reason);
        assert_eq!(result.duration_samples, 1920);
        assert!(result.reason.contains("2 channel(s)"));
    }

    #[test]
    fn damaged_or_cut_ogg_is_neither() {
        let bytes = ogg_opus(&[&[31 << 3, 1, 2]]);
        let mut corrupt = bytes.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        assert_eq!(classify_chunk(&corrupt).code, Some(ErrorCode::CrcMismatch));
        assert_eq!(classify_chunk(&bytes[..bytes.len() - 1]).code, Some(ErrorCode::Truncated));
        assert_eq!(classify_chunk(b"OggS").code, Some(ErrorCode::Truncated));
    }

    #[test]
    fn ogg_of_another_codec_is_neither() {
        let mut vorbis = Vec::new();
        let body = b"\x01vorbis\0\0\0\0";
        write_page(
            &mut vorbis,
            &PageSpec {
                header_type: FLAG_BOS,
                granule_position: 0,
                serial: 1,
                sequence: 0,
                lacing: &[body.len() as u8],
                body,
            },
        );
        let result = classify_chunk(&vorbis);
        assert_eq!(result.code, Some(ErrorCode::InvalidOpusHead));
        assert!(result.reason.contains("another codec"), "{}", result.reason);
    }

    #[test]
    fn ogg_pages_holding_non_opus_packets_are_neither() {
        let mut page = Vec::new();
        write_page(
            &mut page,
            &PageSpec {
                header_type: 0,
                granule_position: 0,
                serial: 1,
                sequence: 4,
                lacing: &[2],
                body: &[(16 << 3) | 3, 0],
            },
        );
        assert_eq!(classify_chunk(&page).code, Some(ErrorCode::InvalidFrameCount));
    }

    #[test]
    fn mid_stream_pages_without_headers_are_ogg_opus() {
        let bytes = ogg_opus(&[&[31 << 3, 1, 2]]);
        let first_two = crate::ogg_page::parse_page(&bytes).unwrap().unwrap().len;
        let tags_len = crate::ogg_page::parse_page(&bytes[first_two..]).unwrap().unwrap().len;
        let result = classify_chunk(&bytes[first_two + tags_len..]);
        assert_eq!((result.kind, result.duration_samples), (ChunkKind::OggOpus, 960));
    }
}
