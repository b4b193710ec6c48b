//! Streaming Ogg demuxer (RFC 3533). Bytes go in with any split; complete packets come out through a
//! callback, borrowed straight from the input whenever a packet lies within one page. Damage never
//! stops the stream: a bad page is reported as an [`Issue`] and the demuxer resyncs on the next
//! capture pattern.

use crate::error::{Error, ErrorCode};
use crate::ogg_page::{CAPTURE_PATTERN, MAX_SEGMENT_LEN, Page, find_capture_pattern, parse_page};

/// Default limit on one reassembled packet. Opus audio packets stay under 64 KiB; this leaves room for
/// OpusTags carrying cover art while keeping a hostile stream from growing memory without bound.
pub const DEFAULT_MAX_PACKET_LEN: usize = 16 * 1024 * 1024;
/// Logical streams tracked at once; older ones are forgotten first. Chained radio streams end each
/// stream with EOS, so only damaged or hostile input gets near this.
const MAX_TRACKED_STREAMS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub data: &'a [u8],
    /// Granule position of the page on which the packet completes.
    pub granule_position: i64,
    pub serial: u32,
    pub page_sequence: u32,
    /// The packet completes on a beginning-of-stream page.
    pub bos: bool,
    /// The packet completes on an end-of-stream page.
    pub eos: bool,
    /// Stream offset of the page on which the packet completes; tells packets of one page apart from
    /// the next page's, even in a damaged stream that repeats sequence numbers.
    pub page_offset: u64,
}

/// A problem found in the stream, located by its byte offset from the start of all input pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub error: Error,
    pub offset: u64,
}

pub trait Sink {
    fn packet(&mut self, packet: Packet<'_>);
    fn issue(&mut self, issue: Issue);
}

struct StreamState {
    serial: u32,
    next_sequence: u32,
    /// Bytes of a packet that continues on the next page.
    partial: Vec<u8>,
    has_partial: bool,
    /// Set while dropping the rest of a packet that exceeded the size limit.
    discarding: bool,
}

pub struct OggDemuxer {
    /// Input not yet consumed: an incomplete page, or a tail that may start a capture pattern.
    pending: Vec<u8>,
    /// Stream offset of `pending[0]`.
    pending_offset: u64,
    streams: Vec<StreamState>,
    max_packet_len: usize,
    /// True after damage until the next good page, so one damaged stretch is reported once.
    resyncing: bool,
}

impl Default for OggDemuxer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PACKET_LEN)
    }
}

impl OggDemuxer {
    pub fn new(max_packet_len: usize) -> Self {
        Self { pending: Vec::new(), pending_offset: 0, streams: Vec::new(), max_packet_len, resyncing: false }
    }

    /// Bytes held back waiting for the rest of a page.
    pub fn buffered_len(&self) -> usize {
        self.pending.len()
    }

    /// Feeds bytes. Packets and issues found are delivered to `sink` before this returns.
    pub fn push(&mut self, input: &[u8], sink: &mut impl Sink) {
        if self.pending.is_empty() {
            let consumed = self.parse(input, self.pending_offset, sink);
            self.pending.extend_from_slice(&input[consumed..]);
            self.pending_offset += consumed as u64;
        } else {
            let mut buffer = std::mem::take(&mut self.pending);
            buffer.extend_from_slice(input);
            let consumed = self.parse(&buffer, self.pending_offset, sink);
            buffer.drain(..consumed);
            self.pending = buffer;
            self.pending_offset += consumed as u64;
        }
    }

    /// Declares the end of input: a half-received page or a packet still waiting for its continuation
    /// is reported as truncated. The demuxer is then ready for a new stream.
    pub fn finish(&mut self, sink: &mut impl Sink) {
        let end = self.pending_offset + self.pending.len() as u64;
        if !self.pending.is_empty() && !self.resyncing {
            sink.issue(Issue {
                error: Error::new(
                    ErrorCode::Truncated,
                    format!("input ends {} bytes into an incomplete Ogg page", self.pending.len()),
                ),
                offset: self.pending_offset,
            });
        }
        for stream in self.streams.iter().filter(|s| s.has_partial) {
            sink.issue(Issue {
                error: Error::new(
                    ErrorCode::Truncated,
                    format!("stream {:#x} ends inside a packet continued across pages", stream.serial),
                ),
                offset: end,
            });
        }
        self.pending.clear();
        self.pending_offset = end;
        self.streams.clear();
        self.resyncing = false;
    }

    /// Parses as many pages as `buf` holds and returns how many bytes were consumed.
    fn parse(&mut self, buf: &[u8], base_offset: u64, sink: &mut impl Sink) -> usize {
        let mut pos = 0;
        while pos < buf.len() {
            let rest = &buf[pos..];
            match parse_page(rest) {
                Ok(Some(page)) => {
                    self.resyncing = false;
                    self.handle_page(&page, base_offset + pos as u64, sink);
                    pos += page.len;
                }
                Ok(None) => break,
                Err(error) => {
                    // Garbage between pages is one issue per stretch; a bad page that did have a
                    // capture pattern is always worth its own report.
                    let at_capture = rest.starts_with(CAPTURE_PATTERN);
                    if at_capture || !self.resyncing {
                        sink.issue(Issue { error, offset: base_offset + pos as u64 });
                    }
                    self.resyncing = true;
                    match find_capture_pattern(&rest[1..]) {
                        Some(skip) => pos += 1 + skip,
                        None => {
                            // Keep a tail that could be the start of a capture pattern split across pushes.
                            let keep = (1..CAPTURE_PATTERN.len())
                                .rev()
                                .find(|&n| rest.len() > n && rest.ends_with(&CAPTURE_PATTERN[..n]))
                                .unwrap_or(0);
                            pos = buf.len() - keep;
                        }
                    }
                }
            }
        }
        pos
    }

    fn stream_index(&mut self, serial: u32, sequence: u32) -> usize {
        if let Some(index) = self.streams.iter().position(|s| s.serial == serial) {
            return index;
        }
        if self.streams.len() == MAX_TRACKED_STREAMS {
            self.streams.remove(0);
        }
        self.streams.push(StreamState {
            serial,
            next_sequence: sequence,
            partial: Vec::new(),
            has_partial: false,
            discarding: false,
        });
        self.streams.len() - 1
    }

    fn handle_page(&mut self, page: &Page<'_>, offset: u64, sink: &mut impl Sink) {
        let index = self.stream_index(page.serial, page.sequence);
        let max_packet_len = self.max_packet_len;
        let stream = &mut self.streams[index];

        if stream.has_partial && page.sequence != stream.next_sequence {
            sink.issue(Issue {
                error: Error::new(
                    ErrorCode::PageSequenceGap,
                    format!(
                        "stream {:#x} jumped from page {} to {}, dropping the packet that spanned the gap",
                        page.serial, stream.next_sequence, page.sequence
                    ),
                ),
                offset,
            });
            stream.partial.clear();
            stream.has_partial = false;
        }
        stream.next_sequence = page.sequence.wrapping_add(1);

        let mut lacing = page.lacing;
        let mut body = page.body;
        if page.is_continued() {
            if !stream.has_partial {
                // The start of this packet was never seen (joined mid-stream or lost to damage): skip
                // its remaining segments.
                let segments = lacing
                    .iter()
                    .position(|&v| (v as usize) < MAX_SEGMENT_LEN)
                    .map_or(lacing.len(), |i| i + 1);
                let skipped: usize = lacing[..segments].iter().map(|&v| v as usize).sum();
                lacing = &lacing[segments..];
                body = &body[skipped..];
            }
        } else if stream.has_partial {
            sink.issue(Issue {
                error: Error::new(
                    ErrorCode::Truncated,
                    format!(
                        "stream {:#x}: page {} does not continue the packet left open",
                        page.serial, page.sequence
                    ),
                ),
                offset,
            });
            stream.partial.clear();
            stream.has_partial = false;
            stream.discarding = false;
        }

        let mut packet_start = 0;
        let mut packet_end = 0;
        for &value in lacing {
            packet_end += value as usize;
            if (value as usize) == MAX_SEGMENT_LEN {
                continue;
            }
            let segment_data = &body[packet_start..packet_end];
            packet_start = packet_end;
            let packet = |data| Packet {
                data,
                granule_position: page.granule_position,
                serial: page.serial,
                page_sequence: page.sequence,
                bos: page.is_bos(),
                eos: page.is_eos(),
                page_offset: offset,
            };
            if stream.has_partial {
                stream.has_partial = false;
                if std::mem::take(&mut stream.discarding) {
                    continue;
                }
                if stream.partial.len() + segment_data.len() > max_packet_len {
                    sink.issue(packet_too_large(page.serial, max_packet_len, offset));
                    stream.partial.clear();
                    continue;
                }
                stream.partial.extend_from_slice(segment_data);
                sink.packet(packet(&stream.partial));
                stream.partial.clear();
            } else if segment_data.len() > max_packet_len {
                sink.issue(packet_too_large(page.serial, max_packet_len, offset));
            } else {
                sink.packet(packet(segment_data));
            }
        }

        let open_tail = &body[packet_start..];
        if lacing.last() == Some(&(MAX_SEGMENT_LEN as u8)) {
            if !stream.has_partial {
                stream.has_partial = true;
                stream.discarding = false;
            }
            if !stream.discarding {
                if stream.partial.len() + open_tail.len() > max_packet_len {
                    sink.issue(packet_too_large(page.serial, max_packet_len, offset));
                    stream.partial.clear();
                    stream.discarding = true;
                } else {
                    stream.partial.extend_from_slice(open_tail);
                }
            }
        }

        if page.is_eos() {
            let serial = page.serial;
            if let Some(ended) = self.streams.iter().position(|s| s.serial == serial) {
                if self.streams[ended].has_partial {
                    sink.issue(Issue {
                        error: Error::new(
                            ErrorCode::Truncated,
                            format!("stream {serial:#x} ended inside a packet continued across pages"),
                        ),
                        offset,
                    });
                }
                self.streams.remove(ended);
            }
        }
    }
}

fn packet_too_large(serial: u32, limit: usize, offset: u64) -> Issue {
    Issue {
        error: Error::new(
            ErrorCode::PacketTooLarge,
            format!("stream {serial:#x} has a packet over {limit} bytes"),
        ),
        offset,
    }
}

/// Collects everything into owned values; handy for tests and small inputs.
#[derive(Debug, Default)]
pub struct CollectSink {
    pub packets: Vec<OwnedPacket>,
    pub issues: Vec<Issue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedPacket {
    pub data: Vec<u8>,
    pub granule_position: i64,
    pub serial: u32,
    pub page_sequence: u32,
    pub bos: bool,
    pub eos: bool,
}

impl Sink for CollectSink {
    fn packet(&mut self, packet: Packet<'_>) {
        self.packets.push(OwnedPacket {
            data: packet.data.to_vec(),
            granule_position: packet.granule_position,
            serial: packet.serial,
            page_sequence: packet.page_sequence,
            bos: packet.bos,
            eos: packet.eos,
        });
    }

    fn issue(&mut self, issue: Issue) {
        self.issues.push(issue);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogg_page::{FLAG_BOS, FLAG_CONTINUED, FLAG_EOS, PageSpec, write_page};

    fn page(
        out: &mut Vec<u8>,
        header_type: u8,
        serial: u32,
        sequence: u32,
        granule: i64,
        segments: &[&[u8]],
    ) {
        let mut lacing = Vec::new();
        let mut body = Vec::new();
        for segment in segments {
            lacing.push(segment.len() as u8);
            body.extend_from_slice(segment);
        }
        write_page(
            out,
            &PageSpec {
                header_type,
                granule_position: granule,
                serial,
                sequence,
                lacing: &lacing,
                body: &body,
            },
        );
    }

    fn demux_all(input: &[u8]) -> CollectSink {
        let mut demuxer = OggDemuxer::default();
        let mut sink = CollectSink::default();
        demuxer.push(input, &mut sink);
        demuxer.finish(&mut sink);
        sink
    }

    fn datas(sink: &CollectSink) -> Vec<Vec<u8>> {
        sink.packets.iter().map(|p| p.data.clone()).collect()
    }

    /// Three pages: two small packets, a 600-byte packet spanning pages 1–2, and an EOS packet.
    fn sample_stream() -> (Vec<u8>, Vec<Vec<u8>>) {
        let big: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        page(&mut out, FLAG_BOS, 9, 0, 0, &[b"first"]);
        let mut lacing = vec![1u8, 255, 255];
        let mut body = b"a".to_vec();
        body.extend_from_slice(&big[..510]);
        write_page(
            &mut out,
            &PageSpec {
                header_type: 0,
                granule_position: 960,
                serial: 9,
                sequence: 1,
                lacing: &lacing,
                body: &body,
            },
        );
        lacing = vec![90, 3];
        body = big[510..].to_vec();
        body.extend_from_slice(b"end");
        write_page(
            &mut out,
            &PageSpec {
                header_type: FLAG_CONTINUED | FLAG_EOS,
                granule_position: 2880,
                serial: 9,
                sequence: 2,
                lacing: &lacing,
                body: &body,
            },
        );
        (out, vec![b"first".to_vec(), b"a".to_vec(), big, b"end".to_vec()])
    }

    #[test]
    fn demuxes_pages_and_reassembles_continued_packets() {
        let (stream, expected) = sample_stream();
        let sink = demux_all(&stream);
        assert!(sink.issues.is_empty(), "{:?}", sink.issues);
        assert_eq!(datas(&sink), expected);
        let granules: Vec<i64> = sink.packets.iter().map(|p| p.granule_position).collect();
        assert_eq!(granules, vec![0, 960, 2880, 2880]);
        assert!(sink.packets[0].bos && !sink.packets[1].bos);
        assert!(sink.packets[3].eos && sink.packets[2].eos);
        assert_eq!(sink.packets[2].page_sequence, 2);
    }

    #[test]
    fn any_split_gives_the_same_packets() {
        let (stream, expected) = sample_stream();
        for chunk_len in [1, 2, 3, 7, 27, 28, 100, 511] {
            let mut demuxer = OggDemuxer::default();
            let mut sink = CollectSink::default();
            for chunk in stream.chunks(chunk_len) {
                demuxer.push(chunk, &mut sink);
            }
            demuxer.finish(&mut sink);
            assert!(sink.issues.is_empty(), "chunk {chunk_len}: {:?}", sink.issues);
            assert_eq!(datas(&sink), expected, "chunk {chunk_len}");
        }
    }

    #[test]
    fn lacing_value_255_then_0_ends_a_packet_of_exactly_255_bytes() {
        let exact = vec![7u8; 255];
        let mut out = Vec::new();
        let mut body = exact.clone();
        body.push(1);
        write_page(
            &mut out,
            &PageSpec {
                header_type: 0,
                granule_position: 0,
                serial: 1,
                sequence: 0,
                lacing: &[255, 0, 1],
                body: &body,
            },
        );
        assert_eq!(datas(&demux_all(&out)), vec![exact, vec![1]]);
    }

    #[test]
    fn zero_length_packets_are_delivered() {
        let mut out = Vec::new();
        page(&mut out, 0, 1, 0, 0, &[b"", b"x", b""]);
        assert_eq!(datas(&demux_all(&out)), vec![vec![], b"x".to_vec(), vec![]]);
    }

    #[test]
    fn interleaved_logical_streams_keep_their_own_continuations() {
        let mut out = Vec::new();
        let long_a = vec![0xaa; 300];
        let long_b = vec![0xbb; 255];
        write_page(
            &mut out,
            &PageSpec {
                header_type: FLAG_BOS,
                granule_position: -1,
                serial: 1,
                sequence: 0,
                lacing: &[255],
                body: &long_a[..255],
            },
        );
        write_page(
            &mut out,
            &PageSpec {
                header_type: FLAG_BOS,
                granule_position: -1,
                serial: 2,
                sequence: 0,
                lacing: &[255],
                body: &long_b,
            },
        );
        page(&mut out, FLAG_CONTINUED, 1, 1, 10, &[&long_a[255..]]);
        page(&mut out, FLAG_CONTINUED, 2, 1, 20, &[b""]);
        let sink = demux_all(&out);
        assert!(sink.issues.is_empty(), "{:?}", sink.issues);
        let by_stream: Vec<(u32, usize, i64)> =
            sink.packets.iter().map(|p| (p.serial, p.data.len(), p.granule_position)).collect();
        assert_eq!(by_stream, vec![(1, 300, 10), (2, 255, 20)]);
    }

    #[test]
    fn crc_mismatch_is_reported_and_the_next_page_still_demuxes() {
        let mut out = Vec::new();
        page(&mut out, FLAG_BOS, 1, 0, 0, &[b"one"]);
        let second = out.len();
        page(&mut out, 0, 1, 1, 960, &[b"two"]);
        page(&mut out, 0, 1, 2, 1920, &[b"three"]);
        out[second + 28] ^= 0xff;
        let sink = demux_all(&out);
        assert_eq!(datas(&sink), vec![b"one".to_vec(), b"three".to_vec()]);
        assert_eq!(sink.issues.len(), 1);
        assert_eq!(sink.issues[0].error.code, ErrorCode::CrcMismatch);
        assert_eq!(sink.issues[0].offset, second as u64);
    }

    #[test]
    fn garbage_between_pages_is_one_issue_and_skipped() {
        let mut out = Vec::new();
        page(&mut out, 0, 1, 0, 0, &[b"one"]);
        let garbage_at = out.len();
        out.extend_from_slice(b"this is not ogg at all, OggX nope");
        page(&mut out, 0, 1, 1, 0, &[b"two"]);
        for chunk_len in [1, 5, out.len()] {
            let mut demuxer = OggDemuxer::default();
            let mut sink = CollectSink::default();
            for chunk in out.chunks(chunk_len) {
                demuxer.push(chunk, &mut sink);
            }
            demuxer.finish(&mut sink);
            assert_eq!(datas(&sink), vec![b"one".to_vec(), b"two".to_vec()], "chunk {chunk_len}");
            assert_eq!(sink.issues.len(), 1, "chunk {chunk_len}: {:?}", sink.issues);
            assert_eq!(sink.issues[0].error.code, ErrorCode::InvalidPage);
            assert_eq!(sink.issues[0].offset, garbage_at as u64);
        }
    }

    #[test]
    fn truncated_input_is_reported_at_finish() {
        let (stream, _) = sample_stream();
        let cut = stream.len() - 10;
        let sink = demux_all(&stream[..cut]);
        let codes: Vec<ErrorCode> = sink.issues.iter().map(|i| i.error.code).collect();
        assert_eq!(codes, vec![ErrorCode::Truncated, ErrorCode::Truncated], "partial page and open packet");
        assert_eq!(datas(&sink), vec![b"first".to_vec(), b"a".to_vec()]);
    }

    #[test]
    fn a_lost_page_drops_the_spanning_packet_with_a_sequence_gap() {
        let (stream, _) = sample_stream();
        let first_len = parse_page(&stream).unwrap().unwrap().len;
        let second_len = parse_page(&stream[first_len..]).unwrap().unwrap().len;
        let mut out = stream[..first_len + second_len].to_vec();
        let mut gap = Vec::new();
        page(&mut gap, FLAG_CONTINUED, 9, 3, 5000, &[b"tail", b"next"]);
        out.extend_from_slice(&gap);
        let sink = demux_all(&out);
        assert_eq!(
            sink.issues.iter().map(|i| i.error.code).collect::<Vec<_>>(),
            vec![ErrorCode::PageSequenceGap]
        );
        assert_eq!(datas(&sink), vec![b"first".to_vec(), b"a".to_vec(), b"next".to_vec()]);
    }

    #[test]
    fn a_page_that_fails_to_continue_an_open_packet_is_reported() {
        let mut out = Vec::new();
        write_page(
            &mut out,
            &PageSpec {
                header_type: 0,
                granule_position: -1,
                serial: 1,
                sequence: 0,
                lacing: &[255],
                body: &[1; 255],
            },
        );
        page(&mut out, 0, 1, 1, 0, &[b"fresh"]);
        let sink = demux_all(&out);
        assert_eq!(sink.issues.iter().map(|i| i.error.code).collect::<Vec<_>>(), vec![ErrorCode::Truncated]);
        assert_eq!(datas(&sink), vec![b"fresh".to_vec()]);
    }

    #[test]
    fn joining_mid_packet_skips_the_unseen_start_silently() {
        let mut out = Vec::new();
        page(&mut out, FLAG_CONTINUED, 1, 5, 0, &[b"rest of old", b"new"]);
        let sink = demux_all(&out);
        assert!(sink.issues.is_empty());
        assert_eq!(datas(&sink), vec![b"new".to_vec()]);
    }

    #[test]
    fn oversized_packets_are_dropped_with_an_issue() {
        let mut out = Vec::new();
        write_page(
            &mut out,
            &PageSpec {
                header_type: 0,
                granule_position: -1,
                serial: 1,
                sequence: 0,
                lacing: &[255],
                body: &[1; 255],
            },
        );
        write_page(
            &mut out,
            &PageSpec {
                header_type: FLAG_CONTINUED,
                granule_position: -1,
                serial: 1,
                sequence: 1,
                lacing: &[255],
                body: &[2; 255],
            },
        );
        page(&mut out, FLAG_CONTINUED, 1, 2, 0, &[b"x", b"ok"]);
        let mut demuxer = OggDemuxer::new(300);
        let mut sink = CollectSink::default();
        demuxer.push(&out, &mut sink);
        demuxer.finish(&mut sink);
        assert_eq!(
            sink.issues.iter().map(|i| i.error.code).collect::<Vec<_>>(),
            vec![ErrorCode::PacketTooLarge]
        );
        assert_eq!(datas(&sink), vec![b"ok".to_vec()]);
    }

    #[test]
    fn eos_forgets_the_stream_so_a_chained_stream_can_reuse_nothing() {
        let mut out = Vec::new();
        page(&mut out, FLAG_BOS | FLAG_EOS, 1, 0, 0, &[b"a"]);
        page(&mut out, FLAG_BOS, 2, 0, 0, &[b"b"]);
        let mut demuxer = OggDemuxer::default();
        let mut sink = CollectSink::default();
        demuxer.push(&out, &mut sink);
        assert_eq!(demuxer.streams.len(), 1);
        assert_eq!(datas(&sink), vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn offsets_keep_counting_across_pushes() {
        let mut good = Vec::new();
        page(&mut good, 0, 1, 0, 0, &[b"x"]);
        let mut demuxer = OggDemuxer::default();
        let mut sink = CollectSink::default();
        demuxer.push(&good, &mut sink);
        demuxer.push(b"junk", &mut sink);
        assert_eq!(sink.issues[0].offset, good.len() as u64);
    }
}
