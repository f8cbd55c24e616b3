//! What a recorder needs from an H.264 sequence parameter set (ITU-T H.264
//! §7.3.2.1.1): the profile and level for the `avcC` box and the picture
//! size for the track header, cropping applied.

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
        let width_mbs = b.ue()? + 1;
        let height_map_units = b.ue()? + 1;
        let frame_mbs_only = b.bit()?;
        if frame_mbs_only == 0 {
            b.bit()?; // mb_adaptive_frame_field_flag
        }
        b.bit()?; // direct_8x8_inference_flag
        let (mut cl, mut cr, mut ct, mut cb) = (0, 0, 0, 0);
        if b.bit()? == 1 {
            cl = b.ue()?;
            cr = b.ue()?;
            ct = b.ue()?;
            cb = b.ue()?;
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
        let width = (width_mbs * 16)
            .checked_sub(crop_x * (cl + cr))
            .ok_or(SpsError::OutOfRange("frame cropping"))?;
        let height = ((2 - frame_mbs_only) * height_map_units * 16)
            .checked_sub(crop_y * (ct + cb))
            .ok_or(SpsError::OutOfRange("frame cropping"))?;
        Ok(Sps {
            profile,
            compatibility,
            level,
            width,
            height,
        })
    }
}

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
        let baseline = [
            0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
            0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80,
        ];
        let s = Sps::parse(&baseline).expect("parses");
        assert_eq!((s.profile, s.width, s.height), (66, 320, 240));
        assert_eq!(Sps::parse(&[0x68, 1, 2, 3]), Err(SpsError::NotSps));
        assert_eq!(Sps::parse(&[0x67, 0x64, 0, 0x1e]), Err(SpsError::Truncated));
    }
}
