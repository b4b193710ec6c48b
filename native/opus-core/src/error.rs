//! One error type for the whole crate. Each variant of [`ErrorCode`] has a stable string that reaches
//! JavaScript as `err.code`, so callers can branch on it; renaming one is a breaking change.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// An Ogg page's CRC-32 does not match its contents.
    CrcMismatch,
    /// Bytes where an Ogg page should start are not a valid page header (capture pattern, version).
    InvalidPage,
    /// A page sequence number skipped ahead, so a packet continued across the gap was dropped.
    PageSequenceGap,
    /// Input ended (or a length field points) past the end of the available bytes.
    Truncated,
    /// A packet has no TOC byte (RFC 6716 R1).
    InvalidToc,
    /// A frame is longer than 1275 bytes (RFC 6716 R2).
    FrameTooLong,
    /// A CBR packet's payload cannot be split into equal frames (RFC 6716 R3, R6).
    InvalidFrameLengths,
    /// A code 3 packet declares zero frames (RFC 6716 R5).
    InvalidFrameCount,
    /// A packet holds more than 120 ms of audio (RFC 6716 R5).
    DurationTooLong,
    /// Padding extends past the end of the packet (RFC 6716 R6, R7).
    InvalidPadding,
    /// An OpusHead packet violates RFC 7845 §5.1.
    InvalidOpusHead,
    /// An OpusTags packet violates RFC 7845 §5.2.
    InvalidOpusTags,
    /// An OpusHead declares a major version this parser does not understand.
    UnsupportedVersion,
    /// A reassembled packet would exceed the demuxer's size limit.
    PacketTooLarge,
    /// A chunk does not fit the ring's byte budget even when the ring is empty.
    ChunkTooLarge,
    /// A caller passed a value outside the accepted range.
    InvalidArgument,
    /// A call is not allowed in the object's current state (e.g. writing after finish).
    InvalidState,
    /// A bug in the addon (a caught panic or a failed N-API call), never caused by input alone.
    Internal,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CrcMismatch => "CRC_MISMATCH",
            Self::InvalidPage => "INVALID_PAGE",
            Self::PageSequenceGap => "PAGE_SEQUENCE_GAP",
            Self::Truncated => "TRUNCATED",
            Self::InvalidToc => "INVALID_TOC",
            Self::FrameTooLong => "FRAME_TOO_LONG",
            Self::InvalidFrameLengths => "INVALID_FRAME_LENGTHS",
            Self::InvalidFrameCount => "INVALID_FRAME_COUNT",
            Self::DurationTooLong => "DURATION_TOO_LONG",
            Self::InvalidPadding => "INVALID_PADDING",
            Self::InvalidOpusHead => "INVALID_OPUS_HEAD",
            Self::InvalidOpusTags => "INVALID_OPUS_TAGS",
            Self::UnsupportedVersion => "UNSUPPORTED_VERSION",
            Self::PacketTooLarge => "PACKET_TOO_LARGE",
            Self::ChunkTooLarge => "CHUNK_TOO_LARGE",
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::InvalidState => "INVALID_STATE",
            Self::Internal => "INTERNAL",
        }
    }
}

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_screaming_snake_case() {
        assert_eq!(ErrorCode::CrcMismatch.as_str(), "CRC_MISMATCH");
        assert_eq!(ErrorCode::InvalidToc.as_str(), "INVALID_TOC");
        assert_eq!(ErrorCode::Truncated.as_str(), "TRUNCATED");
        assert_eq!(Error::new(ErrorCode::Truncated, "short").to_string(), "TRUNCATED: short");
    }
}
