//! The two Ogg Opus header packets (RFC 7845 §5): OpusHead (identification) and OpusTags (comments).

use crate::error::{Error, ErrorCode, Result};

pub const OPUS_HEAD_MAGIC: &[u8; 8] = b"OpusHead";
pub const OPUS_TAGS_MAGIC: &[u8; 8] = b"OpusTags";
const OPUS_HEAD_MIN_LEN: usize = 19;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    pub version: u8,
    pub channel_count: u8,
    /// Samples at 48 kHz to discard from the start of the decoded stream.
    pub pre_skip: u16,
    /// Sample rate of the original input, informational only.
    pub input_sample_rate: u32,
    /// Gain to apply on output, in Q7.8 dB.
    pub output_gain: i16,
    pub mapping_family: u8,
    /// Number of Opus streams per packet; 1 for family 0.
    pub stream_count: u8,
    /// Streams that carry two coupled channels; `channel_count - 1` for family 0.
    pub coupled_count: u8,
    /// Output channel to decoded channel map; empty for family 0, whose mapping is implicit.
    pub channel_mapping: Vec<u8>,
}

impl OpusHead {
    /// A family 0 header (mono or stereo, one stream), the layout every recording uses.
    pub fn new(channel_count: u8, pre_skip: u16, input_sample_rate: u32, output_gain: i16) -> Result<Self> {
        if !(1..=2).contains(&channel_count) {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!("mapping family 0 supports 1 or 2 channels, not {channel_count}"),
            ));
        }
        Ok(Self {
            version: 1,
            channel_count,
            pre_skip,
            input_sample_rate,
            output_gain,
            mapping_family: 0,
            stream_count: 1,
            coupled_count: channel_count - 1,
            channel_mapping: Vec::new(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(OPUS_HEAD_MIN_LEN + 2 + self.channel_mapping.len());
        out.extend_from_slice(OPUS_HEAD_MAGIC);
        out.push(self.version);
        out.push(self.channel_count);
        out.extend_from_slice(&self.pre_skip.to_le_bytes());
        out.extend_from_slice(&self.input_sample_rate.to_le_bytes());
        out.extend_from_slice(&self.output_gain.to_le_bytes());
        out.push(self.mapping_family);
        if self.mapping_family != 0 {
            out.push(self.stream_count);
            out.push(self.coupled_count);
            out.extend_from_slice(&self.channel_mapping);
        }
        out
    }

    pub fn parse(data: &[u8]) -> Result<Self> {
        let fail = |message: String| Error::new(ErrorCode::InvalidOpusHead, message);
        if !data.starts_with(OPUS_HEAD_MAGIC) {
            return Err(fail("packet does not start with OpusHead".into()));
        }
        if data.len() < OPUS_HEAD_MIN_LEN {
            return Err(Error::new(
                ErrorCode::Truncated,
                format!("OpusHead is {} bytes, at least {OPUS_HEAD_MIN_LEN} are required", data.len()),
            ));
        }
        let version = data[8];
        // The upper nibble is the major version; a new major version may change the layout (§5.1).
        if version >> 4 != 0 {
            return Err(Error::new(
                ErrorCode::UnsupportedVersion,
                format!("OpusHead version {version} is not 0.x"),
            ));
        }
        let channel_count = data[9];
        if channel_count == 0 {
            return Err(fail("channel count is 0".into()));
        }
        let mapping_family = data[18];
        let mut head = Self {
            version,
            channel_count,
            pre_skip: u16::from_le_bytes([data[10], data[11]]),
            input_sample_rate: u32::from_le_bytes([data[12], data[13], data[14], data[15]]),
            output_gain: i16::from_le_bytes([data[16], data[17]]),
            mapping_family,
            stream_count: 1,
            coupled_count: channel_count.saturating_sub(1),
            channel_mapping: Vec::new(),
        };
        if mapping_family == 0 {
            if channel_count > 2 {
                return Err(fail(format!("mapping family 0 allows 1 or 2 channels, not {channel_count}")));
            }
            return Ok(head);
        }
        if mapping_family == 1 && channel_count > 8 {
            return Err(fail(format!("mapping family 1 allows at most 8 channels, not {channel_count}")));
        }
        let table_end = OPUS_HEAD_MIN_LEN + 2 + channel_count as usize;
        if data.len() < table_end {
            return Err(Error::new(
                ErrorCode::Truncated,
                format!("OpusHead with a channel mapping table needs {table_end} bytes, got {}", data.len()),
            ));
        }
        head.stream_count = data[19];
        head.coupled_count = data[20];
        if head.stream_count == 0 {
            return Err(fail("stream count is 0".into()));
        }
        if head.coupled_count > head.stream_count {
            return Err(fail(format!(
                "{} coupled streams exceed the {} streams",
                head.coupled_count, head.stream_count
            )));
        }
        let decoded_channels = head.stream_count as usize + head.coupled_count as usize;
        head.channel_mapping = data[21..table_end].to_vec();
        if let Some(&bad) = head.channel_mapping.iter().find(|&&c| c != 255 && c as usize >= decoded_channels)
        {
            return Err(fail(format!(
                "channel mapping entry {bad} exceeds the {decoded_channels} decoded channels"
            )));
        }
        Ok(head)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusTags {
    pub vendor: String,
    /// User comments as `KEY=value` strings, in stream order.
    pub comments: Vec<String>,
}

impl OpusTags {
    pub fn to_bytes(&self) -> Vec<u8> {
        let comments_len: usize = self.comments.iter().map(|c| 4 + c.len()).sum();
        let mut out = Vec::with_capacity(16 + self.vendor.len() + comments_len);
        out.extend_from_slice(OPUS_TAGS_MAGIC);
        out.extend_from_slice(&(self.vendor.len() as u32).to_le_bytes());
        out.extend_from_slice(self.vendor.as_bytes());
        out.extend_from_slice(&(self.comments.len() as u32).to_le_bytes());
        for comment in &self.comments {
            out.extend_from_slice(&(comment.len() as u32).to_le_bytes());
            out.extend_from_slice(comment.as_bytes());
        }
        out
    }

    /// Parses an OpusTags packet. Strings that are not UTF-8 are decoded lossily rather than rejected,
    /// because tags are informational and real encoders do write Latin-1.
    pub fn parse(data: &[u8]) -> Result<Self> {
        if !data.starts_with(OPUS_TAGS_MAGIC) {
            return Err(Error::new(ErrorCode::InvalidOpusTags, "packet does not start with OpusTags"));
        }
        let mut reader = Reader { data, pos: OPUS_TAGS_MAGIC.len() };
        let vendor = reader.string("vendor string")?;
        let count = reader.u32("comment count")? as usize;
        // Each comment needs at least its 4-byte length, so a larger count cannot be honest; checking
        // first keeps a hostile count from reserving gigabytes.
        if count > reader.remaining() / 4 {
            return Err(Error::new(
                ErrorCode::Truncated,
                format!("{count} comments cannot fit in {} bytes", reader.remaining()),
            ));
        }
        let mut comments = Vec::with_capacity(count);
        for index in 0..count {
            comments.push(reader.string(&format!("comment {}", index + 1))?);
        }
        Ok(Self { vendor, comments })
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let Some(bytes) = self.data.get(self.pos..self.pos + 4) else {
            return Err(Error::new(ErrorCode::Truncated, format!("OpusTags ends inside the {what}")));
        };
        self.pos += 4;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u32(what)? as usize;
        if len > self.remaining() {
            return Err(Error::new(
                ErrorCode::Truncated,
                format!("OpusTags {what} is {len} bytes but only {} remain", self.remaining()),
            ));
        }
        let text = String::from_utf8_lossy(&self.data[self.pos..self.pos + len]).into_owned();
        self.pos += len;
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family0_head_round_trips() {
        let head = OpusHead::new(2, 312, 44_100, -256).unwrap();
        let bytes = head.to_bytes();
        assert_eq!(bytes.len(), 19);
        assert_eq!(&bytes[..8], b"OpusHead");
        assert_eq!(OpusHead::parse(&bytes).unwrap(), head);
    }

    #[test]
    fn parses_a_libopus_style_header() {
        let mut bytes = b"OpusHead".to_vec();
        bytes.extend_from_slice(&[1, 1, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
        let head = OpusHead::parse(&bytes).unwrap();
        assert_eq!((head.channel_count, head.pre_skip, head.input_sample_rate), (1, 312, 48_000));
        assert_eq!(
            (head.output_gain, head.mapping_family, head.stream_count, head.coupled_count),
            (0, 0, 1, 0)
        );
    }

    #[test]
    fn family1_reads_the_mapping_table() {
        let mut bytes = b"OpusHead".to_vec();
        bytes.extend_from_slice(&[1, 3, 0, 0, 0x80, 0xbb, 0, 0, 0, 0, 1, 2, 1, 0, 2, 1]);
        let head = OpusHead::parse(&bytes).unwrap();
        assert_eq!((head.stream_count, head.coupled_count), (2, 1));
        assert_eq!(head.channel_mapping, vec![0, 2, 1]);
        assert_eq!(OpusHead::parse(&head.to_bytes()).unwrap(), head);
        bytes[23] = 3;
        assert_eq!(OpusHead::parse(&bytes).unwrap_err().code, ErrorCode::InvalidOpusHead);
        assert_eq!(OpusHead::parse(&bytes[..22]).unwrap_err().code, ErrorCode::Truncated);
    }

    #[test]
    fn rejects_bad_heads() {
        let good = OpusHead::new(1, 0, 48_000, 0).unwrap().to_bytes();
        assert_eq!(OpusHead::parse(&good[..18]).unwrap_err().code, ErrorCode::Truncated);
        assert_eq!(OpusHead::parse(b"OpusTags........").unwrap_err().code, ErrorCode::InvalidOpusHead);
        let mut future = good.clone();
        future[8] = 0x10;
        assert_eq!(OpusHead::parse(&future).unwrap_err().code, ErrorCode::UnsupportedVersion);
        let mut minor = good.clone();
        minor[8] = 0x0f;
        assert!(OpusHead::parse(&minor).is_ok(), "minor versions stay compatible");
        let mut no_channels = good.clone();
        no_channels[9] = 0;
        assert_eq!(OpusHead::parse(&no_channels).unwrap_err().code, ErrorCode::InvalidOpusHead);
        let mut three_channels_family0 = good;
        three_channels_family0[9] = 3;
        assert_eq!(OpusHead::parse(&three_channels_family0).unwrap_err().code, ErrorCode::InvalidOpusHead);
        assert_eq!(OpusHead::new(3, 0, 48_000, 0).unwrap_err().code, ErrorCode::InvalidArgument);
    }

    #[test]
    fn tags_round_trip() {
        let tags = OpusTags {
            vendor: "airwave".into(),
            comments: vec!["TITLE=Morning show".into(), "é=ü".into()],
        };
        assert_eq!(OpusTags::parse(&tags.to_bytes()).unwrap(), tags);
    }

    #[test]
    fn tags_reject_truncation_and_absurd_counts() {
        let bytes = OpusTags { vendor: "v".into(), comments: vec!["A=b".into()] }.to_bytes();
        for len in 8..bytes.len() {
            assert_eq!(
                OpusTags::parse(&bytes[..len]).unwrap_err().code,
                ErrorCode::Truncated,
                "length {len}"
            );
        }
        let mut huge = b"OpusTags".to_vec();
        huge.extend_from_slice(&0u32.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(OpusTags::parse(&huge).unwrap_err().code, ErrorCode::Truncated);
        assert_eq!(OpusTags::parse(b"OpusHead").unwrap_err().code, ErrorCode::InvalidOpusTags);
    }

    #[test]
    fn tags_decode_invalid_utf8_lossily() {
        let mut bytes = b"OpusTags".to_vec();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(OpusTags::parse(&bytes).unwrap().vendor, "\u{fffd}");
    }
}
