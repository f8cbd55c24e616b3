//! The interface's words in French and English. The language comes from
//! `--lang`, else from the locale (`LC_ALL`, `LC_MESSAGES`, `LANG`
//! starting with `fr`), else English. Names from the data (sites, streets,
//! units) are shown as written.

use bevy::prelude::Resource;
use vigie_protocols::api::UnitStatus;

use crate::scene::{OwnerNetwork, ZoneKind};

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Resource)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// French.
    Fr,
}

impl Lang {
    /// Parses `en` or `fr` (case and region ignored: `fr_FR.UTF-8`).
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("fr") {
            Some(Lang::Fr)
        } else if s.starts_with("en") || s == "c" || s == "posix" {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The locale's language, English when the locale names neither.
    pub fn from_env() -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|k| std::env::var(k).ok())
            .find(|v| !v.is_empty())
            .and_then(|v| Lang::parse(&v))
            .unwrap_or_default()
    }

    /// Picks the English or the French text.
    pub fn pick<'a>(self, en: &'a str, fr: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Fr => fr,
        }
    }

    /// A unit status as a dispatcher says it.
    pub fn status(self, s: UnitStatus) -> &'static str {
        match (self, s) {
            (Lang::En, UnitStatus::Available) => "available",
            (Lang::En, UnitStatus::EnRoute) => "en route",
            (Lang::En, UnitStatus::OnScene) => "on scene",
            (Lang::En, UnitStatus::Busy) => "busy",
            (Lang::En, UnitStatus::Unavailable) => "unavailable",
            (Lang::En, UnitStatus::LinkLost) => "link lost",
            (Lang::Fr, UnitStatus::Available) => "disponible",
            (Lang::Fr, UnitStatus::EnRoute) => "en route",
            (Lang::Fr, UnitStatus::OnScene) => "sur place",
            (Lang::Fr, UnitStatus::Busy) => "occupé",
            (Lang::Fr, UnitStatus::Unavailable) => "indisponible",
            (Lang::Fr, UnitStatus::LinkLost) => "liaison perdue",
        }
    }

    /// A camera owner network.
    pub fn owner(self, o: OwnerNetwork) -> &'static str {
        match (self, o) {
            (Lang::En, OwnerNetwork::City) => "city cameras",
            (Lang::En, OwnerNetwork::Transit) => "transit cameras",
            (Lang::En, OwnerNetwork::Parking) => "car park cameras",
            (Lang::En, OwnerNetwork::Housing) => "social housing cameras",
            (Lang::En, OwnerNetwork::Private) => "private cameras",
            (Lang::En, OwnerNetwork::Fleet) => "fleet cameras",
            (Lang::En, OwnerNetwork::Other) => "other cameras",
            (Lang::Fr, OwnerNetwork::City) => "caméras de la ville",
            (Lang::Fr, OwnerNetwork::Transit) => "caméras des transports",
            (Lang::Fr, OwnerNetwork::Parking) => "caméras des parkings",
            (Lang::Fr, OwnerNetwork::Housing) => "caméras des bailleurs",
            (Lang::Fr, OwnerNetwork::Private) => "caméras privées",
            (Lang::Fr, OwnerNetwork::Fleet) => "caméras embarquées",
            (Lang::Fr, OwnerNetwork::Other) => "autres caméras",
        }
    }

    /// A kind of zone.
    pub fn zone(self, z: ZoneKind) -> &'static str {
        match (self, z) {
            (Lang::En, ZoneKind::Event) => "event zone",
            (Lang::En, ZoneKind::NoFly) => "no-fly zone",
            (Lang::En, ZoneKind::DronePerimeter) => "drone flight authorisation",
            (Lang::Fr, ZoneKind::Event) => "périmètre de l'événement",
            (Lang::Fr, ZoneKind::NoFly) => "zone interdite de vol",
            (Lang::Fr, ZoneKind::DronePerimeter) => "autorisation de vol des drones",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_choose_the_language_and_every_word_has_both() {
        assert_eq!(Lang::parse("fr_FR.UTF-8"), Some(Lang::Fr));
        assert_eq!(Lang::parse("FR"), Some(Lang::Fr));
        assert_eq!(Lang::parse("en_GB"), Some(Lang::En));
        assert_eq!(Lang::parse("C"), Some(Lang::En));
        assert_eq!(Lang::parse("de_DE"), None);
        for s in UnitStatus::ALL {
            assert!(!Lang::Fr.status(s).is_empty() && !Lang::En.status(s).is_empty());
        }
        // The two languages differ where they should (not a copy).
        let differ = UnitStatus::ALL
            .iter()
            .filter(|s| Lang::Fr.status(**s) != Lang::En.status(**s))
            .count();
        assert!(differ >= 5);
        for o in OwnerNetwork::ALL {
            assert_ne!(Lang::Fr.owner(o), Lang::En.owner(o));
        }
        for z in ZoneKind::ALL {
            assert_ne!(Lang::Fr.zone(z), Lang::En.zone(z));
        }
    }
}
