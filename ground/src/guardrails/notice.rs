//! The public information notice: what is filmed, where, why, how long it is
//! kept and whom to contact, from the authorisations in force, as Markdown
//! and HTML (the law requires the public to be informed of camera drones,
//! CSI art. L242-3).

use super::authorisation::Authorisation;
use super::retention::RetentionConfig;
use crate::config::NoticeConfig;

/// What the notice is made from.
#[derive(Debug, Clone)]
pub struct NoticeInput<'a> {
    /// Site name.
    pub site: &'a str,
    /// When the notice is generated, Unix milliseconds.
    pub now_ms: i64,
    /// Authorisations in force or to come (ended ones are left out).
    pub authorisations: &'a [Authorisation],
    /// Retention limits.
    pub retention: &'a RetentionConfig,
    /// IANA time zone the public reads times in (`Europe/Paris`).
    pub time_zone: &'a str,
    /// The data controller, the rights and the fixed video-protection's
    /// order.
    pub controller: &'a NoticeConfig,
    /// The municipality's fixed cameras by owner network, from the
    /// inventory: `(network, count)`.
    pub fixed_cameras: &'a [(String, usize)],
}

/// One block of the notice, rendered to both formats.
enum Block {
    Title(String),
    Heading(String),
    Para(String),
    Items(Vec<String>),
    /// A map of a perimeter (`[lon, lat]` ring): an SVG in HTML, a pointer
    /// to the coordinates in Markdown.
    Map(Vec<[f64; 2]>),
}

/// Area (hectares) and centre (`[lon, lat]`) of a `[lon, lat]` ring.
fn area_and_centre(ring: &[[f64; 2]]) -> (f64, [f64; 2]) {
    let n = ring.len().max(1) as f64;
    let c = ring
        .iter()
        .fold([0.0, 0.0], |a, p| [a[0] + p[0] / n, a[1] + p[1] / n]);
    let frame = crate::frame::LocalFrame::new(c[1], c[0]);
    let local: Vec<[f64; 2]> = ring
        .iter()
        .map(|p| {
            let (e, n) = frame.to_local(p[1], p[0]);
            [e, n]
        })
        .collect();
    let ring = crate::coverage::polygon::closed(local).unwrap_or_default();
    (
        crate::coverage::polygon::signed_area(&ring).abs() / 10_000.0,
        c,
    )
}

fn blocks(input: &NoticeInput<'_>) -> Vec<Block> {
    let tz = input.time_zone;
    let fr = |ms: i64| crate::time::words_fr(ms, tz);
    let en = |ms: i64| crate::time::words_en(ms, tz);
    let shown: Vec<&Authorisation> = input
        .authorisations
        .iter()
        .filter(|a| input.now_ms < a.end_ms())
        .collect();
    let c = input.controller;
    let or_unset = |v: &str, what: &str| {
        if v.trim().is_empty() {
            format!("[{what} : à renseigner dans la configuration, [notice]]")
        } else {
            v.trim().to_string()
        }
    };
    let mut out = vec![
        Block::Title(format!(
            "Information du public : vidéoprotection et caméras aéroportées — {}",
            input.site
        )),
        Block::Para(format!(
            "Notice établie le {} (heure locale, {tz}) à partir des autorisations préfectorales en vigueur ou à venir.",
            fr(input.now_ms)
        )),
        Block::Heading("Caméras aéroportées (drones)".into()),
    ];
    if shown.is_empty() {
        out.push(Block::Para(
            "Aucune captation d'images par drone n'est autorisée en ce moment sur ce site.".into(),
        ));
    }
    for a in &shown {
        let s = &a.spec;
        let order = if s.order_date.is_empty() {
            format!("arrêté préfectoral n° {}", s.order_ref)
        } else {
            // Noon UTC: the same calendar day in every zone the notice uses.
            let date = crate::plan::event::parse_time_s(&format!("{}T12:00:00Z", s.order_date))
                .map(|t| crate::time::date_fr(t * 1000, tz))
                .unwrap_or_else(|_| s.order_date.clone());
            format!("arrêté préfectoral n° {} du {date}", s.order_ref)
        };
        out.push(Block::Heading(format!(
            "Autorisation n° {} — {order}",
            a.id
        )));
        let (ha, centre) = area_and_centre(&s.perimeter);
        let place = if s.area.trim().is_empty() {
            format!(
                "le périmètre fixé par l'arrêté, d'environ {ha:.0} ha, centré sur {:.4}° N, {:.4}° E (carte ci-dessous, coordonnées en annexe)",
                centre[1], centre[0]
            )
        } else {
            format!(
                "{} (environ {ha:.0} ha ; carte ci-dessous, coordonnées en annexe)",
                s.area.trim().trim_end_matches('.')
            )
        };
        out.push(Block::Items(vec![
            format!("Décision : {order}, autorisant la captation d'images par drone."),
            format!(
                "Ce qui est filmé : images de la voie publique prises par au plus {} caméra(s) aéroportée(s) à la fois ; pas de son, pas de reconnaissance faciale ni d'identification biométrique, pas d'intérieur d'habitation ni de leurs entrées (zones masquées).",
                s.max_cameras
            ),
            format!("Où : {place}."),
            format!("Quand : du {} au {}.", fr(s.from_ms), fr(a.end_ms())),
            format!(
                "Pourquoi (article L242-5 du code de la sécurité intérieure, {}) : {}.",
                s.purpose.paragraph(),
                s.purpose.wording()
            ),
            format!("Service demandeur : {}.", s.service),
            format!(
                "Durée de conservation : {} jours après l'opération, sauf si les images sont utilisées dans une procédure judiciaire, administrative ou disciplinaire.",
                input.retention.drone_recordings_days
            ),
            format!(
                "Contact pour cette opération : {}.",
                if s.contact.trim().is_empty() {
                    s.service.as_str()
                } else {
                    s.contact.as_str()
                }
            ),
        ]));
        out.push(Block::Map(s.perimeter.clone()));
    }
    out.push(Block::Heading(
        "Vidéoprotection de la commune (caméras fixes)".into(),
    ));
    let total: usize = input.fixed_cameras.iter().map(|(_, n)| n).sum();
    if total == 0 {
        out.push(Block::Para(
            "Aucune caméra fixe n'est inscrite à l'inventaire de ce système.".into(),
        ));
    } else {
        let by: Vec<String> = input
            .fixed_cameras
            .iter()
            .map(|(net, n)| {
                let name = match net.as_str() {
                    "city" => "réseau de la ville",
                    "transit" => "transports publics",
                    "parking" => "parcs de stationnement",
                    "housing" => "bailleurs sociaux",
                    "private" => "lieux privés raccordés par convention",
                    other => other,
                };
                format!("{n} ({name})")
            })
            .collect();
        out.push(Block::Items(vec![
            format!(
                "{total} caméra(s) fixe(s) filment la voie publique : {}.",
                by.join(", ")
            ),
            format!(
                "Autorisation : {} (articles L251-2 et L252-1 du code de la sécurité intérieure).",
                or_unset(&c.video_protection_order, "arrêté préfectoral du système de vidéoprotection")
            ),
            format!(
                "Durée de conservation : {} jours au plus, sauf procédure judiciaire, administrative ou disciplinaire (article L252-5).",
                input.retention.fixed_video_days
            ),
            "Des panneaux signalent les lieux filmés. Les intérieurs d'habitation et leurs entrées sont masqués.".into(),
        ]));
    }
    out.push(Block::Heading(
        "Responsable du traitement et vos droits".into(),
    ));
    out.push(Block::Items(vec![
        format!(
            "Responsable du traitement : {}.",
            or_unset(&c.controller, "responsable du traitement")
        ),
        format!(
            "Délégué à la protection des données : {}.",
            or_unset(&c.dpo_contact, "contact du délégué à la protection des données")
        ),
        format!(
            "Vos droits : vous pouvez demander l'accès aux images qui vous concernent, leur effacement ou la limitation de leur traitement (loi n° 78-17 du 6 janvier 1978, titre III), dans la limite des durées de conservation ci-dessus, auprès de : {}.",
            or_unset(&c.rights_contact, "adresse où exercer ses droits")
        ),
        "Vous pouvez introduire une réclamation auprès de la CNIL (www.cnil.fr, 3 place de Fontenoy, 75007 Paris).".into(),
    ]));
    out.push(Block::Heading("Registre d'audit / Audit register".into()));
    out.push(Block::Para(
        "Chaque commande de drone, chaque recherche dans les images et chaque accès refusé au système est inscrit dans un registre d'audit signé, qui révèle toute modification ou suppression ; les accès refusés y sont comptés par origine (adresse réseau ou unité) et par minute. Vigie n'efface pas ce registre automatiquement : sa durée de conservation relève du responsable du traitement, qui l'archive et le purge selon les règles qui s'appliquent à lui.".into(),
    ));
    out.push(Block::Para(
        "Every drone command, every search in the footage and every refused access to the system is written to a signed audit register that reveals any change or removal; refused accesses are counted in it per origin (network address or unit) and minute. Vigie does not delete this register automatically: how long it is kept is for the data controller to decide, who archives and purges it under the rules that apply to them.".into(),
    ));
    out.push(Block::Heading("In English".into()));
    let mut english = Vec::new();
    for a in &shown {
        let s = &a.spec;
        english.push(format!(
            "Camera drones (at most {} at a time, no sound, no facial recognition, homes masked) may film the public way under prefectoral order no. {} from {} to {} ({tz} time), requested by {}; recordings are kept {} days at most.",
            s.max_cameras,
            s.order_ref,
            en(s.from_ms),
            en(a.end_ms()),
            s.service,
            input.retention.drone_recordings_days
        ));
    }
    if shown.is_empty() {
        english.push("No drone filming is authorised on this site at the moment.".into());
    }
    english.push(format!(
        "{total} fixed video-protection camera(s); their recordings are kept {} days at most.",
        input.retention.fixed_video_days
    ));
    english.push(format!(
        "Data controller: {}. To ask for access to, erasure or restriction of images of you: {}. You may complain to the CNIL (www.cnil.fr).",
        or_unset(&c.controller, "data controller"),
        or_unset(&c.rights_contact, "address for rights")
    ));
    out.push(Block::Items(english));
    if !shown.is_empty() {
        out.push(Block::Heading(
            "Annexe : coordonnées des périmètres (WGS84)".into(),
        ));
        for a in &shown {
            let perimeter: Vec<String> = a
                .spec
                .perimeter
                .iter()
                .map(|p| format!("{:.5}° N, {:.5}° E", p[1], p[0]))
                .collect();
            out.push(Block::Para(format!(
                "Autorisation n° {} : {}.",
                a.id,
                perimeter.join(" ; ")
            )));
        }
    }
    out
}

/// The perimeter as a small SVG map, north up, with a scale bar.
fn svg_map(ring: &[[f64; 2]]) -> String {
    if ring.len() < 3 {
        return String::new();
    }
    let (_, c) = area_and_centre(ring);
    let frame = crate::frame::LocalFrame::new(c[1], c[0]);
    let local: Vec<(f64, f64)> = ring.iter().map(|p| frame.to_local(p[1], p[0])).collect();
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in &local {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let span = (x1 - x0).max(y1 - y0).max(100.0);
    let s = 360.0 / span;
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let points: Vec<String> = local
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", 200.0 + (x - cx) * s, 200.0 - (y - cy) * s))
        .collect();
    let nice = [50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0]
        .into_iter()
        .fold(50.0, |a: f64, b: f64| {
            if (b - span / 4.0).abs() < (a - span / 4.0).abs() {
                b
            } else {
                a
            }
        });
    let label = if nice >= 1000.0 {
        format!("{} km", nice / 1000.0)
    } else {
        format!("{nice} m")
    };
    format!(
        "<figure><svg viewBox=\"0 0 400 420\" width=\"400\" height=\"420\" role=\"img\" aria-label=\"Carte du périmètre\"><rect width=\"400\" height=\"420\" fill=\"#f4f1ea\"/><polygon points=\"{}\" fill=\"#c0392b\" fill-opacity=\"0.25\" stroke=\"#c0392b\" stroke-width=\"2\"/><path d=\"M20,405 h{:.1}\" stroke=\"#222\" stroke-width=\"3\"/><text x=\"20\" y=\"397\" font-size=\"13\">{label}</text><text x=\"370\" y=\"25\" font-size=\"16\">N ↑</text></svg><figcaption>Périmètre autorisé (nord en haut). Fond de carte : aucun ; voir l'arrêté pour les voies qui le bordent.</figcaption></figure>\n",
        points.join(" "),
        nice * s
    )
}

/// The notice as Markdown.
pub fn markdown(input: &NoticeInput<'_>) -> String {
    let mut out = String::new();
    for b in blocks(input) {
        match b {
            Block::Title(t) => out.push_str(&format!("# {t}\n\n")),
            Block::Heading(t) => out.push_str(&format!("## {t}\n\n")),
            Block::Para(t) => out.push_str(&format!("{t}\n\n")),
            Block::Items(items) => {
                for i in items {
                    out.push_str(&format!("- {i}\n"));
                }
                out.push('\n');
            }
            Block::Map(_) => {
                out.push_str("(Carte du périmètre dans la version HTML de cette notice.)\n\n")
            }
        }
    }
    out
}

/// The page's style: readable printed and on a phone, in the sober look
/// of a public notice.
const STYLE: &str = "body{font-family:Marianne,Arial,Helvetica,sans-serif;color:#161616;background:#fff;margin:0;line-height:1.5}main{max-width:48rem;margin:0 auto;padding:1.5rem}h1{font-size:1.6rem;border-bottom:4px solid #000091;padding-bottom:.5rem}h2{font-size:1.2rem;color:#000091;margin-top:2rem}li{margin:.3rem 0}figure{margin:1rem 0}figcaption{font-size:.85rem;color:#555}svg{max-width:100%;height:auto;border:1px solid #ddd}@media print{main{max-width:none}h2{break-after:avoid}}";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The notice as a standalone HTML page.
pub fn html(input: &NoticeInput<'_>) -> String {
    let mut body = String::new();
    let mut title = String::new();
    for b in blocks(input) {
        match b {
            Block::Title(t) => {
                title = escape(&t);
                body.push_str(&format!("<h1>{title}</h1>\n"));
            }
            Block::Heading(t) => body.push_str(&format!("<h2>{}</h2>\n", escape(&t))),
            Block::Para(t) => body.push_str(&format!("<p>{}</p>\n", escape(&t))),
            Block::Items(items) => {
                body.push_str("<ul>\n");
                for i in items {
                    body.push_str(&format!("<li>{}</li>\n", escape(&i)));
                }
                body.push_str("</ul>\n");
            }
            Block::Map(ring) => body.push_str(&svg_map(&ring)),
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"fr\">\n<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\n<style>{STYLE}</style></head>\n<body><main>\n{body}</main></body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::super::authorisation::tests::square;
    use super::*;

    #[test]
    fn the_notice_says_what_where_why_how_long_and_whom_to_contact() {
        let mut ended = square(8, &[]);
        ended.ended_ms = Some(1200);
        let auths = vec![square(7, &["drone:a:1"]), ended];
        let cfg = RetentionConfig::default();
        let controller = NoticeConfig {
            controller: "Ville de Saint-Denis, représentée par son maire".into(),
            dpo_contact: "dpo@ville-saint-denis.fr".into(),
            rights_contact: "Hôtel de ville, 2 place Victor-Hugo, 93200 Saint-Denis".into(),
            video_protection_order: "arrêté préfectoral n° 2019-1234 du 3 mai 2019".into(),
        };
        let cameras = vec![("city".to_string(), 12)];
        let input = NoticeInput {
            site: "Stade de France",
            now_ms: 1500,
            authorisations: &auths,
            retention: &cfg,
            time_zone: "Europe/Paris",
            controller: &controller,
            fixed_cameras: &cameras,
        };
        let md = markdown(&input);
        assert!(
            md.contains("## Autorisation n° 7 — arrêté préfectoral n° 2026-07-14-093"),
            "{md}"
        );
        // Times in words, in Paris time (1970: UTC+1).
        assert!(md.contains("du jeudi 1er janvier 1970 à 1 h 00"), "{md}");
        assert!(!md.contains("1970-01-01T"), "{md}");
        // Controller, rights, the CNIL, the fixed video-protection.
        for words in [
            "Responsable du traitement : Ville de Saint-Denis",
            "dpo@ville-saint-denis.fr",
            "effacement",
            "CNIL",
            "12 caméra(s) fixe(s)",
            "arrêté préfectoral n° 2019-1234",
            "30 jours",
            "## In English",
        ] {
            assert!(md.contains(words), "no {words:?} in {md}");
        }
        assert!(
            !md.contains("n° 8"),
            "an ended authorisation is not announced: {md}"
        );
        assert!(md.contains("rassemblements de personnes"), "{md}");
        assert!(md.contains("7 jours"), "{md}");
        assert!(md.contains("ddsp93@interieur.gouv.fr"), "{md}");
        assert!(md.contains("48.91500° N, 2.35500° E"), "{md}");
        let page = html(&input);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<style>") && page.contains("<svg"), "{page}");
        assert!(page.contains("<polygon points="), "{page}");
        assert!(
            page.contains("<li>Service demandeur : DDSP 93.</li>"),
            "{page}"
        );
        assert!(page.contains("l&#39;") || page.contains("l'opération"));
        let none = NoticeInput {
            authorisations: &[],
            ..input
        };
        assert!(markdown(&none).contains("Aucune captation"));
        // How the audit register itself is kept, in French and English.
        assert!(md.contains("## Registre d'audit / Audit register"), "{md}");
        assert!(md.contains("comptés par origine"), "{md}");
        assert!(
            md.contains("Vigie does not delete this register automatically"),
            "{md}"
        );
    }
}
