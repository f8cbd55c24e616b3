//! The Vigie 3D operations view (Bevy).
