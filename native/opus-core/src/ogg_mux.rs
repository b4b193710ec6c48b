//! Ogg Opus muxer (RFC 3533, RFC 7845 §3–§5): Opus packets in, checksummed pages out. Used to write
//! recordings, so its output must play anywhere: OpusHead alone on the BOS page, OpusTags on its own
//! page(s), audio pages carrying the granule position of their last completed packet, EOS on finish.

use crate::error::{Error, ErrorCode, Result};
use crate::ogg_page::{
    FLAG_BOS, FLAG_CONTINUED, FLAG_EOS, MAX_SEGMENT_LEN, MAX_SEGMENTS, NO_GRANULE, PageSpec, write_page,
};
use crate::opus_head::{OpusHead, OpusTags};
use crate::opus_packet::validate_packet;

/// Audio bytes per page before a new page is started. Near 4 KiB like libogg: small enough that a
/// reader resyncs quickly after damage, big enough that page headers cost about 1% of the file.
pub const DEFAULT_MAX_PAGE_BODY: usize = 4096;
/// One second at 48 kHz: bounds how far a page's granule position lags its first packet, which matters
/// for seeking in low-bitrate recordings where 4 KiB could hold half a minute.
pub const DEFAULT_MAX_PAGE_SAMPLES: u64 = 48_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuxOptions {
    pub serial: u32,
    pub max_page_body: usize,
    pub max_page_samples: u64,
}

impl MuxOptions {
    pub fn new(serial: u32) -> Self {
        Self { serial, max_page_body: DEFAULT_MAX_PAGE_BODY, max_page_samples: DEFAULT_MAX_PAGE_SAMPLES }
    }
}

pub struct OggMuxer {
    options: MuxOptions,
    next_sequence: u32,
    /// Samples (48 kHz) of all packets written so far, pre-skip included, as RFC 7845 §4 defines it.
    granule_position: i64,
    lacing: Vec<u8>,
    body: Vec<u8>,
    page_samples: u64,
    /// The open page's first segment continues a packet begun on the previous page.
    page_continues_packet: bool,
    /// Granule position after the last packet completed on the open page, or [`NO_GRANULE`] if none has.
    page_granule_position: i64,
    output: Vec<u8>,
    finished: bool,
}

impl OggMuxer {
    /// Starts a stream: the OpusHead and OpusTags pages are ready in [`Self::take_output`] at once.
    pub fn new(head: &OpusHead, tags: &OpusTags, options: MuxOptions) -> Result<Self> {
        if options.max_page_body == 0 || options.max_page_samples == 0 {
            return Err(Error::new(ErrorCode::InvalidArgument, "page limits must be positive"));
        }
        let mut muxer = Self {
            options,
            next_sequence: 0,
            granule_position: 0,
            lacing: Vec::with_capacity(MAX_SEGMENTS),
            body: Vec::with_capacity(options.max_page_body + MAX_SEGMENT_LEN),
            page_samples: 0,
            page_continues_packet: false,
            page_granule_position: NO_GRANULE,
            output: Vec::new(),
            finished: false,
        };
        muxer.append_packet(&head.to_bytes());
        muxer.close_page(FLAG_BOS);
        muxer.append_packet(&tags.to_bytes());
        muxer.close_page(0);
        Ok(muxer)
    }

    /// Samples written so far at 48 kHz, pre-skip included: the next page's granule position.
    pub fn granule_position(&self) -> i64 {
        self.granule_position
    }

    /// Adds one Opus packet after validating it (RFC 6716 R1–R7); its duration advances the granule.
    pub fn write_packet(&mut self, packet: &[u8]) -> Result<()> {
        if self.finished {
            return Err(Error::new(ErrorCode::InvalidState, "the stream is already finished"));
        }
        let samples = validate_packet(packet)?;
        let segments = packet.len() / MAX_SEGMENT_LEN + 1;
        let page_is_open = !self.lacing.is_empty();
        let overflows = self.body.len() + packet.len() > self.options.max_page_body
            || self.lacing.len() + segments > MAX_SEGMENTS
            || self.page_samples + samples as u64 > self.options.max_page_samples;
        if page_is_open && overflows {
            self.close_page(0);
        }
        self.granule_position = self.granule_position.checked_add(samples as i64).ok_or_else(|| {
            Error::new(ErrorCode::InvalidState, "granule position overflowed after 6 million years of audio")
        })?;
        self.page_samples += samples as u64;
        self.append_packet(packet);
        Ok(())
    }

    /// Closes the open page now, e.g. so a live listener gets audio without waiting for a full page.
    pub fn flush(&mut self) -> Result<()> {
        if self.finished {
            return Err(Error::new(ErrorCode::InvalidState, "the stream is already finished"));
        }
        if !self.lacing.is_empty() {
            self.close_page(0);
        }
        Ok(())
    }

    /// Ends the stream: the last page carries the EOS flag (an empty page if nothing is open).
    pub fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Err(Error::new(ErrorCode::InvalidState, "the stream is already finished"));
        }
        if self.page_granule_position == NO_GRANULE {
            self.page_granule_position = self.granule_position;
        }
        self.close_page(FLAG_EOS);
        self.finished = true;
        Ok(())
    }

    /// Hands over the bytes of all pages completed since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Lays `packet` into segments, closing full pages as it goes, so any packet size works.
    fn append_packet(&mut self, packet: &[u8]) {
        if self.lacing.len() == MAX_SEGMENTS {
            self.close_page(0);
        }
        let mut rest = packet;
        loop {
            let take = rest.len().min(MAX_SEGMENT_LEN);
            self.lacing.push(take as u8);
            self.body.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if take < MAX_SEGMENT_LEN {
                self.page_granule_position = self.granule_position;
                return;
            }
            if self.lacing.len() == MAX_SEGMENTS {
                self.close_page(0);
                self.page_continues_packet = true;
            }
        }
    }

    fn close_page(&mut self, flags: u8) {
        let continued = if self.page_continues_packet { FLAG_CONTINUED } else { 0 };
        write_page(
            &mut self.output,
            &PageSpec {
                header_type: flags | continued,
                granule_position: self.page_granule_position,
                serial: self.options.serial,
                sequence: self.next_sequence,
                lacing: &self.lacing,
                body: &self.body,
            },
        );
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.lacing.clear();
        self.body.clear();
        self.page_samples = 0;
        self.page_continues_packet = false;
        self.page_granule_position = NO_GRANULE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogg_demux::{CollectSink, OggDemuxer};
    use crate::ogg_page::parse_page;

    fn head() -> OpusHead {
        OpusHead::new(1, 312, 48_000, 0).unwrap()
    }

    fn tags() -> OpusTags {
        OpusTags { vendor: "airwave".into(), comments: vec!["TITLE=test".into()] }
    }

    /// A valid 20 ms CELT fullband mono packet of `len` bytes.
    fn celt_20ms(len: usize) -> Vec<u8> {
        let mut packet = vec![31 << 3];
        packet.resize(len, 0x55);
        packet
    }

    fn pages(bytes: &[u8]) -> Vec<crate::ogg_page::Page<'_>> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let page = parse_page(&bytes[pos..]).unwrap().unwrap();
            pos += page.len;
            out.push(page);
        }
        out
    }

    fn mux(packets: &[Vec<u8>], options: MuxOptions) -> Vec<u8> {
        let mut muxer = OggMuxer::new(&head(), &tags(), options).unwrap();
        for packet in packets {
            muxer.write_packet(packet).unwrap();
        }
        muxer.finish().unwrap();
        muxer.take_output()
    }

    #[test]
    fn headers_get_their_own_pages_and_bos_only_on_the_first() {
        let bytes = mux(&[celt_20ms(40)], MuxOptions::new(77));
        let pages = pages(&bytes);
        assert_eq!(pages.len(), 3);
        assert!(pages[0].is_bos() && !pages[1].is_bos() && !pages[2].is_bos());
        assert_eq!(OpusHead::parse(pages[0].body).unwrap(), head());
        assert_eq!(OpusTags::parse(pages[1].body).unwrap(), tags());
        assert_eq!((pages[0].granule_position, pages[1].granule_position), (0, 0));
        assert!(pages.iter().all(|p| p.serial == 77));
        assert_eq!(pages.iter().map(|p| p.sequence).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn granule_positions_sum_packet_durations_and_eos_ends_the_stream() {
        let packets: Vec<Vec<u8>> = (0..200).map(|_| celt_20ms(60)).collect();
        let options = MuxOptions { max_page_samples: u64::MAX, ..MuxOptions::new(1) };
        let bytes = mux(&packets, options);
        let pages = pages(&bytes);
        let last = pages.last().unwrap();
        assert!(last.is_eos());
        assert!(pages[..pages.len() - 1].iter().all(|p| !p.is_eos()));
        assert_eq!(last.granule_position, 200 * 960);
        // 60-byte packets hit the 4096-byte body limit after 68 packets.
        assert_eq!(pages[2].granule_position, 68 * 960);
        assert!(pages.iter().all(|p| p.body.len() <= DEFAULT_MAX_PAGE_BODY));
    }

    #[test]
    fn pages_are_bounded_by_duration_too() {
        let packets: Vec<Vec<u8>> = (0..120).map(|_| celt_20ms(3)).collect();
        let bytes = mux(&packets, MuxOptions::new(1));
        let granules: Vec<i64> = pages(&bytes)[2..].iter().map(|p| p.granule_position).collect();
        assert_eq!(granules, vec![48_000, 96_000, 115_200]);
    }

    #[test]
    fn round_trips_through_the_demuxer() {
        let packets: Vec<Vec<u8>> = (1..400).map(|i| celt_20ms(1 + i % 300)).collect();
        let bytes = mux(&packets, MuxOptions::new(5));
        let mut demuxer = OggDemuxer::default();
        let mut sink = CollectSink::default();
        demuxer.push(&bytes, &mut sink);
        demuxer.finish(&mut sink);
        assert!(sink.issues.is_empty());
        let audio: Vec<Vec<u8>> = sink.packets[2..].iter().map(|p| p.data.clone()).collect();
        assert_eq!(audio, packets);
    }

    #[test]
    fn the_largest_legal_opus_packet_fits_one_page() {
        // 48 frames of 1275 bytes in one code 3 CBR packet: 61,202 bytes, 241 lacing values.
        let mut huge = vec![(16 << 3) | 3, 48];
        huge.resize(2 + 48 * 1275, 1);
        let bytes = mux(&[celt_20ms(10), huge.clone(), celt_20ms(10)], MuxOptions::new(1));
        let audio: Vec<_> = pages(&bytes).into_iter().skip(2).collect();
        assert_eq!(
            audio.iter().map(|p| p.granule_position).collect::<Vec<_>>(),
            vec![960, 960 + 5760, 960 + 5760 + 960]
        );
        assert_eq!(audio[1].body, &huge[..]);
    }

    #[test]
    fn oversized_tags_span_pages_with_continuation_and_no_granule() {
        let big_tags =
            OpusTags { vendor: "airwave".into(), comments: vec![format!("COVER={}", "x".repeat(70_000))] };
        let mut muxer = OggMuxer::new(&head(), &big_tags, MuxOptions::new(1)).unwrap();
        muxer.write_packet(&celt_20ms(10)).unwrap();
        muxer.finish().unwrap();
        let bytes = muxer.take_output();
        let pages = pages(&bytes);
        assert_eq!(pages.len(), 4);
        assert_eq!(
            (pages[1].lacing.len(), pages[1].granule_position, pages[1].is_continued()),
            (255, NO_GRANULE, false)
        );
        assert_eq!((pages[2].granule_position, pages[2].is_continued()), (0, true));
        assert_eq!(pages[3].granule_position, 960);
        let mut demuxer = OggDemuxer::default();
        let mut sink = CollectSink::default();
        demuxer.push(&bytes, &mut sink);
        assert_eq!(OpusTags::parse(&sink.packets[1].data).unwrap(), big_tags);
    }

    #[test]
    fn flush_closes_the_page_and_finish_after_it_writes_an_empty_eos_page() {
        let mut muxer = OggMuxer::new(&head(), &tags(), MuxOptions::new(1)).unwrap();
        muxer.take_output();
        muxer.write_packet(&celt_20ms(20)).unwrap();
        assert!(muxer.take_output().is_empty(), "page stays open until full");
        muxer.flush().unwrap();
        let flushed = muxer.take_output();
        assert_eq!(pages(&flushed)[0].granule_position, 960);
        muxer.finish().unwrap();
        let tail = muxer.take_output();
        let eos = &pages(&tail)[0];
        assert!(eos.is_eos() && eos.body.is_empty());
        assert_eq!(eos.granule_position, 960);
    }

    #[test]
    fn rejects_invalid_packets_and_writes_after_finish() {
        let mut muxer = OggMuxer::new(&head(), &tags(), MuxOptions::new(1)).unwrap();
        assert_eq!(muxer.write_packet(&[]).unwrap_err().code, ErrorCode::InvalidToc);
        assert_eq!(muxer.write_packet(&[(16 << 3) | 3, 0]).unwrap_err().code, ErrorCode::InvalidFrameCount);
        muxer.finish().unwrap();
        assert_eq!(muxer.write_packet(&celt_20ms(3)).unwrap_err().code, ErrorCode::InvalidState);
        assert_eq!(muxer.finish().unwrap_err().code, ErrorCode::InvalidState);
        assert_eq!(muxer.flush().unwrap_err().code, ErrorCode::InvalidState);
    }

    #[test]
    fn rejects_zero_page_limits() {
        let options = MuxOptions { serial: 1, max_page_body: 0, max_page_samples: 1 };
        assert_eq!(OggMuxer::new(&head(), &tags(), options).err().unwrap().code, ErrorCode::InvalidArgument);
    }
}
