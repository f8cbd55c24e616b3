//! The typefaces Vigie ships and text drawn into images with them.
//!
//! DejaVu Sans (map labels) and DejaVu Sans Mono (the viewer's panels),
//! embedded so that the viewer and the planner's report maps draw the same
//! glyphs wherever they run; both cover Latin-1 and Latin Extended-A
//! (Champs-Élysées, Trocadéro, Iéna render as written). Licence: Bitstream
//! Vera, DejaVu changes in the public domain (`ground/assets/fonts/LICENSE`).
//! Glyphs are rasterised by `swash` (the scaler the viewer's text stack
//! already builds), anti-aliased, blended over the image.

use image::{Rgb, RgbImage};
use swash::FontRef;
use swash::scale::{Render, ScaleContext, Source};
use swash::zeno::Format;

/// DejaVu Sans.
pub const SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// DejaVu Sans Mono.
pub const MONO: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");

/// Draws text with one typeface, keeping the scaler's caches.
pub struct Pen {
    font: FontRef<'static>,
    context: ScaleContext,
}

impl Pen {
    /// A pen with DejaVu Sans; `None` only if the embedded font were
    /// corrupt (a test checks it is not).
    pub fn sans() -> Option<Pen> {
        Some(Pen {
            font: FontRef::from_index(SANS, 0)?,
            context: ScaleContext::new(),
        })
    }

    /// Width and height of `s` at `px` pixels per em: advances summed, the
    /// line's ascent plus descent.
    pub fn measure(&self, s: &str, px: f32) -> [f32; 2] {
        let glyphs = self.font.glyph_metrics(&[]).scale(px);
        let charmap = self.font.charmap();
        let w = s
            .chars()
            .map(|c| glyphs.advance_width(charmap.map(c)))
            .sum();
        let m = self.font.metrics(&[]).scale(px);
        [w, m.ascent + m.descent]
    }

    /// Draws `s` with its box's top-left corner at `at`, in `colour`,
    /// blended over what is there; what falls off the image is clipped.
    pub fn draw(&mut self, img: &mut RgbImage, at: [f32; 2], s: &str, px: f32, colour: Rgb<u8>) {
        let glyphs = self.font.glyph_metrics(&[]).scale(px);
        let charmap = self.font.charmap();
        let ascent = self.font.metrics(&[]).scale(px).ascent;
        let mut scaler = self.context.builder(self.font).size(px).build();
        let baseline = (at[1] + ascent).round() as i64;
        let mut x = at[0];
        for c in s.chars() {
            let id = charmap.map(c);
            let image = Render::new(&[Source::Outline])
                .format(Format::Alpha)
                .render(&mut scaler, id);
            if let Some(image) = image {
                let p = image.placement;
                let left = x.round() as i64 + i64::from(p.left);
                let top = baseline - i64::from(p.top);
                for row in 0..p.height as usize {
                    for col in 0..p.width as usize {
                        let a = image.data[row * p.width as usize + col];
                        blend(img, left + col as i64, top + row as i64, colour, a);
                    }
                }
            }
            x += glyphs.advance_width(id);
        }
    }
}

/// `top` at `alpha` (0–255) over `under`.
pub fn mix(top: Rgb<u8>, under: Rgb<u8>, alpha: u8) -> Rgb<u8> {
    let a = u16::from(alpha);
    Rgb(std::array::from_fn(|k| {
        ((u16::from(top.0[k]) * a + u16::from(under.0[k]) * (255 - a)) / 255) as u8
    }))
}

/// Blends `colour` at coverage `alpha` (0–255) over the pixel at (x, y);
/// nothing off the image.
pub fn blend(img: &mut RgbImage, x: i64, y: i64, colour: Rgb<u8>, alpha: u8) {
    if alpha == 0 || x < 0 || y < 0 || x >= i64::from(img.width()) || y >= i64::from(img.height()) {
        return;
    }
    let p = img.get_pixel_mut(x as u32, y as u32);
    *p = mix(colour, *p, alpha);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn_where_measured_and_accents_are_not_boxes() {
        let mut pen = Pen::sans().expect("the shipped font parses");
        let px = 16.0;
        let [w, h] = pen.measure("Trocadéro", px);
        assert!(w > 50.0 && w < 110.0, "{w}");
        assert!(h > 14.0 && h < 24.0, "{h}");
        let ink = |s: &str| {
            let mut pen = Pen::sans().expect("font");
            let mut img = RgbImage::from_pixel(200, 40, Rgb([255, 255, 255]));
            pen.draw(&mut img, [10.0, 10.0], s, px, Rgb([0, 0, 0]));
            img
        };
        let img = ink("Trocadéro");
        // Ink lies inside the measured box (a pixel of anti-aliasing aside).
        let (mut min_x, mut max_x, mut min_y, mut max_y) = (u32::MAX, 0, u32::MAX, 0);
        for (x, y, p) in img.enumerate_pixels() {
            if p.0[0] < 128 {
                min_x = min_x.min(x);
                max_x = max_x.max(x);
                min_y = min_y.min(y);
                max_y = max_y.max(y);
            }
        }
        assert!(min_x >= 10 && f64::from(max_x) <= 10.0 + f64::from(w) + 1.0);
        assert!(min_y >= 10 && f64::from(max_y) <= 10.0 + f64::from(h) + 1.0);
        // é is not e (nor a missing-glyph box, which would be the same
        // for É and È): three spellings, three different images.
        let (a, b, c) = (ink("Iena"), ink("Iéna"), ink("Ièna"));
        assert_ne!(a, b);
        assert_ne!(b, c);
        pen.draw(
            &mut RgbImage::new(1, 1),
            [-5.0, -5.0],
            "clipped",
            px,
            Rgb([0, 0, 0]),
        );
    }
}
