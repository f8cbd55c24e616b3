//! Scale bars: a round ground length that fits a bar, and how to write it.

/// A round length for a scale bar at most `max_px` long when one pixel is
/// `metres_per_px` metres: (metres, pixels).
pub fn round_length(metres_per_px: f32, max_px: f32) -> Option<(f32, f32)> {
    if !(metres_per_px.is_finite() && metres_per_px > 0.0) {
        return None;
    }
    let budget = metres_per_px * max_px;
    let mut best = None;
    let mut decade = 1.0f32;
    while decade <= 100_000.0 {
        for step in [1.0, 2.0, 5.0] {
            let m = step * decade;
            if m <= budget {
                best = Some(m);
            }
        }
        decade *= 10.0;
    }
    best.map(|m| (m, m / metres_per_px))
}

/// `250 m`, `1 km`, `2.5 km`.
pub fn format_length(m: f32) -> String {
    if m >= 1000.0 {
        let km = m / 1000.0;
        if km.fract() == 0.0 {
            format!("{km:.0} km")
        } else {
            format!("{km:.1} km")
        }
    } else {
        format!("{m:.0} m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_bar_is_a_round_length_that_fits() {
        assert_eq!(round_length(1.0, 120.0), Some((100.0, 100.0)));
        assert_eq!(round_length(2.0, 120.0), Some((200.0, 100.0)));
        let (m, w) = round_length(7.3, 120.0).expect("a length");
        assert_eq!(m, 500.0);
        assert!(w <= 120.0 && w > 60.0);
        assert_eq!(round_length(0.0, 120.0), None);
        assert_eq!(format_length(500.0), "500 m");
        assert_eq!(format_length(2000.0), "2 km");
        assert_eq!(format_length(2500.0), "2.5 km");
    }
}
