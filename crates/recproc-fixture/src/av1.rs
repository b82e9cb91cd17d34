//! Reading the AV1 temporal units an encoder writes (pure): the low-overhead bitstream format
//! (OBUs with `obu_size` fields, AV1 spec 5.3), LEB128, and which temporal unit starts a coded
//! video sequence (a sequence header and a key frame), as the RTP packetiser needs them.

/// OBU types (AV1 spec 6.2.2) the fixture looks at.
pub const OBU_SEQUENCE_HEADER: u8 = 1;
pub const OBU_TEMPORAL_DELIMITER: u8 = 2;
pub const OBU_FRAME_HEADER: u8 = 3;
pub const OBU_FRAME: u8 = 6;
pub const OBU_TILE_LIST: u8 = 8;
pub const OBU_PADDING: u8 = 15;

/// The `obu_has_size_field` bit of an OBU header byte.
const HAS_SIZE: u8 = 0b10;
/// The `obu_extension_flag` bit.
const HAS_EXTENSION: u8 = 0b100;

/// One OBU of a temporal unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obu<'a> {
    /// `obu_type`.
    pub kind: u8,
    /// The OBU header (one byte, two with the extension).
    pub header: &'a [u8],
    /// What follows the header and the size field.
    pub payload: &'a [u8],
}

impl Obu<'_> {
    /// The OBU as an RTP OBU element carries it (AV1 RTP spec 4.3): header and payload with
    /// no `obu_size`, and `obu_has_size_field` cleared.
    pub fn without_size_field(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.header.len() + self.payload.len());
        out.push(self.header[0] & !HAS_SIZE);
        out.extend_from_slice(&self.header[1..]);
        out.extend_from_slice(self.payload);
        out
    }
}

/// `value` as unsigned LEB128 (7 bits a byte, least significant first, high bit = more).
pub fn leb128(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Reads an unsigned LEB128 value of at most 8 bytes (AV1's limit): the value and the bytes
/// it took.
pub fn read_leb128(bytes: &[u8]) -> Result<(u64, usize), String> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().take(8).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err("LEB128 value runs past its end or past 8 bytes".into())
}

/// The OBUs of one temporal unit in the low-overhead format. An OBU without a size field
/// runs to the end of the unit.
pub fn parse(unit: &[u8]) -> Result<Vec<Obu<'_>>, String> {
    let mut obus = Vec::new();
    let mut at = 0;
    while at < unit.len() {
        let first = unit[at];
        if first & 0x80 != 0 {
            return Err(format!("OBU at byte {at}: forbidden bit set"));
        }
        let header_len = if first & HAS_EXTENSION != 0 { 2 } else { 1 };
        let Some(header) = unit.get(at..at + header_len) else {
            return Err(format!("OBU at byte {at}: header cut short"));
        };
        let mut next = at + header_len;
        let size = if first & HAS_SIZE != 0 {
            let (size, read) =
                read_leb128(&unit[next..]).map_err(|e| format!("OBU at byte {at}: {e}"))?;
            next += read;
            usize::try_from(size).map_err(|_| format!("OBU at byte {at}: size {size}"))?
        } else {
            unit.len() - next
        };
        let Some(payload) = unit.get(next..next.saturating_add(size)) else {
            return Err(format!(
                "OBU at byte {at}: {size} bytes announced, {} left",
                unit.len() - next
            ));
        };
        obus.push(Obu {
            kind: (first >> 3) & 0x0f,
            header,
            payload,
        });
        at = next + size;
    }
    Ok(obus)
}

/// Whether the temporal unit starts a coded video sequence: it has a sequence header and its
/// first frame is a new key frame (`show_existing_frame` 0, `frame_type` KEY_FRAME; the first
/// bits of an uncompressed header when `reduced_still_picture_header` is 0, as for video).
pub fn starts_sequence(obus: &[Obu<'_>]) -> bool {
    let has_sequence_header = obus.iter().any(|o| o.kind == OBU_SEQUENCE_HEADER);
    let key = obus
        .iter()
        .find(|o| o.kind == OBU_FRAME || o.kind == OBU_FRAME_HEADER)
        .and_then(|o| o.payload.first())
        .is_some_and(|b| b & 0x80 == 0 && (b >> 5) & 0b11 == 0);
    has_sequence_header && key
}

/// Whether RTP carries this OBU: temporal delimiters, tile lists and padding are left out
/// (AV1 RTP spec 5).
pub fn is_sent(obu: &Obu<'_>) -> bool {
    !matches!(
        obu.kind,
        OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST | OBU_PADDING
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OBU with a size field: header byte for `kind`, LEB128 size, payload.
    fn sized(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![kind << 3 | HAS_SIZE];
        out.extend(leb128(payload.len() as u64));
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn leb128_round_trips_at_the_byte_boundaries() {
        assert_eq!(leb128(0), [0]);
        assert_eq!(leb128(127), [0x7f]);
        assert_eq!(leb128(128), [0x80, 0x01]);
        assert_eq!(leb128(300), [0xac, 0x02]);
        assert_eq!(leb128(16_383), [0xff, 0x7f]);
        assert_eq!(leb128(16_384), [0x80, 0x80, 0x01]);
        for v in [0, 1, 127, 128, 1099, 16_383, 16_384, 1 << 35] {
            assert_eq!(read_leb128(&leb128(v)).unwrap(), (v, leb128(v).len()));
        }
        // Trailing bytes are not read.
        assert_eq!(read_leb128(&[0xac, 0x02, 0xff]).unwrap(), (300, 2));
        assert!(read_leb128(&[0x80, 0x80]).is_err());
        assert!(read_leb128(&[0x80; 9]).is_err());
        assert!(read_leb128(&[]).is_err());
    }

    #[test]
    fn parses_a_keyframe_unit_as_libaom_writes_it() {
        let mut unit = sized(OBU_TEMPORAL_DELIMITER, &[]);
        unit.extend(sized(OBU_SEQUENCE_HEADER, &[0, 0, 0, 0x4f]));
        unit.extend(sized(OBU_FRAME, &[0x10; 200]));
        let obus = parse(&unit).unwrap();
        assert_eq!(
            obus.iter().map(|o| o.kind).collect::<Vec<_>>(),
            [OBU_TEMPORAL_DELIMITER, OBU_SEQUENCE_HEADER, OBU_FRAME]
        );
        assert_eq!(obus[1].header, [0x0a]);
        assert_eq!(obus[1].payload, [0, 0, 0, 0x4f]);
        assert_eq!(obus[2].payload.len(), 200);
        assert!(starts_sequence(&obus));
        assert!(!is_sent(&obus[0]) && is_sent(&obus[1]) && is_sent(&obus[2]));
        // The element RTP carries: size field gone, its flag cleared.
        assert_eq!(obus[1].without_size_field(), [0x08, 0, 0, 0, 0x4f]);
    }

    #[test]
    fn an_obu_without_size_field_runs_to_the_end_and_an_extension_is_kept() {
        // A frame OBU with the extension byte (temporal/spatial ids) and no size field.
        let unit = [OBU_FRAME << 3 | HAS_EXTENSION, 0x20, 0x30, 1, 2];
        let obus = parse(&unit).unwrap();
        assert_eq!(obus.len(), 1);
        assert_eq!(obus[0].header, [OBU_FRAME << 3 | HAS_EXTENSION, 0x20]);
        assert_eq!(obus[0].payload, [0x30, 1, 2]);
        assert_eq!(obus[0].without_size_field(), unit);
    }

    #[test]
    fn bad_units_are_refused() {
        assert!(parse(&[0x80]).unwrap_err().contains("forbidden"));
        assert!(parse(&[OBU_FRAME << 3 | HAS_EXTENSION])
            .unwrap_err()
            .contains("header"));
        assert!(parse(&[OBU_FRAME << 3 | HAS_SIZE, 5, 1, 2])
            .unwrap_err()
            .contains("5 bytes announced, 2 left"));
        assert!(parse(&[]).unwrap().is_empty());
    }

    #[test]
    fn only_a_key_frame_with_a_sequence_header_starts_a_sequence() {
        let sh = sized(OBU_SEQUENCE_HEADER, &[0; 4]);
        let key = sized(OBU_FRAME, &[0x10, 0]); // show_existing 0, KEY_FRAME, show_frame
        let inter = sized(OBU_FRAME, &[0x30, 0]); // INTER_FRAME
        let shown = sized(OBU_FRAME_HEADER, &[0x80]); // show_existing_frame
        let starts = |parts: &[&[u8]]| starts_sequence(&parse(&parts.concat()).unwrap());
        assert!(starts(&[&sh, &key]));
        assert!(!starts(&[&key]));
        assert!(!starts(&[&sh, &inter]));
        assert!(!starts(&[&sh, &shown]));
        assert!(!starts(&[&sh]));
        // A header OBU before its tile groups counts like a frame OBU.
        assert!(starts(&[&sh, &sized(OBU_FRAME_HEADER, &[0x10])]));
    }
}
