//! The public information notice: what is filmed, where, why, how long it is
//! kept and whom to contact, from the authorisations in force, as Markdown
//! and HTML (the law requires the public to be informed of camera drones,
//! CSI art. L242-3).

use super::authorisation::Authorisation;
use super::retention::RetentionConfig;

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
}

/// One block of the notice, rendered to both formats.
enum Block {
    Title(String),
    Heading(String),
    Para(String),
    Items(Vec<String>),
}

fn blocks(input: &NoticeInput<'_>) -> Vec<Block> {
    let shown: Vec<&Authorisation> = input
        .authorisations
        .iter()
        .filter(|a| input.now_ms < a.end_ms())
        .collect();
    let mut out = vec![
        Block::Title(format!(
            "Information du public : caméras aéroportées — {}",
            input.site
        )),
        Block::Para(format!(
            "Notice établie le {} à partir des autorisations préfectorales en vigueur ou à venir.",
            crate::time::rfc3339(input.now_ms)
        )),
    ];
    if shown.is_empty() {
        out.push(Block::Para(
            "Aucune captation d'images par drone n'est autorisée en ce moment sur ce site.".into(),
        ));
    }
    for a in shown {
        let s = &a.spec;
        out.push(Block::Heading(format!(
            "Autorisation n° {} — {}",
            a.id, s.order_ref
        )));
        let perimeter: Vec<String> = s
            .perimeter
            .iter()
            .map(|p| format!("{:.5}° N, {:.5}° E", p[1], p[0]))
            .collect();
        out.push(Block::Items(vec![
            format!(
                "Ce qui est filmé : images de la voie publique prises par au plus {} caméra(s) aéroportée(s) à la fois ; pas de son, pas de reconnaissance faciale, pas d'intérieur d'habitation (zones masquées).",
                s.max_cameras
            ),
            format!("Où : le périmètre délimité par {}.", perimeter.join(" ; ")),
            format!(
                "Quand : du {} au {}.",
                crate::time::rfc3339(s.from_ms),
                crate::time::rfc3339(a.end_ms())
            ),
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
                "Contact, droit d'accès : {}.",
                if s.contact.trim().is_empty() {
                    s.service.as_str()
                } else {
                    s.contact.as_str()
                }
            ),
        ]));
    }
    out.push(Block::Heading("Registre d'audit / Audit register".into()));
    out.push(Block::Para(
        "Chaque commande de drone, chaque recherche dans les images et chaque accès refusé au système est inscrit dans un registre d'audit signé, qui révèle toute modification ou suppression ; les accès refusés y sont comptés par origine (adresse réseau ou unité) et par minute. Vigie n'efface pas ce registre automatiquement : sa durée de conservation relève du responsable du traitement, qui l'archive et le purge selon les règles qui s'appliquent à lui.".into(),
    ));
    out.push(Block::Para(
        "Every drone command, every search in the footage and every refused access to the system is written to a signed audit register that reveals any change or removal; refused accesses are counted in it per origin (network address or unit) and minute. Vigie does not delete this register automatically: how long it is kept is for the data controller to decide, who archives and purges it under the rules that apply to them.".into(),
    ));
    out.push(Block::Para(
        "Vous pouvez introduire une réclamation auprès de la CNIL (www.cnil.fr).".into(),
    ));
    out
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
        }
    }
    out
}

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
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"fr\">\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n{body}</body>\n</html>\n"
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
        let input = NoticeInput {
            site: "Stade de France",
            now_ms: 1500,
            authorisations: &auths,
            retention: &cfg,
        };
        let md = markdown(&input);
        assert!(md.contains("## Autorisation n° 7 — 2026-07-14-093"), "{md}");
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
