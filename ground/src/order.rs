//! What an order is, for every module that handles one: the patrol link
//! stores and delivers orders ([`crate::patrol::orders`] is the queue in
//! SQLite), dispatch issues them and follows their progress. Types only: no
//! storage, no I/O.

use vigie_protocols::tablet::AckKind;

/// How far a unit has got with an order, as the server last heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Stored, not yet acknowledged by the unit (resent on every new session).
    Pending,
    /// The tablet has it.
    Received,
    /// The unit takes it.
    Accepted,
    /// The unit cannot take it (ends the order).
    Refused,
    /// The unit is at the destination.
    Arrived,
    /// Done (ends the order).
    Closed,
    /// Taken back by the server (ends the order); the unit is told with
    /// `OrderWithdrawn` until it acknowledges.
    Withdrawn,
}

impl OrderState {
    /// Stable lower-case name, as stored and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Pending => "pending",
            OrderState::Received => "received",
            OrderState::Accepted => "accepted",
            OrderState::Refused => "refused",
            OrderState::Arrived => "arrived",
            OrderState::Closed => "closed",
            OrderState::Withdrawn => "withdrawn",
        }
    }

    /// The state named `s` (as [`OrderState::as_str`] writes it).
    pub fn parse(s: &str) -> Option<OrderState> {
        [
            OrderState::Pending,
            OrderState::Received,
            OrderState::Accepted,
            OrderState::Refused,
            OrderState::Arrived,
            OrderState::Closed,
            OrderState::Withdrawn,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Progress rank: an ack applies only if it raises the rank. Refused and
    /// closed both end an order.
    pub fn rank(self) -> u8 {
        match self {
            OrderState::Pending => 0,
            OrderState::Received => 1,
            OrderState::Accepted => 2,
            OrderState::Arrived => 3,
            OrderState::Refused | OrderState::Closed => 4,
            OrderState::Withdrawn => 5,
        }
    }

    /// The state an ack kind moves an order to; `None` for `UNSPECIFIED`.
    pub fn from_ack(kind: AckKind) -> Option<OrderState> {
        match kind {
            AckKind::Unspecified => None,
            AckKind::Received => Some(OrderState::Received),
            AckKind::Accepted => Some(OrderState::Accepted),
            AckKind::Refused => Some(OrderState::Refused),
            AckKind::Arrived => Some(OrderState::Arrived),
            AckKind::Closed => Some(OrderState::Closed),
            AckKind::Withdrawn => Some(OrderState::Withdrawn),
        }
    }
}

/// What an operator (or dispatch) asks of a unit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NewOrder {
    /// Incident the order answers, when there is one: in HTTP bodies the
    /// incident's integer id, as `/api/v1/incidents` gives it; kept as its
    /// decimal text, which is what the tablet's `Order.incident_id` carries.
    #[serde(default, with = "incident_ref")]
    pub incident_id: Option<String>,
    /// Destination latitude, degrees.
    pub lat_deg: f64,
    /// Destination longitude, degrees.
    pub lon_deg: f64,
    /// Urgency: `low`, `normal`, `high`, `critical`.
    #[serde(default = "default_priority")]
    pub priority: String,
    /// What to do there.
    #[serde(default)]
    pub instructions: String,
}

fn default_priority() -> String {
    "normal".into()
}

/// The protobuf `Priority` number of a priority name.
pub fn priority_number(name: &str) -> Option<i32> {
    match name {
        "low" => Some(1),
        "normal" | "" => Some(2),
        "high" => Some(3),
        "critical" => Some(4),
        _ => None,
    }
}

/// The name of a protobuf `Priority` number (`unspecified` for 0 and
/// numbers this version does not know).
pub fn priority_label(number: i32) -> &'static str {
    match number {
        1 => "low",
        2 => "normal",
        3 => "high",
        4 => "critical",
        _ => "unspecified",
    }
}

/// `incident_id` in JSON: an integer (the dispatch incident's id), kept as
/// decimal text. A string of digits is read too, for clients written
/// against the first version of the API; anything else is refused.
mod incident_ref {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match v.as_deref().map(|t| (t, t.parse::<u64>())) {
            None => s.serialize_none(),
            Some((_, Ok(n))) => s.serialize_u64(n),
            // Only orders stored before ids were checked can hold text.
            Some((t, Err(_))) => s.serialize_str(t),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Ref {
            Number(u64),
            Text(String),
        }
        match Option::<Ref>::deserialize(d)? {
            None => Ok(None),
            Some(Ref::Number(n)) => Ok(Some(n.to_string())),
            Some(Ref::Text(t)) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Some(t))
            }
            Some(Ref::Text(t)) => Err(serde::de::Error::custom(format!(
                "incident_id must be the integer id of an incident (as /api/v1/incidents gives it), not {t:?}"
            ))),
        }
    }
}

/// `priority` of an [`OrderRecord`] in JSON: its name; a number is read too.
mod priority_name {
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(super::priority_label(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum P {
            Number(i32),
            Name(String),
        }
        match P::deserialize(d)? {
            P::Number(n) => Ok(n),
            P::Name(name) => super::priority_number(&name).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "priority must be low, normal, high or critical, not {name:?}"
                ))
            }),
        }
    }
}

/// A stored order and its acknowledgement state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrderRecord {
    /// Server-unique id, the tablet's idempotency key.
    pub order_id: String,
    /// Unit the order is for.
    pub unit: String,
    /// Per-unit sequence number, increasing with issue order.
    pub seq: u64,
    /// Incident the order answers (an integer id in JSON, see
    /// [`NewOrder::incident_id`]).
    #[serde(default, with = "incident_ref")]
    pub incident_id: Option<String>,
    /// Destination latitude, degrees.
    pub lat_deg: f64,
    /// Destination longitude, degrees.
    pub lon_deg: f64,
    /// Urgency as the protobuf `Priority` number; in JSON its name (`low`,
    /// `normal`, `high`, `critical`), as `/api/v1/incidents` and
    /// [`NewOrder`] have it.
    #[serde(with = "priority_name")]
    pub priority: i32,
    /// What to do there.
    pub instructions: String,
    /// When it was issued, Unix ms.
    pub issued_ms: i64,
    /// Acknowledgement state.
    pub state: OrderState,
    /// When the state last changed, Unix ms.
    pub state_ms: i64,
    /// Reason given with a refusal or close, or why it was withdrawn.
    pub reason: Option<String>,
    /// When the unit acknowledged the withdrawal, Unix ms.
    #[serde(default)]
    pub withdraw_acked_ms: Option<i64>,
}

impl OrderRecord {
    /// The protobuf message sent to the tablet.
    pub fn to_proto(&self) -> vigie_protocols::tablet::Order {
        vigie_protocols::tablet::Order {
            order_id: self.order_id.clone(),
            seq: self.seq,
            incident_id: self.incident_id.clone().unwrap_or_default(),
            destination: Some(vigie_protocols::tablet::GeoPoint {
                lat_deg: self.lat_deg,
                lon_deg: self.lon_deg,
            }),
            priority: self.priority,
            instructions: self.instructions.clone(),
            issued_ms: self.issued_ms,
        }
    }

    /// The withdrawal message, for a withdrawn order.
    pub fn to_withdrawal(&self) -> vigie_protocols::tablet::OrderWithdrawn {
        vigie_protocols::tablet::OrderWithdrawn {
            order_id: self.order_id.clone(),
            reason: self.reason.clone().unwrap_or_default(),
            at_ms: self.state_ms,
        }
    }
}
