//! The fonts the view ships, embedded in the binary so that every mode
//! (window, screenshot, plan) draws the same glyphs wherever it runs.
//!
//! DejaVu Sans Mono for panels (their columns line up) and DejaVu Sans for
//! labels on the map; both cover Latin-1 and Latin Extended-A, so
//! Champs-Élysées, Trocadéro, Iéna or Œuvre render as written. Licence:
//! Bitstream Vera licence, DejaVu changes in the public domain
//! (`ground/assets/fonts/LICENSE`). The bytes are the ground crate's
//! ([`vigie_ground::map::text`]), which draws the planner's report maps
//! with the same faces.

use bevy::asset::{AssetId, Assets};
use bevy::prelude::*;
use bevy::text::Font;

/// DejaVu Sans Mono: the default font of every text in the view.
pub const MONO: &[u8] = vigie_ground::map::text::MONO;
/// DejaVu Sans: map labels.
pub const SANS: &[u8] = vigie_ground::map::text::SANS;

/// The label font's handle.
#[derive(Resource, Clone)]
pub struct Fonts {
    /// DejaVu Sans.
    pub sans: Handle<Font>,
}

/// Makes the mono font the default one (the handle every `TextFont` starts
/// with) and loads the label font.
pub fn install(app: &mut App) {
    let mut fonts = app.world_mut().resource_mut::<Assets<Font>>();
    if let Err(e) = fonts.insert(AssetId::default(), Font::from_bytes(MONO.to_vec())) {
        tracing::warn!("the panel font could not be installed, text may not show: {e}");
    }
    let sans = fonts.add(Font::from_bytes(SANS.to_vec()));
    app.insert_resource(Fonts { sans });
}

#[cfg(test)]
mod tests {
    use skrifa::{FontRef, MetadataProvider};

    use super::*;

    /// Characters a French (and European) site's names use: Latin-1
    /// Supplement letters and Latin Extended-A, plus the typographic signs
    /// names and notices carry.
    fn needed() -> impl Iterator<Item = char> {
        ('\u{c0}'..='\u{ff}')
            .chain('\u{100}'..='\u{17f}')
            .chain("«»’–—…€°·".chars())
    }

    #[test]
    fn both_fonts_have_a_glyph_for_every_latin_letter_a_site_name_uses() {
        for (name, data) in [("mono", MONO), ("sans", SANS)] {
            let font = FontRef::new(data).expect("shipped font parses");
            let charmap = font.charmap();
            let missing: String = needed().filter(|c| charmap.map(*c).is_none()).collect();
            assert!(missing.is_empty(), "{name} lacks {missing:?}");
            // And the map is real: a character no Latin font carries is absent.
            assert!(charmap.map('\u{4e2d}').is_none(), "{name} maps CJK?");
        }
    }
}
