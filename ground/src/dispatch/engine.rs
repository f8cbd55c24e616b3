//! The dispatch core, without I/O: fed with `(now_ms, event)`, it returns
//! the [`Action`]s to carry out, in order, and says when it next needs to be
//! woken ([`Engine::poll_timeout`]).
//!
//! Time is Unix milliseconds rather than a monotonic instant because the
//! deadlines it keeps (resend, escalation) are derived from persisted times
//! and must survive a restart of the server.
//!
//! The edge ([`super::Dispatch`]) carries out actions strictly in order:
//! every `Save*` action is written to SQLite before the `Announce` that
//! follows it, and an `IssueOrder` is stored in the patrol link's order queue
//! before the edge feeds [`Event::OrderStored`] back. So nothing is announced
//! that a `kill -9` could lose.
//!
//! Rules:
//! - an incident at or above the auto-assign priority gets the best-ranked
//!   free patrols ordered at once; otherwise a dispatcher assigns;
//! - an order still `pending` (no ack at all) is handed to the unit's
//!   session again every `resend_after_ms`, and escalated to operators once
//!   `escalate_after_ms` after it was issued;
//! - a refusal replaces the refusing unit by the next free candidate not yet
//!   tried for this incident; when none is left, operators are told;
//! - the first `arrived` puts the incident on scene; when every order has
//!   ended and at least one was closed by its unit, the incident is closed;
//! - cancelling an incident withdraws its orders not yet ended, and a
//!   dispatcher ordering a unit busy with another open incident withdraws
//!   that order ([`Action::Withdraw`]): the unit is told and freed.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::incident::{Incident, Priority, Status};
use crate::order::{OrderRecord, OrderState};

/// Timing and policy the core applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Auto-assign incidents of at least this priority; `None`: never.
    pub auto_assign_min_priority: Option<Priority>,
    /// Units ordered by an automatic assignment.
    pub auto_assign_units: usize,
    /// Delay between hand-overs of an unacknowledged order, ms.
    pub resend_after_ms: i64,
    /// Delay after issue before an unacknowledged order is escalated, ms.
    pub escalate_after_ms: i64,
}

impl Rules {
    /// The rules of a `[dispatch]` configuration.
    pub fn from_config(cfg: &super::policy::DispatchConfig) -> Rules {
        Rules {
            auto_assign_min_priority: cfg.auto_assign_min_priority,
            auto_assign_units: cfg.auto_assign_units,
            resend_after_ms: i64::try_from(cfg.resend_after_ms).unwrap_or(i64::MAX),
            escalate_after_ms: i64::try_from(cfg.escalate_after_ms).unwrap_or(i64::MAX),
        }
    }
}

/// An order as dispatch follows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedOrder {
    /// The patrol link's order id.
    pub order_id: String,
    /// The incident it answers.
    pub incident_id: u64,
    /// The unit ordered.
    pub unit: String,
    /// Acknowledgement state, as last applied.
    pub state: OrderState,
    /// When it was stored, Unix ms.
    pub issued_ms: i64,
    /// First acknowledgement of any kind, Unix ms.
    pub first_ack_ms: Option<i64>,
    /// Last hand-over to the unit's session, Unix ms.
    #[serde(skip)]
    pub last_sent_ms: i64,
    /// Hand-overs after the first.
    pub resends: u32,
    /// When it was escalated to operators, Unix ms.
    pub escalated_ms: Option<i64>,
}

impl TrackedOrder {
    /// Whether the order has ended (refused or closed).
    pub fn is_over(&self) -> bool {
        matches!(
            self.state,
            OrderState::Refused | OrderState::Closed | OrderState::Withdrawn
        )
    }
}

/// Why operators are asked to step in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    /// The incident.
    pub incident_id: u64,
    /// The order concerned, when one is.
    pub order_id: Option<String>,
    /// The unit concerned, when one is.
    pub unit: Option<String>,
    /// What happened, for the operator to read.
    pub reason: String,
    /// When, Unix ms.
    pub at_ms: i64,
}

/// What operators are told, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// An incident was created or changed.
    Incident {
        /// Its state now.
        incident: Incident,
    },
    /// An order was issued or progressed.
    Order {
        /// Its state now.
        order: TrackedOrder,
    },
    /// Operators must step in.
    Escalation {
        /// Why.
        escalation: Escalation,
    },
    /// Who to send and what sees the spot (computed by the edge when the
    /// incident is reported).
    Suggestions {
        /// The incident.
        incident_id: u64,
        /// The suggestions.
        suggestions: super::suggest::Suggestions,
    },
}

/// Something the edge must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Write the incident's status, times and last transition.
    SaveIncident(Incident),
    /// Write an escalation.
    SaveEscalation(Escalation),
    /// Store an order for `unit` in the patrol link's queue (which hands it
    /// to the unit's session), then feed back [`Event::OrderStored`].
    IssueOrder {
        /// The incident.
        incident_id: u64,
        /// The unit.
        unit: String,
        /// Who decided (`dispatch` for the policy, `operator:NAME`).
        by: String,
    },
    /// Hand a pending order to the unit's session again.
    Resend {
        /// The order.
        order_id: String,
        /// Its unit.
        unit: String,
    },
    /// Take an order back: store the withdrawal in the patrol link's queue,
    /// which tells the unit (until it acknowledges).
    Withdraw {
        /// The order.
        order_id: String,
        /// Its unit.
        unit: String,
        /// Why, for the unit.
        reason: String,
    },
    /// Tell operators (only after the saves before it).
    Announce(Notice),
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An incident was stored; `candidates` are the free patrols, best first.
    Reported {
        /// The stored incident.
        incident: Incident,
        /// Ranked patrol unit ids.
        candidates: Vec<String>,
    },
    /// A dispatcher orders these units to the incident.
    Assign {
        /// The incident.
        incident_id: u64,
        /// The units.
        units: Vec<String>,
        /// Who (`operator:NAME`).
        by: String,
    },
    /// The patrol link stored an order asked for by [`Action::IssueOrder`].
    OrderStored {
        /// The incident.
        incident_id: u64,
        /// The unit.
        unit: String,
        /// The order id.
        order_id: String,
        /// When stored, Unix ms.
        issued_ms: i64,
    },
    /// The patrol link could not store an order asked for.
    OrderFailed {
        /// The incident.
        incident_id: u64,
        /// The unit.
        unit: String,
        /// Why, for operators.
        reason: String,
    },
    /// A unit's ack moved an order forward; `candidates` are the current
    /// free patrols for the incident, best first (used on refusal).
    OrderProgress {
        /// The order.
        order_id: String,
        /// Its new state.
        state: OrderState,
        /// Ranked patrol unit ids.
        candidates: Vec<String>,
    },
    /// A camera or drone sees the incident's spot.
    EyesOn {
        /// The incident.
        incident_id: u64,
    },
    /// An operator closes the incident.
    Close {
        /// The incident.
        incident_id: u64,
        /// Who (`operator:NAME`).
        by: String,
    },
    /// An operator cancels the incident.
    Cancel {
        /// The incident.
        incident_id: u64,
        /// Who.
        by: String,
    },
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No such incident.
    #[error("no incident {0}: GET /api/v1/incidents lists them")]
    UnknownIncident(u64),
    /// The incident is closed or cancelled.
    #[error("incident {0} is {1}: a closed or cancelled incident takes no more orders or changes")]
    Over(u64, &'static str),
    /// The lifecycle does not allow this move.
    #[error("incident {id} is {from}: it cannot become {to}")]
    BadTransition {
        /// The incident.
        id: u64,
        /// Status now.
        from: &'static str,
        /// Status asked.
        to: &'static str,
    },
    /// Nothing to assign.
    #[error("no unit to assign: name units, or ask for suggested ones when some are available")]
    NoUnits,
}

/// The dispatch core.
#[derive(Debug)]
pub struct Engine {
    /// Timing and policy.
    rules: Rules,
    /// Incidents by id (open ones, and the recent ones for figures).
    incidents: BTreeMap<u64, Incident>,
    /// Orders by id.
    orders: HashMap<String, TrackedOrder>,
    /// Order ids of each incident, in issue order.
    by_incident: HashMap<u64, Vec<String>>,
    /// Orders asked for ([`Action::IssueOrder`]) but not yet stored, per
    /// incident: keeps the same unit from being asked twice meanwhile.
    asked: HashMap<u64, Vec<String>>,
}

impl Engine {
    /// An empty core.
    pub fn new(rules: Rules) -> Engine {
        Engine {
            rules,
            incidents: BTreeMap::new(),
            orders: HashMap::new(),
            by_incident: HashMap::new(),
            asked: HashMap::new(),
        }
    }

    /// Rebuilds the core after a restart from stored incidents, their
    /// orders (the patrol link's queue is the truth for ack states) and the
    /// escalations already made. Returns the saves needed where an ack was
    /// stored but its effect on the incident was not (crash in between).
    pub fn restore(
        &mut self,
        now_ms: i64,
        incidents: Vec<Incident>,
        orders: Vec<OrderRecord>,
        escalated: &HashMap<String, i64>,
    ) -> Vec<Action> {
        for i in incidents {
            self.incidents.insert(i.id, i);
        }
        for o in orders {
            let Some(incident_id) = o.incident_id.as_deref().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if !self.incidents.contains_key(&incident_id) {
                continue;
            }
            let acked = o.state != OrderState::Pending;
            self.by_incident
                .entry(incident_id)
                .or_default()
                .push(o.order_id.clone());
            self.orders.insert(
                o.order_id.clone(),
                TrackedOrder {
                    incident_id,
                    unit: o.unit,
                    state: o.state,
                    issued_ms: o.issued_ms,
                    first_ack_ms: acked.then_some(o.state_ms),
                    last_sent_ms: now_ms,
                    resends: 0,
                    escalated_ms: escalated.get(&o.order_id).copied(),
                    order_id: o.order_id,
                },
            );
        }
        let mut out = Vec::new();
        let ids: Vec<u64> = self.incidents.keys().copied().collect();
        for id in ids {
            let orders: Vec<(OrderState, i64)> = self
                .orders_of(id)
                .map(|o| (o.state, o.first_ack_ms.unwrap_or(o.issued_ms)))
                .collect();
            let Some(inc) = self.incidents.get_mut(&id) else {
                continue;
            };
            let mut changed = false;
            if let Some(first) = orders.iter().map(|o| o.1).min()
                && inc.status == Status::New
            {
                changed |= inc.transition(Status::Dispatched, first, "dispatch");
            }
            if let Some(arrived) = orders
                .iter()
                .filter(|o| matches!(o.0, OrderState::Arrived | OrderState::Closed))
                .map(|o| o.1)
                .min()
                && inc.status == Status::Dispatched
            {
                changed |= inc.transition(Status::OnScene, arrived, "dispatch");
            }
            if changed {
                out.push(Action::SaveIncident(inc.clone()));
            }
        }
        out
    }

    /// An incident by id.
    pub fn incident(&self, id: u64) -> Option<&Incident> {
        self.incidents.get(&id)
    }

    /// Every incident the core holds, by id.
    pub fn incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.values()
    }

    /// The orders of an incident, in issue order.
    pub fn orders_of(&self, id: u64) -> impl Iterator<Item = &TrackedOrder> {
        self.by_incident
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|o| self.orders.get(o))
    }

    /// An order by id.
    pub fn order(&self, order_id: &str) -> Option<&TrackedOrder> {
        self.orders.get(order_id)
    }

    /// Units that may not be ordered to `incident_id`: already ordered to
    /// it, or busy with an order not yet ended for another open incident.
    pub fn excluded(&self, incident_id: u64) -> HashSet<String> {
        let mut out: HashSet<String> = self
            .orders
            .values()
            .filter(|o| {
                o.incident_id == incident_id
                    || (!o.is_over()
                        && self
                            .incidents
                            .get(&o.incident_id)
                            .is_some_and(|i| !i.status.is_final()))
            })
            .map(|o| o.unit.clone())
            .collect();
        for units in self.asked.values() {
            out.extend(units.iter().cloned());
        }
        out
    }

    /// Forgets final incidents last changed before `before_ms` (their
    /// orders too); they stay in the database.
    pub fn forget_before(&mut self, before_ms: i64) {
        let old: Vec<u64> = self
            .incidents
            .values()
            .filter(|i| {
                i.status.is_final() && i.transitions.last().is_some_and(|t| t.at_ms < before_ms)
            })
            .map(|i| i.id)
            .collect();
        for id in old {
            self.incidents.remove(&id);
            for o in self.by_incident.remove(&id).unwrap_or_default() {
                self.orders.remove(&o);
            }
        }
    }

    /// Handles one event at `now_ms`.
    pub fn handle(&mut self, now_ms: i64, event: Event) -> Result<Vec<Action>, EngineError> {
        let mut out = Vec::new();
        match event {
            Event::Reported {
                incident,
                candidates,
            } => {
                let id = incident.id;
                let auto = self
                    .rules
                    .auto_assign_min_priority
                    .is_some_and(|min| incident.report.priority >= min);
                out.push(Action::Announce(Notice::Incident {
                    incident: incident.clone(),
                }));
                self.incidents.insert(id, incident);
                if auto {
                    let n = self.rules.auto_assign_units;
                    let picked = self.pick(id, &candidates, n);
                    if picked.is_empty() {
                        self.escalate(
                            &mut out,
                            id,
                            None,
                            now_ms,
                            "automatic assignment found no free patrol",
                        );
                    }
                    for unit in picked {
                        self.ask(&mut out, id, unit, "dispatch");
                    }
                }
            }
            Event::Assign {
                incident_id,
                units,
                by,
            } => {
                self.open(incident_id)?;
                if units.is_empty() {
                    return Err(EngineError::NoUnits);
                }
                for unit in units {
                    let busy: Vec<String> = self
                        .orders
                        .values()
                        .filter(|o| o.unit == unit && o.incident_id != incident_id && !o.is_over())
                        .map(|o| o.order_id.clone())
                        .collect();
                    let reason = format!("reassigned to incident {incident_id}");
                    for order_id in busy {
                        self.withdraw(&mut out, &order_id, &reason);
                    }
                    self.ask(&mut out, incident_id, unit, &by);
                }
            }
            Event::OrderFailed {
                incident_id,
                unit,
                reason,
            } => {
                self.unask(incident_id, &unit);
                self.escalate(
                    &mut out,
                    incident_id,
                    None,
                    now_ms,
                    &format!("{unit}: {reason}"),
                );
            }
            Event::OrderStored {
                incident_id,
                unit,
                order_id,
                issued_ms,
            } => {
                self.unask(incident_id, &unit);
                let order = TrackedOrder {
                    order_id: order_id.clone(),
                    incident_id,
                    unit,
                    state: OrderState::Pending,
                    issued_ms,
                    first_ack_ms: None,
                    last_sent_ms: issued_ms,
                    resends: 0,
                    escalated_ms: None,
                };
                self.by_incident
                    .entry(incident_id)
                    .or_default()
                    .push(order_id.clone());
                self.orders.insert(order_id, order.clone());
                if let Some(inc) = self.incidents.get_mut(&incident_id)
                    && inc.transition(Status::Dispatched, issued_ms, "dispatch")
                {
                    out.push(Action::SaveIncident(inc.clone()));
                    out.push(Action::Announce(Notice::Incident {
                        incident: inc.clone(),
                    }));
                }
                out.push(Action::Announce(Notice::Order { order }));
            }
            Event::OrderProgress {
                order_id,
                state,
                candidates,
            } => self.progress(&mut out, now_ms, &order_id, state, &candidates),
            Event::EyesOn { incident_id } => {
                if let Some(inc) = self.incidents.get_mut(&incident_id)
                    && inc.eyes_on_ms.is_none()
                    && !inc.status.is_final()
                {
                    inc.eyes_on_ms = Some(now_ms);
                    out.push(Action::SaveIncident(inc.clone()));
                    out.push(Action::Announce(Notice::Incident {
                        incident: inc.clone(),
                    }));
                }
            }
            Event::Close { incident_id, by } => {
                self.operator_move(&mut out, now_ms, incident_id, Status::Closed, &by)?;
                // Every unit still on the incident is released: its order
                // is taken back (the tablet is told), so it is available
                // and suggested again.
                self.release(
                    &mut out,
                    incident_id,
                    &format!("incident {incident_id} closed"),
                );
            }
            Event::Cancel { incident_id, by } => {
                self.operator_move(&mut out, now_ms, incident_id, Status::Cancelled, &by)?;
                self.release(
                    &mut out,
                    incident_id,
                    &format!("incident {incident_id} cancelled"),
                );
            }
        }
        Ok(out)
    }

    /// Withdraws every order of `incident_id` not yet over, with `reason`.
    fn release(&mut self, out: &mut Vec<Action>, incident_id: u64, reason: &str) {
        let open: Vec<String> = self
            .orders_of(incident_id)
            .filter(|o| !o.is_over())
            .map(|o| o.order_id.clone())
            .collect();
        for order_id in open {
            self.withdraw(out, &order_id, reason);
        }
    }

    /// The next time [`Engine::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<i64> {
        self.orders
            .values()
            .filter(|o| self.waiting(o))
            .flat_map(|o| {
                let resend = o.last_sent_ms.saturating_add(self.rules.resend_after_ms);
                let escalate = o
                    .escalated_ms
                    .is_none()
                    .then(|| o.issued_ms.saturating_add(self.rules.escalate_after_ms));
                [Some(resend), escalate].into_iter().flatten()
            })
            .min()
    }

    /// Resends and escalates what is due at `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: i64) -> Vec<Action> {
        let mut out = Vec::new();
        let mut due: Vec<String> = self
            .orders
            .values()
            .filter(|o| self.waiting(o))
            .map(|o| o.order_id.clone())
            .collect();
        due.sort_by_key(|id| {
            self.orders
                .get(id)
                .map(|o| (o.issued_ms, o.order_id.clone()))
        });
        for id in due {
            let rules = &self.rules;
            let Some(o) = self.orders.get_mut(&id) else {
                continue;
            };
            let mut escalate = None;
            if o.escalated_ms.is_none()
                && now_ms >= o.issued_ms.saturating_add(rules.escalate_after_ms)
            {
                o.escalated_ms = Some(now_ms);
                escalate = Some((o.incident_id, o.unit.clone()));
            }
            if now_ms >= o.last_sent_ms.saturating_add(rules.resend_after_ms) {
                o.last_sent_ms = now_ms;
                o.resends += 1;
                out.push(Action::Resend {
                    order_id: id.clone(),
                    unit: o.unit.clone(),
                });
            }
            if let Some((incident_id, unit)) = escalate {
                let secs = self.rules.escalate_after_ms as f64 / 1000.0;
                let reason = format!("{unit} has not acknowledged its order after {secs:.0} s");
                self.escalate_order(&mut out, incident_id, &id, &unit, now_ms, reason);
            }
        }
        out
    }

    /// Whether `o` is still waiting for its first ack on an open incident.
    fn waiting(&self, o: &TrackedOrder) -> bool {
        o.state == OrderState::Pending
            && self
                .incidents
                .get(&o.incident_id)
                .is_some_and(|i| !i.status.is_final())
    }

    fn open(&self, id: u64) -> Result<&Incident, EngineError> {
        let inc = self
            .incidents
            .get(&id)
            .ok_or(EngineError::UnknownIncident(id))?;
        if inc.status.is_final() {
            return Err(EngineError::Over(id, inc.status.as_str()));
        }
        Ok(inc)
    }

    /// Up to `n` candidates that are neither tried for this incident nor
    /// busy elsewhere.
    fn pick(&self, incident_id: u64, candidates: &[String], n: usize) -> Vec<String> {
        let excluded = self.excluded(incident_id);
        candidates
            .iter()
            .filter(|c| !excluded.contains(*c))
            .take(n)
            .cloned()
            .collect()
    }

    fn ask(&mut self, out: &mut Vec<Action>, incident_id: u64, unit: String, by: &str) {
        self.asked
            .entry(incident_id)
            .or_default()
            .push(unit.clone());
        out.push(Action::IssueOrder {
            incident_id,
            unit,
            by: by.to_string(),
        });
    }

    fn unask(&mut self, incident_id: u64, unit: &str) {
        if let Some(asked) = self.asked.get_mut(&incident_id) {
            if let Some(i) = asked.iter().position(|u| u == unit) {
                asked.remove(i);
            }
            if asked.is_empty() {
                self.asked.remove(&incident_id);
            }
        }
    }

    fn escalate(
        &mut self,
        out: &mut Vec<Action>,
        incident_id: u64,
        order: Option<(&str, &str)>,
        now_ms: i64,
        reason: &str,
    ) {
        let e = Escalation {
            incident_id,
            order_id: order.map(|o| o.0.to_string()),
            unit: order.map(|o| o.1.to_string()),
            reason: reason.to_string(),
            at_ms: now_ms,
        };
        out.push(Action::SaveEscalation(e.clone()));
        out.push(Action::Announce(Notice::Escalation { escalation: e }));
    }

    fn escalate_order(
        &mut self,
        out: &mut Vec<Action>,
        incident_id: u64,
        order_id: &str,
        unit: &str,
        now_ms: i64,
        reason: String,
    ) {
        self.escalate(out, incident_id, Some((order_id, unit)), now_ms, &reason);
    }

    fn progress(
        &mut self,
        out: &mut Vec<Action>,
        now_ms: i64,
        order_id: &str,
        state: OrderState,
        candidates: &[String],
    ) {
        let Some(o) = self.orders.get_mut(order_id) else {
            return;
        };
        if o.is_over() || o.state == state {
            return;
        }
        o.state = state;
        if o.first_ack_ms.is_none() {
            o.first_ack_ms = Some(now_ms);
        }
        let order = o.clone();
        out.push(Action::Announce(Notice::Order {
            order: order.clone(),
        }));
        let id = order.incident_id;
        let Some(status) = self.incidents.get(&id).map(|i| i.status) else {
            return;
        };
        if status.is_final() {
            return;
        }
        let by = format!("unit:{}", order.unit);
        match state {
            OrderState::Refused => match self.pick(id, candidates, 1).pop() {
                Some(next) => self.ask(out, id, next, "dispatch"),
                None => {
                    let reason = format!(
                        "{} refused and no other free patrol is left to ask",
                        order.unit
                    );
                    self.escalate_order(out, id, order_id, &order.unit, now_ms, reason);
                }
            },
            OrderState::Arrived => {
                if let Some(inc) = self.incidents.get_mut(&id)
                    && inc.transition(Status::OnScene, now_ms, &by)
                {
                    out.push(Action::SaveIncident(inc.clone()));
                    out.push(Action::Announce(Notice::Incident {
                        incident: inc.clone(),
                    }));
                }
            }
            OrderState::Closed => {
                let all_over = self.orders_of(id).all(TrackedOrder::is_over);
                if all_over
                    && !self.asked.contains_key(&id)
                    && let Some(inc) = self.incidents.get_mut(&id)
                {
                    if inc.status == Status::Dispatched {
                        inc.transition(Status::OnScene, now_ms, &by);
                    }
                    if inc.transition(Status::Closed, now_ms, &by) {
                        out.push(Action::SaveIncident(inc.clone()));
                        out.push(Action::Announce(Notice::Incident {
                            incident: inc.clone(),
                        }));
                    }
                }
            }
            // Only the server withdraws (`Engine::withdraw`); a tablet's
            // ack of a withdrawal arrives on an order already over.
            OrderState::Pending
            | OrderState::Received
            | OrderState::Accepted
            | OrderState::Withdrawn => {}
        }
    }

    /// Withdraws an order not yet ended and tells operators.
    fn withdraw(&mut self, out: &mut Vec<Action>, order_id: &str, reason: &str) {
        let Some(o) = self.orders.get_mut(order_id) else {
            return;
        };
        if o.is_over() {
            return;
        }
        o.state = OrderState::Withdrawn;
        let order = o.clone();
        out.push(Action::Withdraw {
            order_id: order.order_id.clone(),
            unit: order.unit.clone(),
            reason: reason.to_string(),
        });
        out.push(Action::Announce(Notice::Order { order }));
    }

    fn operator_move(
        &mut self,
        out: &mut Vec<Action>,
        now_ms: i64,
        id: u64,
        to: Status,
        by: &str,
    ) -> Result<(), EngineError> {
        let inc = self
            .incidents
            .get_mut(&id)
            .ok_or(EngineError::UnknownIncident(id))?;
        let from = inc.status;
        if !inc.transition(to, now_ms, by) {
            return Err(EngineError::BadTransition {
                id,
                from: from.as_str(),
                to: to.as_str(),
            });
        }
        out.push(Action::SaveIncident(inc.clone()));
        out.push(Action::Announce(Notice::Incident {
            incident: inc.clone(),
        }));
        Ok(())
    }
}
