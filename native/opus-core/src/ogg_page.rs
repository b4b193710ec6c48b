//! Ogg page layout (RFC 3533 §6): CRC-32, header parsing and page writing.

use std::sync::LazyLock;

use crc_fast::{CrcParams, checksum_with_params};

use crate::error::{Error, ErrorCode, Result};

pub const CAPTURE_PATTERN: &[u8; 4] = b"OggS";
pub const HEADER_LEN: usize = 27;
pub const MAX_SEGMENTS: usize = 255;
pub const MAX_SEGMENT_LEN: usize = 255;
pub const MAX_PAGE_LEN: usize = HEADER_LEN + MAX_SEGMENTS + MAX_SEGMENTS * MAX_SEGMENT_LEN;
/// Granule position meaning "no packet finishes on this page".
pub const NO_GRANULE: i64 = -1;

pub const FLAG_CONTINUED: u8 = 0x01;
pub const FLAG_BOS: u8 = 0x02;
pub const FLAG_EOS: u8 = 0x04;

const CHECKSUM_OFFSET: usize = 22;
const CRC_POLYNOMIAL: u32 = 0x04c1_1db7;

/// Slicing-by-16 tables: `TABLES[k][b]` is the CRC of byte `b` followed by `k` zero bytes, which lets the
/// hot loop fold 16 input bytes per step instead of one.
static TABLES: [[u32; 256]; 16] = crc_tables();

const fn crc_tables() -> [[u32; 256]; 16] {
    let mut tables = [[0u32; 256]; 16];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = (byte as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ CRC_POLYNOMIAL } else { crc << 1 };
            bit += 1;
        }
        tables[0][byte] = crc;
        byte += 1;
    }
    let mut slice = 1;
    while slice < 16 {
        let mut byte = 0;
        while byte < 256 {
            let previous = tables[slice - 1][byte];
            tables[slice][byte] = (previous << 8) ^ tables[0][(previous >> 24) as usize];
            byte += 1;
        }
        slice += 1;
    }
    tables
}

/// Below this many bytes the table is faster than setting up SIMD folding.
const SIMD_CRC_MIN_LEN: usize = 256;

static SIMD_CRC_PARAMS: LazyLock<CrcParams> =
    LazyLock::new(|| CrcParams::new("CRC-32/OGG", 32, CRC_POLYNOMIAL as u64, 0, false, 0, 0x89a1_897f));

/// Continues an Ogg CRC-32 (polynomial 0x04c11db7, no reflection, initial value 0, no final xor).
pub fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    if data.len() < SIMD_CRC_MIN_LEN {
        return table_crc32_update(crc, data);
    }
    // Without reflection or a final xor, continuing a CRC is starting the register at its value.
    let mut params = *SIMD_CRC_PARAMS;
    params.init = crc as u64;
    params.init_algorithm = crc as u64;
    checksum_with_params(params, data) as u32
}

fn table_crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    let t = &TABLES;
    let mut blocks = data.chunks_exact(16);
    for b in &mut blocks {
        let head = crc ^ u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        crc = t[15][(head >> 24) as usize]
            ^ t[14][((head >> 16) & 0xff) as usize]
            ^ t[13][((head >> 8) & 0xff) as usize]
            ^ t[12][(head & 0xff) as usize]
            ^ t[11][b[4] as usize]
            ^ t[10][b[5] as usize]
            ^ t[9][b[6] as usize]
            ^ t[8][b[7] as usize]
            ^ t[7][b[8] as usize]
            ^ t[6][b[9] as usize]
            ^ t[5][b[10] as usize]
            ^ t[4][b[11] as usize]
            ^ t[3][b[12] as usize]
            ^ t[2][b[13] as usize]
            ^ t[1][b[14] as usize]
            ^ t[0][b[15] as usize];
    }
    for &byte in blocks.remainder() {
        crc = (crc << 8) ^ t[0][((crc >> 24) ^ byte as u32) as usize];
    }
    crc
}

pub fn crc32(data: &[u8]) -> u32 {
    crc32_update(0, data)
}

/// CRC of a whole page as if its checksum field were zero, which is how RFC 3533 defines it.
fn page_checksum(page: &[u8]) -> u32 {
    let crc = crc32_update(0, &page[..CHECKSUM_OFFSET]);
    let crc = crc32_update(crc, &[0; 4]);
    crc32_update(crc, &page[CHECKSUM_OFFSET + 4..])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page<'a> {
    pub header_type: u8,
    pub granule_position: i64,
    pub serial: u32,
    pub sequence: u32,
    pub lacing: &'a [u8],
    pub body: &'a [u8],
    /// Length of the whole page in bytes, header included.
    pub len: usize,
}

impl Page<'_> {
    pub fn is_continued(&self) -> bool {
        self.header_type & FLAG_CONTINUED != 0
    }
    pub fn is_bos(&self) -> bool {
        self.header_type & FLAG_BOS != 0
    }
    pub fn is_eos(&self) -> bool {
        self.header_type & FLAG_EOS != 0
    }
}

/// Parses the page at the start of `buf`. `Ok(None)` means the bytes so far are a valid prefix of a page
/// and more input is needed; a wrong capture pattern, version or checksum is an error.
pub fn parse_page(buf: &[u8]) -> Result<Option<Page<'_>>> {
    let prefix_len = buf.len().min(CAPTURE_PATTERN.len());
    if buf[..prefix_len] != CAPTURE_PATTERN[..prefix_len] {
        return Err(Error::new(ErrorCode::InvalidPage, "missing OggS capture pattern"));
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if buf[4] != 0 {
        return Err(Error::new(ErrorCode::InvalidPage, format!("unsupported Ogg version {}", buf[4])));
    }
    let segment_count = buf[26] as usize;
    let body_start = HEADER_LEN + segment_count;
    if buf.len() < body_start {
        return Ok(None);
    }
    let lacing = &buf[HEADER_LEN..body_start];
    let body_len: usize = lacing.iter().map(|&v| v as usize).sum();
    let len = body_start + body_len;
    if buf.len() < len {
        return Ok(None);
    }
    let stored = u32::from_le_bytes([buf[22], buf[23], buf[24], buf[25]]);
    let computed = page_checksum(&buf[..len]);
    if stored != computed {
        return Err(Error::new(
            ErrorCode::CrcMismatch,
            format!("page checksum is {stored:#010x}, contents hash to {computed:#010x}"),
        ));
    }
    Ok(Some(Page {
        header_type: buf[5],
        granule_position: i64::from_le_bytes([
            buf[6], buf[7], buf[8], buf[9], buf[10], buf[11], buf[12], buf[13],
        ]),
        serial: u32::from_le_bytes([buf[14], buf[15], buf[16], buf[17]]),
        sequence: u32::from_le_bytes([buf[18], buf[19], buf[20], buf[21]]),
        lacing,
        body: &buf[body_start..len],
        len,
    }))
}

/// Position of the next capture pattern in `buf`, used to regain sync after a bad page.
pub fn find_capture_pattern(buf: &[u8]) -> Option<usize> {
    buf.windows(CAPTURE_PATTERN.len()).position(|w| w == CAPTURE_PATTERN)
}

pub struct PageSpec<'a> {
    pub header_type: u8,
    pub granule_position: i64,
    pub serial: u32,
    pub sequence: u32,
    pub lacing: &'a [u8],
    pub body: &'a [u8],
}

/// Appends one page, checksum included, to `out`.
pub fn write_page(out: &mut Vec<u8>, spec: &PageSpec<'_>) {
    debug_assert!(spec.lacing.len() <= MAX_SEGMENTS);
    debug_assert_eq!(spec.lacing.iter().map(|&v| v as usize).sum::<usize>(), spec.body.len());
    let start = out.len();
    out.reserve(HEADER_LEN + spec.lacing.len() + spec.body.len());
    out.extend_from_slice(CAPTURE_PATTERN);
    out.push(0);
    out.push(spec.header_type);
    out.extend_from_slice(&spec.granule_position.to_le_bytes());
    out.extend_from_slice(&spec.serial.to_le_bytes());
    out.extend_from_slice(&spec.sequence.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(spec.lacing.len() as u8);
    out.extend_from_slice(spec.lacing);
    out.extend_from_slice(spec.body);
    let checksum = crc32(&out[start..]);
    out[start + CHECKSUM_OFFSET..start + CHECKSUM_OFFSET + 4].copy_from_slice(&checksum.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitwise_crc(data: &[u8]) -> u32 {
        let mut crc = 0u32;
        for &byte in data {
            crc ^= (byte as u32) << 24;
            for _ in 0..8 {
                crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ CRC_POLYNOMIAL } else { crc << 1 };
            }
        }
        crc
    }

    fn sample_page(body: &[u8], header_type: u8) -> Vec<u8> {
        let lacing = [body.len() as u8];
        let mut out = Vec::new();
        write_page(
            &mut out,
            &PageSpec { header_type, granule_position: 960, serial: 7, sequence: 3, lacing: &lacing, body },
        );
        out
    }

    #[test]
    fn crc_matches_the_reference_check_value() {
        // CRC-32/MPEG-2 without its 0xffffffff init and final xor: the Ogg variant of "123456789".
        assert_eq!(crc32(b"123456789"), 0x89a1_897f);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn table_and_simd_crc_equal_bitwise_crc_for_all_lengths_and_splits() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for len in (0..600).chain((600..data.len()).step_by(97)) {
            let expected = bitwise_crc(&data[..len]);
            assert_eq!(table_crc32_update(0, &data[..len]), expected, "table, length {len}");
            assert_eq!(crc32(&data[..len]), expected, "length {len}");
            let split = len / 3;
            assert_eq!(crc32_update(crc32(&data[..split]), &data[split..len]), expected);
        }
    }

    #[test]
    fn written_page_parses_back_with_every_field() {
        let bytes = sample_page(b"hello", FLAG_BOS | FLAG_EOS);
        let page = parse_page(&bytes).unwrap().unwrap();
        assert_eq!(page.len, bytes.len());
        assert_eq!(page.body, b"hello");
        assert_eq!(page.granule_position, 960);
        assert_eq!((page.serial, page.sequence), (7, 3));
        assert!(page.is_bos() && page.is_eos() && !page.is_continued());
    }

    #[test]
    fn every_proper_prefix_of_a_page_asks_for_more_bytes() {
        let bytes = sample_page(b"payload", 0);
        for len in 0..bytes.len() {
            assert_eq!(parse_page(&bytes[..len]), Ok(None), "prefix {len}");
        }
    }

    #[test]
    fn any_flipped_byte_is_a_crc_mismatch_or_bad_header() {
        let bytes = sample_page(b"payload bytes", 0);
        for index in 0..bytes.len() {
            let mut corrupt = bytes.clone();
            corrupt[index] ^= 0x10;
            match parse_page(&corrupt) {
                Err(e) => assert!(matches!(e.code, ErrorCode::CrcMismatch | ErrorCode::InvalidPage)),
                // A changed segment count or lacing value can make the page longer than the buffer.
                Ok(None) => assert!(index == HEADER_LEN - 1 || index == HEADER_LEN),
                Ok(Some(_)) => panic!("corruption at {index} went unnoticed"),
            }
        }
    }

    #[test]
    fn rejects_wrong_capture_and_version() {
        let mut bytes = sample_page(b"x", 0);
        bytes[4] = 1;
        assert_eq!(parse_page(&bytes).unwrap_err().code, ErrorCode::InvalidPage);
        assert_eq!(parse_page(b"OggX").unwrap_err().code, ErrorCode::InvalidPage);
    }

    #[test]
    fn finds_the_next_capture_pattern() {
        assert_eq!(find_capture_pattern(b"xxOgOggSyy"), Some(4));
        assert_eq!(find_capture_pattern(b"Ogg"), None);
    }

    #[test]
    fn empty_page_with_no_segments_is_valid() {
        let mut out = Vec::new();
        write_page(
            &mut out,
            &PageSpec {
                header_type: FLAG_EOS,
                granule_position: 5,
                serial: 1,
                sequence: 9,
                lacing: &[],
                body: &[],
            },
        );
        let page = parse_page(&out).unwrap().unwrap();
        assert_eq!((page.len, page.body.len()), (HEADER_LEN, 0));
    }
}
