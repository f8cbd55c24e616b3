//! What a recorder needs from an H.264 sequence parameter set (ITU-T H.264
//! §7.3.2.1.1): the profile and level for the `avcC` box and the picture
//! size for the track header, cropping applied.

/// Most macroblocks on a side of any H.264 picture.
const MAX_SIDE_MBS: u64 = 1056;

/// The fields of an SPS a container needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sps {
    /// `profile_idc` (66 baseline, 77 main, 100 high…).
    pub profile: u8,
    /// The constraint flags byte.
    pub compatibility: u8,
    /// `level_idc` (31 = level 3.1).
    pub level: u8,
    /// Displayed width, pixels.
    pub width: u32,
    /// Displayed height, pixels.
    pub height: u32,
}

/// Why an SPS could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpsError {
    /// Not a sequence parameter set NAL unit.
    NotSps,
    /// It ended before its fields did.
    Truncated,
    /// A value out of the standard's range.
    OutOfRange(&'static str),
}

impl std::fmt::Display for SpsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpsError::NotSps => f.write_str("not an H.264 sequence parameter set"),
            SpsError::Truncated => f.write_str("H.264 sequence parameter set cut short"),
            SpsError::OutOfRange(what) => {
                write!(f, "H.264 sequence parameter set: {what} out of range")
            }
        }
    }
}

impl std::error::Error for SpsError {}

/// Bits of an RBSP (emulation prevention bytes removed), MSB first.
struct Bits {
    data: Vec<u8>,
    pos: usize,
}

impl Bits {
    fn new(nal_payload: &[u8]) -> Bits {
        // Drop emulation prevention: 00 00 03 -> 00 00.
        let mut data = Vec::with_capacity(nal_payload.len());
        let mut zeros = 0;
        for &b in nal_payload {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            zeros = if b == 0 { zeros + 1 } else { 0 };
            data.push(b);
        }
        Bits { data, pos: 0 }
    }

    fn bit(&mut self) -> Result<u32, SpsError> {
        let byte = self.data.get(self.pos / 8).ok_or(SpsError::Truncated)?;
        let b = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(u32::from(b))
    }

    fn bits(&mut self, n: u32) -> Result<u32, SpsError> {
        (0..n).try_fold(0, |v, _| Ok(v << 1 | self.bit()?))
    }

    /// Unsigned exp-Golomb.
    fn ue(&mut self) -> Result<u32, SpsError> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(SpsError::OutOfRange("exp-Golomb code"));
            }
        }
        Ok((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    /// Signed exp-Golomb.
    fn se(&mut self) -> Result<i32, SpsError> {
        let k = self.ue()?;
        Ok(if k % 2 == 1 {
            k.div_ceil(2) as i32
        } else {
            -((k / 2) as i32)
        })
    }
}

impl Sps {
    /// Reads an SPS NAL unit (header byte included, no start code).
    pub fn parse(nal: &[u8]) -> Result<Sps, SpsError> {
        if nal.first().map(|b| b & 0x1f) != Some(super::h264::nal::SPS) || nal.len() < 4 {
            return Err(SpsError::NotSps);
        }
        let (profile, compatibility, level) = (nal[1], nal[2], nal[3]);
        let mut b = Bits::new(&nal[4..]);
        b.ue()?; // seq_parameter_set_id
        let mut chroma_format_idc = 1;
        let mut separate_colour_plane = false;
        if matches!(
            profile,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        ) {
            chroma_format_idc = b.ue()?;
            if chroma_format_idc > 3 {
                return Err(SpsError::OutOfRange("chroma_format_idc"));
            }
            if chroma_format_idc == 3 {
                separate_colour_plane = b.bit()? == 1;
            }
            b.ue()?; // bit_depth_luma_minus8
            b.ue()?; // bit_depth_chroma_minus8
            b.bit()?; // qpprime_y_zero_transform_bypass_flag
            if b.bit()? == 1 {
                // seq_scaling_matrix_present_flag: skip the lists.
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if b.bit()? == 1 {
                        let size = if i < 6 { 16 } else { 64 };
                        let (mut last, mut next) = (8i32, 8i32);
                        for _ in 0..size {
                            if next != 0 {
                                next = (last + b.se()? + 256) % 256;
                            }
                            if next != 0 {
                                last = next;
                            }
                        }
                    }
                }
            }
        }
        b.ue()?; // log2_max_frame_num_minus4
        match b.ue()? {
            0 => {
                b.ue()?; // log2_max_pic_order_cnt_lsb_minus4
            }
            1 => {
                b.bit()?; // delta_pic_order_always_zero_flag
                b.se()?; // offset_for_non_ref_pic
                b.se()?; // offset_for_top_to_bottom_field
                let n = b.ue()?;
                if n > 255 {
                    return Err(SpsError::OutOfRange(
                        "num_ref_frames_in_pic_order_cnt_cycle",
                    ));
                }
                for _ in 0..n {
                    b.se()?;
                }
            }
            2 => {}
            _ => return Err(SpsError::OutOfRange("pic_order_cnt_type")),
        }
        b.ue()?; // max_num_ref_frames
        b.bit()?; // gaps_in_frame_num_value_allowed_flag
        let width_mbs = u64::from(b.ue()?) + 1;
        let height_map_units = u64::from(b.ue()?) + 1;
        // No level allows a side over sqrt(8 x 139,264) macroblocks (level
        // 6.2's largest frame, ITU-T H.264 table A-1).
        if width_mbs > MAX_SIDE_MBS || height_map_units > MAX_SIDE_MBS {
            return Err(SpsError::OutOfRange("picture size"));
        }
        let frame_mbs_only = u64::from(b.bit()?);
        if frame_mbs_only == 0 {
            b.bit()?; // mb_adaptive_frame_field_flag
        }
        b.bit()?; // direct_8x8_inference_flag
        let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0, 0, 0);
        if b.bit()? == 1 {
            cl = u64::from(b.ue()?);
            cr = u64::from(b.ue()?);
            ct = u64::from(b.ue()?);
            cb = u64::from(b.ue()?);
        }
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (sub_w, sub_h) = match chroma_array_type {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let (crop_x, crop_y) = if chroma_array_type == 0 {
            (1, 2 - frame_mbs_only)
        } else {
            (sub_w, sub_h * (2 - frame_mbs_only))
        };
        // Every factor is below 2^33 here: no product overflows a u64.
        let cropped = |full: u64, crop: u64| {
            full.checked_sub(crop)
                .filter(|side| *side > 0)
                .and_then(|side| u32::try_from(side).ok())
                .ok_or(SpsError::OutOfRange("frame cropping"))
        };
        let width = cropped(width_mbs * 16, crop_x * (cl + cr))?;
        let height = cropped(
            (2 - frame_mbs_only) * height_map_units * 16,
            crop_y * (ct + cb),
        )?;
        Ok(Sps {
            profile,
            compatibility,
            level,
            width,
            height,
        })
    }
}

/// An SPS x264 wrote (`ffmpeg -f lavfi -i testsrc=size=320x240 -c:v
/// libx264 -profile:v baseline`): Baseline, 320x240. For synthetic streams
/// (benchmarks, tests) that must parse as a real encoder's.
pub const X264_BASELINE_320X240: [u8; 24] = [
    0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
    0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80,
];

/// A picture parameter set to go with [`X264_BASELINE_320X240`].
pub const EXAMPLE_PPS: [u8; 4] = [0x68, 0xce, 0x3c, 0x80];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_size_of_real_encoders_parameter_sets() {
        // Written by x264 (ffmpeg -f lavfi -i testsrc=size=640x360 -pix_fmt
        // yuv420p -c:v libx264): High profile, 640x368 cropped to 360.
        let high = [
            0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00,
            0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96,
        ];
        let s = Sps::parse(&high).expect("parses");
        assert_eq!((s.profile, s.level), (100, 30));
        assert_eq!((s.width, s.height), (640, 360));
        // The same at 320x240, baseline profile (-profile:v baseline).
        let s = Sps::parse(&X264_BASELINE_320X240).expect("parses");
        assert_eq!((s.profile, s.width, s.height), (66, 320, 240));
        assert_eq!(Sps::parse(&[0x68, 1, 2, 3]), Err(SpsError::NotSps));
        assert_eq!(Sps::parse(&[0x67, 0x64, 0, 0x1e]), Err(SpsError::Truncated));
    }

    /// Packs a bit string ('0'/'1', spaces ignored) into an SPS after a
    /// Baseline header, as a hostile stream could send it.
    fn baseline_sps(bits: &str) -> Vec<u8> {
        let bits: Vec<u8> = bits
            .bytes()
            .filter(|b| *b != b' ')
            .map(|b| b - b'0')
            .collect();
        let mut out = vec![0x67, 66, 0, 30];
        for chunk in bits.chunks(8) {
            let mut byte = 0u8;
            for (i, b) in chunk.iter().enumerate() {
                byte |= b << (7 - i);
            }
            out.push(byte);
        }
        out
    }

    /// An unsigned exp-Golomb code as a bit string.
    fn ue(v: u32) -> String {
        let code = u64::from(v) + 1;
        let len = 64 - code.leading_zeros() as usize;
        format!("{}{code:b}", "0".repeat(len - 1))
    }

    #[test]
    fn sizes_no_encoder_writes_are_refused_not_overflowed() {
        // Baseline: id, log2_max_frame_num, poc type 2, refs, no gaps,
        // width and height in macroblocks less one, frame_mbs_only,
        // direct_8x8, then cropping (flag and four offsets).
        let sps = |w: u32, h: u32, crop: Option<[u32; 4]>| {
            let mut bits = format!("{}{}{}{}0{}{}11", ue(0), ue(0), ue(2), ue(1), ue(w), ue(h));
            match crop {
                Some(c) => {
                    bits.push('1');
                    c.iter().for_each(|v| bits.push_str(&ue(*v)));
                }
                None => bits.push('0'),
            }
            bits.push('1'); // vui absent is 0; a stop bit closes the RBSP
            baseline_sps(&bits)
        };
        let fine = Sps::parse(&sps(19, 14, Some([0, 0, 0, 4]))).expect("parses");
        assert_eq!((fine.width, fine.height), (320, 232));
        assert_eq!(
            Sps::parse(&sps(u32::MAX - 1, 14, None)),
            Err(SpsError::OutOfRange("picture size"))
        );
        assert_eq!(
            Sps::parse(&sps(19, 14, Some([u32::MAX - 1, u32::MAX - 1, 0, 0]))),
            Err(SpsError::OutOfRange("frame cropping"))
        );
        assert_eq!(
            Sps::parse(&sps(19, 14, Some([80, 80, 0, 0]))),
            Err(SpsError::OutOfRange("frame cropping")),
            "cropped to nothing"
        );
    }
}
