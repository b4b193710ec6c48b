//! Opus packet structure (RFC 6716 §3): the TOC byte, frame packing codes 0–3 and the validity rules
//! R1–R7 of §3.4. Nothing here allocates, so validating untrusted chunks is cheap.

use std::fmt;

use crate::error::{Error, ErrorCode, Result};

/// Longest frame a packet may hold (R2).
pub const MAX_FRAME_LEN: usize = 1275;
/// 120 ms at 48 kHz, the most audio one packet may carry (R5).
pub const MAX_PACKET_SAMPLES: u32 = 5760;
/// 120 ms of the shortest (2.5 ms) frames.
pub const MAX_FRAMES: usize = 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Silk,
    Hybrid,
    Celt,
}

impl Mode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Silk => "SILK",
            Self::Hybrid => "Hybrid",
            Self::Celt => "CELT",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bandwidth {
    Narrowband,
    Mediumband,
    Wideband,
    SuperWideband,
    Fullband,
}

impl Bandwidth {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Narrowband => "NB",
            Self::Mediumband => "MB",
            Self::Wideband => "WB",
            Self::SuperWideband => "SWB",
            Self::Fullband => "FB",
        }
    }
}

/// The TOC byte (RFC 6716 §3.1). Every one of the 256 values is meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Toc {
    pub config: u8,
    pub mode: Mode,
    pub bandwidth: Bandwidth,
    /// Length of each frame in samples at 48 kHz (120 = 2.5 ms … 2880 = 60 ms).
    pub frame_samples: u32,
    pub stereo: bool,
    /// Frame packing code `c`: 0 = one frame, 1 = two equal, 2 = two different, 3 = arbitrary count.
    pub frame_count_code: u8,
}

pub const fn parse_toc(toc: u8) -> Toc {
    use Bandwidth::*;
    let config = toc >> 3;
    let index = (config % 4) as usize;
    let (mode, bandwidth, frame_samples) = match config {
        0..=11 => {
            let bandwidth = [Narrowband, Mediumband, Wideband][(config / 4) as usize];
            (Mode::Silk, bandwidth, [480, 960, 1920, 2880][index])
        }
        12..=15 => {
            let bandwidth = if config < 14 { SuperWideband } else { Fullband };
            (Mode::Hybrid, bandwidth, [480, 960][index % 2])
        }
        _ => {
            let bandwidth = [Narrowband, Wideband, SuperWideband, Fullband][((config - 16) / 4) as usize];
            (Mode::Celt, bandwidth, [120, 240, 480, 960][index])
        }
    };
    Toc { config, mode, bandwidth, frame_samples, stereo: toc & 0x04 != 0, frame_count_code: toc & 0x03 }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    pub toc: Toc,
    pub frame_count: usize,
    /// Whether a code 3 packet codes each frame length (code 2 is always variable, 0 and 1 never).
    pub vbr: bool,
    /// Padding in a code 3 packet: the length bytes plus the trailing padding bytes (P in R6).
    pub padding_len: usize,
    frame_lens: [u16; MAX_FRAMES],
}

impl PacketInfo {
    pub fn frame_lengths(&self) -> &[u16] {
        &self.frame_lens[..self.frame_count]
    }

    pub fn duration_samples(&self) -> u32 {
        self.toc.frame_samples * self.frame_count as u32
    }
}

/// Error construction is kept out of line: validation runs once per demuxed packet and almost never fails.
#[cold]
#[inline(never)]
fn invalid(code: ErrorCode, message: fmt::Arguments<'_>) -> Error {
    Error::new(code, message.to_string())
}

/// Reads a frame length coded as in RFC 6716 §3.2.1, returning the length and the bytes it took.
#[inline(always)]
fn read_frame_length(data: &[u8]) -> Option<(usize, usize)> {
    let first = *data.first()? as usize;
    if first < 252 {
        return Some((first, 1));
    }
    let second = *data.get(1)? as usize;
    Some((second * 4 + first, 2))
}

#[inline(always)]
fn check_frame_len(len: usize, frame: usize) -> Result<u16> {
    if len > MAX_FRAME_LEN {
        return Err(invalid(
            ErrorCode::FrameTooLong,
            format_args!("R2: frame {frame} is {len} bytes, more than {MAX_FRAME_LEN}"),
        ));
    }
    Ok(len as u16)
}

/// What validation learns besides the frame lengths.
struct Layout {
    toc: Toc,
    frame_count: usize,
    vbr: bool,
    padding_len: usize,
}

/// Validates a packet against R1–R7, handing each frame's (index, length) to `record`. Generic so the
/// duration-only caller, with a no-op `record`, compiles to a version without any length bookkeeping.
#[inline(always)]
fn walk_packet(data: &[u8], mut record: impl FnMut(usize, u16)) -> Result<Layout> {
    let Some((&toc_byte, payload)) = data.split_first() else {
        return Err(invalid(
            ErrorCode::InvalidToc,
            format_args!("R1: packet is empty, so it has no TOC byte"),
        ));
    };
    let toc = parse_toc(toc_byte);
    let mut layout = Layout { toc, frame_count: 2, vbr: false, padding_len: 0 };
    match toc.frame_count_code {
        0 => {
            record(0, check_frame_len(payload.len(), 1)?);
            layout.frame_count = 1;
        }
        1 => {
            if payload.len() % 2 != 0 {
                return Err(invalid(
                    ErrorCode::InvalidFrameLengths,
                    format_args!("R3: code 1 packet of {} bytes must have an odd length", data.len()),
                ));
            }
            let each = check_frame_len(payload.len() / 2, 1)?;
            record(0, each);
            record(1, each);
        }
        2 => {
            let Some((first, used)) = read_frame_length(payload) else {
                return Err(invalid(
                    ErrorCode::Truncated,
                    format_args!("R4: code 2 packet ends inside its frame length"),
                ));
            };
            let remaining = payload.len() - used;
            if first > remaining {
                return Err(invalid(
                    ErrorCode::Truncated,
                    format_args!("R4: first frame is {first} bytes but only {remaining} remain"),
                ));
            }
            record(0, first as u16);
            record(1, check_frame_len(remaining - first, 2)?);
        }
        _ => walk_code3(payload, &mut layout, record)?,
    }
    Ok(layout)
}

#[inline(always)]
fn walk_code3(payload: &[u8], layout: &mut Layout, mut record: impl FnMut(usize, u16)) -> Result<()> {
    let Some((&frame_count_byte, mut rest)) = payload.split_first() else {
        return Err(invalid(ErrorCode::Truncated, format_args!("R6: code 3 packet has no frame count byte")));
    };
    layout.vbr = frame_count_byte & 0x80 != 0;
    let has_padding = frame_count_byte & 0x40 != 0;
    let count = (frame_count_byte & 0x3f) as usize;
    if count == 0 {
        return Err(invalid(
            ErrorCode::InvalidFrameCount,
            format_args!("R5: code 3 packet declares zero frames"),
        ));
    }
    if count as u32 * layout.toc.frame_samples > MAX_PACKET_SAMPLES {
        return Err(invalid(
            ErrorCode::DurationTooLong,
            format_args!("R5: {count} frames of {} samples exceed 120 ms", layout.toc.frame_samples),
        ));
    }

    let mut trailing_padding = 0usize;
    if has_padding {
        loop {
            let Some((&byte, after)) = rest.split_first() else {
                return Err(invalid(
                    ErrorCode::InvalidPadding,
                    format_args!("R6: packet ends inside its padding length"),
                ));
            };
            rest = after;
            layout.padding_len += 1;
            if byte < 255 {
                trailing_padding += byte as usize;
                break;
            }
            trailing_padding += 254;
        }
    }
    if trailing_padding > rest.len() {
        return Err(invalid(
            ErrorCode::InvalidPadding,
            format_args!("R6: {trailing_padding} bytes of padding but only {} remain", rest.len()),
        ));
    }
    layout.padding_len += trailing_padding;
    let mut frames = &rest[..rest.len() - trailing_padding];

    if layout.vbr {
        let mut coded_total = 0usize;
        for index in 0..count - 1 {
            let Some((len, used)) = read_frame_length(frames) else {
                return Err(invalid(
                    ErrorCode::Truncated,
                    format_args!("R7: packet ends inside the length of frame {}", index + 1),
                ));
            };
            frames = &frames[used..];
            record(index, len as u16);
            coded_total += len;
        }
        if coded_total > frames.len() {
            return Err(invalid(
                ErrorCode::Truncated,
                format_args!(
                    "R7: the first {} frames need {coded_total} bytes but {} remain",
                    count - 1,
                    frames.len()
                ),
            ));
        }
        record(count - 1, check_frame_len(frames.len() - coded_total, count)?);
    } else {
        if frames.len() % count != 0 {
            return Err(invalid(
                ErrorCode::InvalidFrameLengths,
                format_args!("R6: {} bytes cannot be split into {count} equal frames", frames.len()),
            ));
        }
        let each = check_frame_len(frames.len() / count, 1)?;
        for index in 0..count {
            record(index, each);
        }
    }
    layout.frame_count = count;
    Ok(())
}

/// Parses and validates a packet against R1–R7, returning its layout.
pub fn inspect_packet(data: &[u8]) -> Result<PacketInfo> {
    let mut frame_lens = [0; MAX_FRAMES];
    let layout = walk_packet(data, |index, len| frame_lens[index] = len)?;
    Ok(PacketInfo {
        toc: layout.toc,
        frame_count: layout.frame_count,
        vbr: layout.vbr,
        padding_len: layout.padding_len,
        frame_lens,
    })
}

/// Validates a packet (R1–R7) and returns its duration in samples at 48 kHz.
pub fn validate_packet(data: &[u8]) -> Result<u32> {
    walk_packet(data, |_, _| {}).map(|layout| layout.toc.frame_samples * layout.frame_count as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TOC byte for `config`, mono, with frame packing code `code`.
    fn toc(config: u8, code: u8) -> u8 {
        (config << 3) | code
    }

    fn code_of(data: &[u8]) -> ErrorCode {
        inspect_packet(data).unwrap_err().code
    }

    #[test]
    fn toc_configs_map_to_mode_bandwidth_and_frame_size() {
        let silk_nb_10 = parse_toc(toc(0, 0));
        assert_eq!(
            (silk_nb_10.mode, silk_nb_10.bandwidth, silk_nb_10.frame_samples),
            (Mode::Silk, Bandwidth::Narrowband, 480)
        );
        let silk_wb_60 = parse_toc(toc(11, 0));
        assert_eq!((silk_wb_60.bandwidth, silk_wb_60.frame_samples), (Bandwidth::Wideband, 2880));
        let silk_mb_40 = parse_toc(toc(6, 0));
        assert_eq!((silk_mb_40.bandwidth, silk_mb_40.frame_samples), (Bandwidth::Mediumband, 1920));
        let hybrid_swb_20 = parse_toc(toc(13, 0));
        assert_eq!(
            (hybrid_swb_20.mode, hybrid_swb_20.bandwidth, hybrid_swb_20.frame_samples),
            (Mode::Hybrid, Bandwidth::SuperWideband, 960)
        );
        let hybrid_fb_10 = parse_toc(toc(14, 0));
        assert_eq!((hybrid_fb_10.bandwidth, hybrid_fb_10.frame_samples), (Bandwidth::Fullband, 480));
        let celt_nb_2_5 = parse_toc(toc(16, 0));
        assert_eq!(
            (celt_nb_2_5.mode, celt_nb_2_5.bandwidth, celt_nb_2_5.frame_samples),
            (Mode::Celt, Bandwidth::Narrowband, 120)
        );
        let celt_fb_20 = parse_toc(toc(31, 0));
        assert_eq!((celt_fb_20.bandwidth, celt_fb_20.frame_samples), (Bandwidth::Fullband, 960));
        let celt_swb_5 = parse_toc(toc(25, 0));
        assert_eq!((celt_swb_5.bandwidth, celt_swb_5.frame_samples), (Bandwidth::SuperWideband, 240));
    }

    #[test]
    fn toc_stereo_flag_and_code() {
        let t = parse_toc(0b1111_1111);
        assert!(t.stereo);
        assert_eq!((t.config, t.frame_count_code), (31, 3));
        assert!(!parse_toc(0).stereo);
    }

    #[test]
    fn every_toc_byte_parses_with_a_legal_frame_size() {
        for byte in 0..=255u8 {
            assert!([120, 240, 480, 960, 1920, 2880].contains(&parse_toc(byte).frame_samples));
        }
    }

    #[test]
    fn r1_empty_packet_has_no_toc() {
        assert_eq!(code_of(&[]), ErrorCode::InvalidToc);
    }

    #[test]
    fn code0_single_frame_and_r2_limit() {
        let mut packet = vec![toc(31, 0)];
        packet.extend(std::iter::repeat_n(0, 1275));
        let info = inspect_packet(&packet).unwrap();
        assert_eq!((info.frame_count, info.duration_samples()), (1, 960));
        assert_eq!(info.frame_lengths(), &[1275]);
        packet.push(0);
        assert_eq!(code_of(&packet), ErrorCode::FrameTooLong);
        assert_eq!(
            inspect_packet(&[toc(31, 0)]).unwrap().frame_lengths(),
            &[0],
            "a TOC alone is a DTX frame"
        );
    }

    #[test]
    fn code1_needs_an_odd_length_r3() {
        let info = inspect_packet(&[toc(1, 1), 1, 2, 3, 4]).unwrap();
        assert_eq!((info.frame_count, info.duration_samples()), (2, 1920));
        assert_eq!(info.frame_lengths(), &[2, 2]);
        assert_eq!(code_of(&[toc(1, 1), 1, 2, 3]), ErrorCode::InvalidFrameLengths);
        let mut too_long = vec![toc(1, 1)];
        too_long.extend(std::iter::repeat_n(0, 2 * 1276));
        assert_eq!(code_of(&too_long), ErrorCode::FrameTooLong);
    }

    #[test]
    fn code2_first_length_must_fit_r4() {
        let info = inspect_packet(&[toc(16, 2), 2, 9, 9, 8]).unwrap();
        assert_eq!(info.frame_lengths(), &[2, 1]);
        assert_eq!(info.duration_samples(), 240);
        assert_eq!(code_of(&[toc(16, 2)]), ErrorCode::Truncated);
        assert_eq!(code_of(&[toc(16, 2), 253]), ErrorCode::Truncated, "two-byte length cut short");
        assert_eq!(code_of(&[toc(16, 2), 3, 1, 1]), ErrorCode::Truncated);
        let mut long_first = vec![toc(16, 2), 252, 1];
        long_first.extend(std::iter::repeat_n(0, 256));
        assert_eq!(inspect_packet(&long_first).unwrap().frame_lengths(), &[256, 0]);
    }

    #[test]
    fn code2_second_frame_obeys_r2() {
        let mut packet = vec![toc(16, 2), 0];
        packet.extend(std::iter::repeat_n(0, 1276));
        assert_eq!(code_of(&packet), ErrorCode::FrameTooLong);
    }

    #[test]
    fn code3_cbr_frames_split_evenly_r6() {
        let info = inspect_packet(&[toc(1, 3), 3, 1, 1, 2, 2, 3, 3]).unwrap();
        assert_eq!((info.frame_count, info.vbr, info.duration_samples()), (3, false, 2880));
        assert_eq!(info.frame_lengths(), &[2, 2, 2]);
        assert_eq!(code_of(&[toc(1, 3), 3, 1, 1, 2, 2, 3]), ErrorCode::InvalidFrameLengths);
        assert_eq!(code_of(&[toc(1, 3)]), ErrorCode::Truncated, "no frame count byte");
    }

    #[test]
    fn code3_needs_at_least_one_frame_r5() {
        assert_eq!(code_of(&[toc(1, 3), 0]), ErrorCode::InvalidFrameCount);
    }

    #[test]
    fn code3_caps_duration_at_120_ms_r5() {
        // 48 frames of 2.5 ms = 120 ms is the maximum; 49 is one too many.
        let ok = inspect_packet(&[toc(16, 3), 48]).unwrap();
        assert_eq!((ok.frame_count, ok.duration_samples()), (48, MAX_PACKET_SAMPLES));
        assert_eq!(code_of(&[toc(16, 3), 49]), ErrorCode::DurationTooLong);
        // Two 60 ms SILK frames fit, three do not.
        assert!(inspect_packet(&[toc(3, 3), 2]).is_ok());
        assert_eq!(code_of(&[toc(3, 3), 3]), ErrorCode::DurationTooLong);
        // Five 20 ms SILK frames: what libopus emits at 8 kHz with -frame_duration 100.
        let five = inspect_packet(&[toc(1, 3), 0x85, 1, 1, 1, 1, 9, 9, 9, 9, 9]).unwrap();
        assert_eq!((five.frame_count, five.duration_samples()), (5, 4800));
        assert_eq!(five.frame_lengths(), &[1, 1, 1, 1, 1]);
    }

    #[test]
    fn code3_padding_is_counted_and_bounded_r6() {
        // Padding length 3, then 2 frames of 1 byte, then 3 padding bytes.
        let info = inspect_packet(&[toc(16, 3), 0x42, 3, 7, 7, 0, 0, 0]).unwrap();
        assert_eq!((info.frame_count, info.padding_len), (2, 4));
        assert_eq!(info.frame_lengths(), &[1, 1]);
        assert_eq!(code_of(&[toc(16, 3), 0x42, 9, 7, 7]), ErrorCode::InvalidPadding);
        assert_eq!(code_of(&[toc(16, 3), 0x42]), ErrorCode::InvalidPadding, "padding length missing");
        assert_eq!(
            code_of(&[toc(16, 3), 0x42, 255]),
            ErrorCode::InvalidPadding,
            "continued padding length missing"
        );
    }

    #[test]
    fn code3_padding_value_255_adds_254_and_continues() {
        let mut packet = vec![toc(16, 3), 0x41, 255, 1];
        packet.extend(std::iter::repeat_n(5, 4));
        packet.extend(std::iter::repeat_n(0, 255));
        let info = inspect_packet(&packet).unwrap();
        assert_eq!((info.padding_len, info.frame_lengths()), (257, &[4u16][..]));
    }

    #[test]
    fn code3_vbr_lengths_must_fit_r7() {
        let info = inspect_packet(&[toc(16, 3), 0x83, 1, 2, 9, 8, 8, 7, 7, 7]).unwrap();
        assert!(info.vbr);
        assert_eq!(info.frame_lengths(), &[1, 2, 3]);
        assert_eq!(code_of(&[toc(16, 3), 0x83, 1]), ErrorCode::Truncated, "second length missing");
        assert_eq!(code_of(&[toc(16, 3), 0x83, 4, 4, 1]), ErrorCode::Truncated, "coded frames overrun");
        // With padding, the lengths and padding together must fit too.
        assert_eq!(code_of(&[toc(16, 3), 0xc2, 2, 1, 9, 0]), ErrorCode::Truncated);
        assert!(inspect_packet(&[toc(16, 3), 0xc2, 1, 1, 9, 0]).is_ok());
    }

    #[test]
    fn code3_vbr_last_frame_obeys_r2() {
        let mut packet = vec![toc(16, 3), 0x82, 0];
        packet.extend(std::iter::repeat_n(0, 1276));
        assert_eq!(code_of(&packet), ErrorCode::FrameTooLong);
    }

    #[test]
    fn code3_cbr_frames_obey_r2() {
        let mut packet = vec![toc(16, 3), 0x01];
        packet.extend(std::iter::repeat_n(0, 1276));
        assert_eq!(code_of(&packet), ErrorCode::FrameTooLong);
    }

    #[test]
    fn validate_returns_duration() {
        assert_eq!(validate_packet(&[toc(3, 0), 1]), Ok(2880));
        assert_eq!(validate_packet(&[toc(3, 1), 1, 1]), Ok(5760));
    }
}
